"""The table model of walkthrough scripts (导办脚本): title, matter, version, review flag."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from core.localstore.walkthroughs import WalkthroughInfo
from ui.models.base import RowTableModel

Index = QModelIndex | QPersistentModelIndex


class WalkthroughTableModel(RowTableModel):
    """One row per script version shown (the latest of each script, or every version)."""

    InfoRole = Qt.ItemDataRole.UserRole + 1
    COLUMNS = ("标题", "事项", "版本", "状态")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._all: list[WalkthroughInfo] = []
        self._rows: list[WalkthroughInfo] = []
        self._matter_names: dict[str, str] = {}
        self._show_history = False

    def set_walkthroughs(
        self, infos: list[WalkthroughInfo], matter_names: dict[str, str] | None = None
    ) -> None:
        self._all = list(infos)
        self._matter_names = dict(matter_names or {})
        self._rebuild()

    def set_show_history(self, show: bool) -> None:
        self._show_history = show
        self._rebuild()

    def _rebuild(self) -> None:
        self.beginResetModel()
        if self._show_history:
            rows = list(self._all)
        else:
            latest: dict[str, WalkthroughInfo] = {}
            for info in self._all:
                known = latest.get(info.walkthrough_id)
                if known is None or info.version > known.version:
                    latest[info.walkthrough_id] = info
            rows = list(latest.values())
        self._rows = sorted(rows, key=lambda i: (i.matter_code, i.title, -i.version))
        self.endResetModel()

    def info_at(self, row: int) -> WalkthroughInfo | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, key: str) -> int:
        for row, info in enumerate(self._rows):
            if info.key == key:
                return row
        return -1

    def matter_name(self, code: str) -> str:
        return self._matter_names.get(code, "")

    def latest_version(self, walkthrough_id: str) -> int:
        return max((i.version for i in self._all if i.walkthrough_id == walkthrough_id), default=0)

    def versions(self, walkthrough_id: str) -> list[WalkthroughInfo]:
        return sorted(
            (i for i in self._all if i.walkthrough_id == walkthrough_id), key=lambda i: i.version
        )

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        info = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return info.title
            if column == 1:
                return self._matter_names.get(info.matter_code) or info.matter_code
            if column == 2:
                return f"第 {info.version} 版"
            if column == 3:
                if info.needs_review:
                    return "⚠ 需复核"
                if info.version < self.latest_version(info.walkthrough_id):
                    return "历史版本"
                return "已发布"
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 1:
                return info.matter_code
            if column == 3 and info.needs_review:
                return info.review_note
        if role == Qt.ItemDataRole.ForegroundRole and column == 3 and info.needs_review:
            return QBrush(QColor("#e65100"))
        if role == self.InfoRole:
            return info
        return None
