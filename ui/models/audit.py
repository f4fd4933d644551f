"""The audit log as a Qt table (审计日志): one row per audit row, newest first."""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor

from core.audit import AuditRow
from ui.models.base import Index, RowTableModel
from ui.models.sessions import guarded

AuditRowRole = Qt.ItemDataRole.UserRole + 1

NOTABLE = QColor("#b3261e")
"""Actions a reader looks for first: failed sign-ins, reveals, refused pushes."""


def _notable(row: AuditRow) -> bool:
    return (
        row.action in ("auth.login_failed", "session.reveal", "audit.export")
        or row.detail.get("status") == "rejected"
    )


class AuditTableModel(RowTableModel):
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "时间",
        "操作人",
        "操作",
        "对象",
        "来源地址",
        "原因",
        "详情",
    )
    TIME, ACTOR, ACTION, TARGET, SOURCE, REASON, DETAIL = range(7)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[AuditRow] = []

    def set_rows(self, rows: list[AuditRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> AuditRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    @property
    def rows(self) -> list[AuditRow]:
        return list(self._rows)

    def _text(self, r: AuditRow, column: int) -> str:
        if column == self.TIME:
            return r.at.strftime("%Y-%m-%d %H:%M:%S")
        if column == self.ACTOR:
            return r.actor_text
        if column == self.ACTION:
            return r.label
        if column == self.TARGET:
            return r.target_text
        if column == self.SOURCE:
            return r.source_ip or ""
        if column == self.REASON:
            return r.reason or ""
        if column == self.DETAIL:
            return r.detail_text()
        return ""

    @guarded()
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        r = self.row_at(index.row())
        if r is None or not 0 <= index.column() < len(self.COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(r, index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            if index.column() == self.ACTION:
                return r.action
            text = self._text(r, index.column())
            return text or None
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == self.ACTION:
            return NOTABLE if _notable(r) else None
        if role == AuditRowRole:
            return r
        return None

    def index_of(self, audit_id: int) -> QModelIndex:
        for i, r in enumerate(self._rows):
            if r.id == audit_id:
                return self.index(i, 0)
        return QModelIndex()
