"""The list model of knowledge entries (search results)."""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from core.entities import KnowledgeEntry

Index = QModelIndex | QPersistentModelIndex


class KnowledgeListModel(QAbstractListModel):
    EntryRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[KnowledgeEntry] = []
        self.today = date.today

    def set_entries(self, entries: list[KnowledgeEntry]) -> None:
        self.beginResetModel()
        self._rows = list(entries)
        self.endResetModel()

    def entry_at(self, row: int) -> KnowledgeEntry | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        e = self._rows[index.row()]
        expired = e.is_expired(self.today())
        if role == Qt.ItemDataRole.DisplayRole:
            return f"【已失效】{e.title}" if expired else e.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{e.category}\n{e.issuing_unit} · {e.kind}"
        if role == Qt.ItemDataRole.ForegroundRole and expired:
            return QBrush(QColor("#9e9e9e"))
        if role == self.EntryRole:
            return e
        return None
