"""Qt item models of the session at hand: its timeline and its internal notes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from core.entities import SessionNote
from core.session_timeline import describe_event, when_text
from ui.models.sessions import guarded

Index = QModelIndex | QPersistentModelIndex
PENDING = QColor("#e65100")
SYSTEM = QColor("#616161")

EventRole = Qt.ItemDataRole.UserRole + 1
NoteRole = Qt.ItemDataRole.UserRole + 2
PendingRole = Qt.ItemDataRole.UserRole + 3


class TimelineModel(QAbstractListModel):
    """Every event of a session, oldest first: when, who, what and why."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._events: list[dict[str, Any]] = []
        self.today = date.today

    def set_events(self, events: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._events = [dict(e) for e in events]
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._events)

    @guarded()
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._events)):
            return None
        event = self._events[index.row()]
        pending = bool(event.get("pending"))
        if role == Qt.ItemDataRole.DisplayRole:
            who = event.get("actor_name") or "系统"
            text = f"{when_text(event.get('at'), self.today())}  {who}  {describe_event(event)}"
            return f"{text}（待同步）" if pending else text
        if role == Qt.ItemDataRole.ToolTipRole:
            at = event.get("at")
            try:
                stamp = datetime.fromisoformat(str(at)).strftime("%Y-%m-%d %H:%M:%S")
            except ValueError:
                stamp = str(at or "")
            return f"{stamp}{'，尚未同步到服务器' if pending else ''}"
        if role == Qt.ItemDataRole.ForegroundRole:
            if pending:
                return QBrush(PENDING)
            if not event.get("actor_id"):
                return QBrush(SYSTEM)
            return None
        if role == EventRole:
            return event
        if role == PendingRole:
            return pending
        return None


class NotesModel(QAbstractListModel):
    """Internal notes (内部备注), oldest first; notes waiting to sync are marked."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._notes: list[tuple[SessionNote, bool]] = []
        self.today = date.today

    def set_notes(self, notes: list[tuple[SessionNote, bool]]) -> None:
        self.beginResetModel()
        self._notes = list(notes)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._notes)

    @guarded()
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._notes)):
            return None
        note, pending = self._notes[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            head = f"{note.author_name or '（未知）'}  {when_text(note.created_at, self.today())}"
            if pending:
                head += "（待同步）"
            return f"{head}\n{note.text}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return note.created_at.strftime("%Y-%m-%d %H:%M:%S")
        if role == Qt.ItemDataRole.ForegroundRole and pending:
            return QBrush(PENDING)
        if role == NoteRole:
            return note
        if role == PendingRole:
            return pending
        return None
