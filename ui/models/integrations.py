"""Integration keys and callback deliveries as Qt tables (对接系统, the admins' page)."""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from ui.models.base import Index, RowTableModel
from ui.models.sessions import guarded

RowRole = Qt.ItemDataRole.UserRole + 1
REVOKED = QColor("#8a8a8a")
FAILING = QColor("#b3261e")

KIND_WORDS = {
    "session.accepted": "已接入",
    "session.escalated": "已转办",
    "session.callback": "待回电",
    "session.closed": "已办结",
    "session.rated": "已评价",
}


def _when(text: Any) -> str:
    return str(text or "").replace("T", " ")[:16]


class _DictTable(RowTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._rows = [dict(r) for r in rows]
        self.endResetModel()

    def row_at(self, row: int) -> dict[str, Any] | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def _text(self, r: dict[str, Any], column: int) -> str:  # pragma: no cover - overridden
        return ""

    def _colour(self, r: dict[str, Any]) -> QColor | None:
        return None

    @guarded()
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        r = self.row_at(index.row())
        if r is None or not 0 <= index.column() < len(self.COLUMNS):
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._text(r, index.column()) or None
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._colour(r)
        if role == RowRole:
            return r
        return None


class ApiKeyTableModel(_DictTable):
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "名称",
        "密钥编号",
        "密钥开头",
        "班组",
        "回调地址",
        "状态",
        "最近使用",
    )

    def _text(self, r: dict[str, Any], column: int) -> str:
        if column == 0:
            return str(r.get("name", ""))
        if column == 1:
            return str(r.get("id", ""))
        if column == 2:
            return f"{r.get('key_prefix', '')}…"
        if column == 3:
            return "、".join(r.get("team_ids") or [])
        if column == 4:
            return str(r.get("callback_url") or "（无回调）")
        if column == 5:
            return f"已吊销（{_when(r['revoked_at'])}）" if r.get("revoked_at") else "有效"
        if column == 6:
            return _when(r.get("last_used_at")) or "从未使用"
        return ""

    def _colour(self, r: dict[str, Any]) -> QColor | None:
        return REVOKED if r.get("revoked_at") else None


class WebhookTableModel(_DictTable):
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "编号",
        "事件",
        "会话",
        "尝试次数",
        "最近错误",
        "下次尝试",
        "产生时间",
    )

    def _text(self, r: dict[str, Any], column: int) -> str:
        if column == 0:
            return str(r.get("id", ""))
        if column == 1:
            kind = str(r.get("kind", ""))
            return KIND_WORDS.get(kind, kind)
        if column == 2:
            return str(r.get("session_id", ""))
        if column == 3:
            return str(r.get("attempts", 0))
        if column == 4:
            return str(r.get("last_error") or "")
        if column == 5:
            return _when(r.get("next_attempt_at")) if r.get("state") == "pending" else "已送达"
        if column == 6:
            return _when(r.get("created_at"))
        return ""

    def _colour(self, r: dict[str, Any]) -> QColor | None:
        return FAILING if r.get("state") == "pending" and r.get("attempts") else None
