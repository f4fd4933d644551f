"""The knowledge pane: search the local cache, read an entry, read a matter guide."""

from __future__ import annotations

import html
from datetime import date

from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListView,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.entities import KnowledgeEntry
from ui.models.knowledge import KnowledgeListModel


class KnowledgePane(QWidget):
    search_requested = Signal(str)
    entry_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = KnowledgeListModel(self)
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr("搜索政策问答，如：社保、公积金提取、gjj"))
        self.search.setClearButtonEnabled(True)
        self.count = QLabel()
        self.count.setStyleSheet("color: #757575;")
        self.results = QListView()
        self.results.setModel(self.model)
        self.results.setUniformItemSizes(True)
        self.results.selectionModel().selectionChanged.connect(self._on_results_selection_changed)
        self.view = QTextBrowser()
        self.view.setPlaceholderText(self.tr("选择一条问答查看内容"))

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._emit_search)
        self.search.textChanged.connect(lambda _text: self._debounce.start())

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.search)
        left_layout.addWidget(self.count)
        left_layout.addWidget(self.results)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.view)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(splitter)

    def _emit_search(self) -> None:
        self.search_requested.emit(self.search.text().strip())

    def set_results(self, entries: list[KnowledgeEntry], total: int | None = None) -> None:
        self.model.set_entries(entries)
        if total is None:
            total = len(entries)
        self.count.setText(self.tr("共 {0} 条").format(total))

    def _on_results_selection_changed(self, _sel: QItemSelection, _old: QItemSelection) -> None:
        rows = self.results.selectionModel().selectedRows()
        if rows:
            entry = self.model.entry_at(rows[0].row())
            if entry is not None:
                self.show_entry(entry)
                self.entry_selected.emit(entry.id)

    def show_entry(self, entry: KnowledgeEntry) -> None:
        e = html.escape
        expired = entry.is_expired(date.today())
        banner = (
            "<p style='background:#fde0dc;color:#b3261e;padding:6px'>"
            f"本条政策已于 {entry.expiry_date} 失效，仅供参考</p>"
            if expired
            else ""
        )
        answer = "<br>".join(e(line) for line in entry.answer.splitlines())
        meta = [
            ("类目", entry.category),
            ("发文单位", entry.issuing_unit),
            ("材料性质", entry.kind),
            ("来源", entry.source),
            ("版本", f"第 {entry.version} 版"),
            ("生效日期", str(entry.effective_date or "—")),
            ("失效日期", str(entry.expiry_date or "长期有效")),
        ]
        rows = "".join(
            f"<tr><td style='color:#616161'>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in meta
        )
        self.view.setHtml(f"{banner}<h3>{e(entry.title)}</h3><p>{answer}</p><table>{rows}</table>")
