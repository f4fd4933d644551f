"""Item models of the knowledge pane: search results and matter guides (办事指南)."""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from core.entities import KnowledgeEntry, MatterGuide
from core.search import SearchHit, SearchResult
from core.search.pinyin import initials

Index = QModelIndex | QPersistentModelIndex

EXPIRED_COLOUR = "#b3261e"


def service_label(value: str) -> str:
    from core.enums import ServiceType

    try:
        return ServiceType(value).label
    except ValueError:
        return value


class KnowledgeResultsModel(QAbstractListModel):
    """The hits of one search, best first (expired entries last, marked)."""

    HitRole = Qt.ItemDataRole.UserRole + 1
    EntryRole = Qt.ItemDataRole.UserRole + 2
    TitleHtmlRole = Qt.ItemDataRole.UserRole + 3
    SnippetHtmlRole = Qt.ItemDataRole.UserRole + 4
    MetaRole = Qt.ItemDataRole.UserRole + 5
    ExpiredRole = Qt.ItemDataRole.UserRole + 6

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._hits: list[SearchHit] = []
        self.result: SearchResult | None = None
        self.today = date.today

    def set_result(self, result: SearchResult | None) -> None:
        self.beginResetModel()
        self.result = result
        self._hits = list(result.hits) if result is not None else []
        self.endResetModel()

    def hit_at(self, row: int) -> SearchHit | None:
        return self._hits[row] if 0 <= row < len(self._hits) else None

    def entry_at(self, row: int) -> KnowledgeEntry | None:
        hit = self.hit_at(row)
        return hit.entry if hit is not None else None

    def row_of(self, entry_id: str) -> int:
        for row, hit in enumerate(self._hits):
            if hit.entry.id == entry_id:
                return row
        return -1

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._hits)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._hits)):
            return None
        hit = self._hits[index.row()]
        entry = hit.entry
        if role == Qt.ItemDataRole.DisplayRole:
            return f"【已失效】{entry.title}" if hit.expired else entry.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{entry.category}\n{entry.issuing_unit} · {entry.kind}"
        if role == Qt.ItemDataRole.ForegroundRole and hit.expired:
            return QBrush(QColor("#9e9e9e"))
        if role == Qt.ItemDataRole.AccessibleDescriptionRole:
            return hit.snippet
        if role == self.HitRole:
            return hit
        if role == self.EntryRole:
            return entry
        if role == self.TitleHtmlRole:
            return hit.title_html()
        if role == self.SnippetHtmlRole:
            return hit.snippet_html()
        if role == self.MetaRole:
            return meta_line(entry, hit.expired)
        if role == self.ExpiredRole:
            return hit.expired
        return None


def meta_line(entry: KnowledgeEntry, expired: bool) -> str:
    """部门 · 类型 · 服务 · 版本, and the expiry when there is one."""
    parts = [entry.department, entry.kind, service_label(entry.service_type)]
    parts.append(f"第 {entry.version} 版")
    if entry.expiry_date is not None:
        parts.append(f"{'已于' if expired else ''}{entry.expiry_date} 失效")
    return " · ".join(p for p in parts if p)


class MatterListModel(QAbstractListModel):
    """Matters (事项) whose 办事指南 is cached, by department then name (pinyin order)."""

    GuideRole = Qt.ItemDataRole.UserRole + 1
    CodeRole = Qt.ItemDataRole.UserRole + 2
    SearchTextRole = Qt.ItemDataRole.UserRole + 3

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[MatterGuide] = []

    def set_matters(self, matters: list[MatterGuide]) -> None:
        self.beginResetModel()
        # In pinyin order, as a Chinese reader expects (code points scatter them).
        self._rows = sorted(
            matters,
            key=lambda m: (initials(m.department), m.department, initials(m.name), m.name),
        )
        self.endResetModel()

    def guide_at(self, row: int) -> MatterGuide | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, code: str) -> int:
        for row, guide in enumerate(self._rows):
            if guide.code == code:
                return row
        return -1

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        guide = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return guide.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{guide.department}（{guide.code}）"
        if role == self.GuideRole:
            return guide
        if role == self.CodeRole:
            return guide.code
        if role == self.SearchTextRole:
            return f"{guide.name} {guide.department} {guide.code}"
        return None


class MatterFilterModel(QSortFilterProxyModel):
    """Matters whose name, department or code contains the typed text."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setFilterRole(MatterListModel.SearchTextRole)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def set_text(self, text: str) -> None:
        self.setFilterFixedString(text.strip())
