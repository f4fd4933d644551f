"""The table model of sessions (queues and my sessions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from core.entities import Session
from core.enums import Channel, ServiceType, SessionState
from core.masking import mask_phone

Index = QModelIndex | QPersistentModelIndex


def waited_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}秒"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}分{seconds % 60:02d}秒"
    return f"{minutes // 60}小时{minutes % 60}分"


class SessionTableModel(QAbstractTableModel):
    """Rows of :class:`core.entities.Session`, newest first, with masked phone numbers."""

    COLUMNS = ("状态", "来电人", "电话", "渠道", "服务", "诉求", "创建时间", "等待")
    SessionRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None, *, first_response_seconds: int = 60) -> None:
        super().__init__(parent)
        self._rows: list[Session] = []
        self._matter_names: dict[str, str] = {}
        self.first_response_seconds = first_response_seconds
        self.now = datetime.now

    def set_sessions(
        self, sessions: list[Session], matter_names: dict[str, str] | None = None
    ) -> None:
        self.beginResetModel()
        self._rows = list(sessions)
        if matter_names is not None:
            self._matter_names = matter_names
        self.endResetModel()

    def session_at(self, row: int) -> Session | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, session_id: str) -> int:
        for i, s in enumerate(self._rows):
            if s.id == session_id:
                return i
        return -1

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if role == Qt.ItemDataRole.DisplayRole and horizontal and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section]
        return None

    def tick(self) -> None:
        """Waiting times moved on: repaint the columns that show them."""
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._rows) - 1, len(self.COLUMNS) - 1)
            )

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        s = self._rows[index.row()]
        column = index.column()
        if role == self.SessionRole:
            return s
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, column)
        if role == Qt.ItemDataRole.ToolTipRole and column == 5:
            return s.summary
        if role == Qt.ItemDataRole.BackgroundRole and s.state == SessionState.WAITING:
            waited = (self.now() - s.created_at).total_seconds()
            if waited >= self.first_response_seconds:
                return QBrush(QColor("#fde0dc"))
            if waited >= self.first_response_seconds * 0.75:
                return QBrush(QColor("#fff3cd"))
        return None

    def _display(self, s: Session, column: int) -> str:
        if column == 0:
            return SessionState(s.state).label
        if column == 1:
            return s.caller_name or "（未留姓名）"
        if column == 2:
            return mask_phone(s.caller_phone)
        if column == 3:
            return Channel(s.channel).label
        if column == 4:
            service = ServiceType(s.service_type).label
            matter = self._matter_names.get(s.matter_code or "", "")
            return f"{service}·{matter}" if matter else service
        if column == 5:
            return s.summary.replace("\n", " ")
        if column == 6:
            return (
                s.created_at.strftime("%H:%M")
                if s.created_at.date() == self.now().date()
                else s.created_at.strftime("%m-%d %H:%M")
            )
        if column == 7:
            if s.state != SessionState.WAITING:
                return ""
            return waited_text((self.now() - s.created_at).total_seconds())
        return ""
