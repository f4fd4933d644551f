"""The knowledge pane: search the local cache as you type, read an entry, copy its
answer, report a problem (纠错 / 新问题), and read the matters' guides (办事指南).

The pane is self-contained: it asks a :class:`ui.knowledge_backend.KnowledgeBackend`
(searches run on the database worker) and tells the window what the person wants
by signals, so the same widget serves as a page of its own and as a tool beside a
session (``answer_insert_requested`` puts an answer with its source into a note).

Typing never waits for a search: keystrokes restart a short timer; when it fires the
search is queued on the database worker, at most one at a time, and a result that
no longer matches what is typed is dropped.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from dataclasses import dataclass
from datetime import date

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QRectF,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QDesktopServices,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPalette,
    QShortcut,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.entities import KnowledgeEntry, MatterGuide
from core.enums import ServiceType
from core.search import Facets, SearchFilters, SearchResult, highlight_entry, to_html
from ui.dialogs.knowledge_dialogs import KnowledgeFeedbackDialog
from ui.knowledge_backend import KnowledgeBackend, MatterView
from ui.models.knowledge import (
    EXPIRED_COLOUR,
    KnowledgeResultsModel,
    MatterFilterModel,
    MatterListModel,
    meta_line,
    service_label,
)
from ui.tasks import owned_slot, spawn

log = logging.getLogger(__name__)

Index = QModelIndex | QPersistentModelIndex

MARK = "<b style='color:#c62828'>"
PAGE = 50
MAX_SHOWN = 500
_LIST_LINE = re.compile(r"^\s*(\d+[.、．)]|（[一二三四五六七八九十]+）|[一二三四五六七八九十]+、)")


# -- text for the person ---------------------------------------------------------------------


def answer_html(entry: KnowledgeEntry, spans: list[tuple[int, int]]) -> str:
    """The answer as rich text: one paragraph a line, numbered lines indented, the
    query's words marked."""
    marked = to_html(entry.answer, spans, mark=MARK).split("\n")
    plain = entry.answer.split("\n")
    out = []
    for line, raw in zip(marked, plain, strict=True):
        if not raw.strip():
            continue
        indent = "margin-left:16px;" if _LIST_LINE.match(raw) else ""
        out.append(f"<p style='margin:3px 0;{indent}'>{line}</p>")
    return "".join(out)


def entry_html(
    entry: KnowledgeEntry,
    query: str,
    today: date,
    matter_name: str | None = None,
) -> str:
    """The entry view: expiry banner, title, answer, and where it comes from."""
    e = html.escape
    title_spans, answer_spans = highlight_entry(entry, query)
    expired = entry.is_expired(today)
    banner = ""
    if expired:
        banner = (
            f"<p style='background:#fde0dc;color:{EXPIRED_COLOUR};padding:6px;"
            "font-weight:600'>"
            f"本条政策已于 {e(str(entry.expiry_date))} 失效，仅供参考，"
            "请勿直接据此答复群众。</p>"
        )
    elif entry.expiry_date is not None:
        banner = (
            "<p style='background:#fff4e5;color:#8a4b00;padding:6px'>"
            f"本条政策有效期至 {e(str(entry.expiry_date))}。</p>"
        )
    matter = ""
    if entry.matter_code:
        name = matter_name or entry.matter_code
        matter = f"<a href='matter:{e(entry.matter_code)}'>{e(name)}</a>"
    rows = [
        ("发文单位", e(entry.issuing_unit)),
        ("来源", e(entry.source)),
        ("版本", f"第 {entry.version} 版"),
        ("生效日期", e(str(entry.effective_date or "—"))),
        (
            "失效日期",
            f"<span style='color:{EXPIRED_COLOUR}'>{e(str(entry.expiry_date))}（已失效）</span>"
            if expired
            else e(str(entry.expiry_date or "长期有效")),
        ),
        ("材料性质", e(entry.kind)),
        ("适用范围", e(" · ".join(p for p in (entry.scope, entry.region) if p))),
        ("类目", e(entry.category)),
        ("所属事项", matter),
    ]
    table = "".join(
        f"<tr><td style='color:#616161;padding:2px 10px 2px 0;white-space:nowrap'>{k}</td>"
        f"<td style='padding:2px 0'>{v}</td></tr>"
        for k, v in rows
        if v
    )
    title = to_html(entry.title, title_spans, mark=MARK)
    colour = "#9e9e9e" if expired else "#1a1a1a"
    sub = e(" · ".join(p for p in (entry.department, service_label(entry.service_type)) if p))
    return (
        f"{banner}<h3 style='color:{colour};margin-bottom:2px'>{title}</h3>"
        f"<p style='color:#757575;margin-top:0'>{sub}</p>"
        f"{answer_html(entry, answer_spans)}"
        f"<hr><table>{table}</table>"
    )


def copy_text(entry: KnowledgeEntry, today: date) -> str:
    """The answer as plain text for a chat window or a text message."""
    parts = []
    if entry.is_expired(today):
        parts.append(f"【注意：本政策已于{entry.expiry_date}失效，仅供参考】")
    parts.append(entry.answer.strip())
    if entry.issuing_unit:
        parts.append(f"（来源：{entry.issuing_unit}）")
    return "\n".join(parts)


def guide_html(view: MatterView, today: date) -> str:
    """办事指南 of one matter, with the knowledge entries of that matter as links."""
    e = html.escape
    guide = view.guide

    def items(values: list[str], ordered: bool = False) -> str:
        if not values:
            return "<p>—</p>"
        tag = "ol" if ordered else "ul"
        return f"<{tag}>" + "".join(f"<li>{e(v)}</li>" for v in values) + f"</{tag}>"

    materials = "".join(
        "<tr>"
        f"<td style='padding:3px 8px 3px 0'>{e(str(m.get('name', '')))}</td>"
        f"<td style='padding:3px 8px'>{e(str(m.get('form') or '—'))}</td>"
        f"<td style='padding:3px 8px' align='center'>{e(str(m.get('count') or 1))}</td>"
        f"<td style='padding:3px 8px'>{'必交' if m.get('required', True) else '视情况'}</td>"
        f"<td style='padding:3px 0;color:#616161'>{e(str(m.get('note') or ''))}</td>"
        "</tr>"
        for m in guide.materials
    )
    if materials:
        materials = (
            "<table cellspacing='0'><tr style='color:#616161'>"
            "<td style='padding:3px 8px 3px 0'>材料</td><td style='padding:3px 8px'>形式</td>"
            "<td style='padding:3px 8px'>份数</td><td style='padding:3px 8px'>要求</td>"
            "<td>说明</td></tr>" + materials + "</table>"
        )
    else:
        materials = "<p>—</p>"
    limit = guide.time_limit_text or (
        f"{guide.time_limit_days} 个工作日" if guide.time_limit_days else "即办"
    )
    online = (
        f"<a href='{e(guide.online_entry)}'>{e(guide.online_entry)}</a>"
        if guide.online_entry
        else "—"
    )
    services = "、".join(service_label(s) for s in guide.service_types) or "—"
    facts = [
        ("实施部门", e(guide.department)),
        ("服务方式", e(services)),
        ("办理时限", e(limit)),
        ("收费", e(guide.fee or "不收费")),
        ("办理地点", e(guide.place or "—")),
        ("网上办理", online),
        ("办公时间", e(guide.hours or "—")),
        ("咨询电话", e(guide.contact or "—")),
    ]
    table = "".join(
        f"<tr><td style='color:#616161;padding:2px 10px 2px 0;white-space:nowrap'>{k}</td>"
        f"<td style='padding:2px 0'>{v}</td></tr>"
        for k, v in facts
    )
    entries = "".join(
        f"<li><a href='kb:{e(entry.id)}'>{e(entry.title)}</a>"
        + (
            f" <span style='color:{EXPIRED_COLOUR}'>（已失效）</span>"
            if entry.is_expired(today)
            else ""
        )
        + "</li>"
        for entry in view.entries
    )
    return (
        f"<h3 style='margin-bottom:2px'>{e(guide.name)}</h3>"
        f"<p style='color:#757575;margin-top:0'>"
        f"事项编码 {e(guide.code)} · 第 {guide.version} 版</p>"
        + (f"<p>{e(guide.summary)}</p>" if guide.summary else "")
        + f"<table>{table}</table>"
        + "<h4>受理条件</h4>"
        + items(guide.conditions)
        + "<h4>申请材料</h4>"
        + materials
        + "<h4>办理流程</h4>"
        + items(guide.steps, ordered=True)
        + "<h4>设定依据</h4>"
        + items(guide.legal_basis)
        + f"<h4>相关问答（{len(view.entries)}）</h4>"
        + (f"<ul>{entries}</ul>" if entries else "<p>本机暂无该事项的问答。</p>")
    )


# -- the results list ------------------------------------------------------------------------


class HitDelegate(QStyledItemDelegate):
    """Draws a hit as rich text: the title with the matched words marked (and a
    失效 tag), a line of facts, and the answer's snippet around the match."""

    PADDING = 6

    def __init__(self, parent: QWidget | None = None, *, compact: bool = False) -> None:
        super().__init__(parent)
        self._heights: dict[str, int] = {}
        self.compact = compact
        """Beside a session: the title and one line of the snippet, no facts line, so
        that six and more hits show in the narrow tools area at 1366×768."""

    def _document(self, option: QStyleOptionViewItem, index: Index) -> QTextDocument:
        expired = bool(index.data(KnowledgeResultsModel.ExpiredRole))
        tag = (
            f"<span style='color:white;background:{EXPIRED_COLOUR}'>&nbsp;已失效&nbsp;</span> "
            if expired
            else ""
        )
        colour = "#9e9e9e" if expired else "#1a1a1a"
        title = index.data(KnowledgeResultsModel.TitleHtmlRole) or ""
        meta = html.escape(index.data(KnowledgeResultsModel.MetaRole) or "")
        snippet = index.data(KnowledgeResultsModel.SnippetHtmlRole) or ""
        doc = QTextDocument()
        doc.setDefaultFont(option.font)
        doc.setDocumentMargin(0)
        facts = "" if self.compact else f"<div style='color:#757575'>{meta}</div>"
        doc.setHtml(
            f"<div style='color:{colour};font-weight:600'>{tag}{title}</div>"
            f"{facts}"
            f"<div style='color:#424242'>{snippet}</div>"
        )
        doc.setTextWidth(max(80, option.rect.width() - 2 * self.PADDING))
        return doc

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        painter.save()
        if opt.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(opt.rect, QColor("#dbe9fb"))
        elif opt.state & QStyle.StateFlag.State_MouseOver:
            painter.fillRect(opt.rect, QColor("#f3f5f8"))
        painter.setPen(QColor("#e0e0e0"))
        painter.drawLine(opt.rect.bottomLeft(), opt.rect.bottomRight())
        doc = self._document(opt, index)
        painter.translate(opt.rect.left() + self.PADDING, opt.rect.top() + self.PADDING)
        height = self._visible_height(doc, opt.rect.height() - 2 * self.PADDING)
        clip = QRectF(0, 0, opt.rect.width() - 2 * self.PADDING, height)
        painter.setClipRect(clip)
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, QColor("#1a1a1a"))
        context.clip = clip
        doc.documentLayout().draw(painter, context)
        painter.restore()

    @staticmethod
    def _visible_height(doc: QTextDocument, available: float) -> float:
        """The height of the whole lines that fit: a long snippet stops at a line
        boundary instead of showing half a line."""
        layout = doc.documentLayout()
        block = doc.begin()
        while block.isValid():
            top = layout.blockBoundingRect(block).top()
            lines = block.layout()
            for i in range(lines.lineCount()):
                line = lines.lineAt(i)
                if top + line.y() + line.height() > available:
                    return top + line.y()
            block = block.next()
        return available

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        # Title, facts and up to two lines of the snippet, as rich text lays them out
        # (a Chinese fallback font can be taller than the font's own line spacing).
        key = option.font.key()
        height = self._heights.get(key)
        if height is None:
            doc = QTextDocument()
            doc.setDefaultFont(option.font)
            doc.setDocumentMargin(0)
            sample = (
                "<div style='font-weight:600'>政</div><div>务</div>"
                if self.compact
                else "<div style='font-weight:600'>政</div><div>务</div><div>服<br>务</div>"
            )
            doc.setHtml(sample)
            height = int(doc.size().height()) + 2 * self.PADDING + 2
            self._heights[key] = height
        return QSize(option.rect.width(), height)


class ResultsView(QListView):
    """The results list; Up on the first row goes back to the search box."""

    back_to_search = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Up and self.currentIndex().row() <= 0:
            self.back_to_search.emit()
            return
        super().keyPressEvent(event)


class SearchEdit(QLineEdit):
    """The search box; Down moves to the results, Return searches at once."""

    down_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Down:
            self.down_pressed.emit()
            return
        super().keyPressEvent(event)


@dataclass(frozen=True)
class _Request:
    serial: int
    text: str
    filters: SearchFilters
    limit: int


# -- the pane ------------------------------------------------------------------------------------


class KnowledgePane(QWidget):
    """Search, entry view, copy, 纠错 / 新问题, and 办事指南.

    Signals: ``answer_insert_requested(entry)`` when the person wants the answer in
    a note (only offered with ``can_insert``); ``search_requested(text)`` when a search
    starts; ``entry_selected(entry_id)``; ``feedback_sent(feedback_id)``.
    """

    search_requested = Signal(str)
    entry_selected = Signal(str)
    answer_insert_requested = Signal(object)
    feedback_sent = Signal(str)
    result_shown = Signal(object)
    """A :class:`core.search.SearchResult` just shown (tests and the status bar)."""

    TAB_SEARCH, TAB_GUIDES = range(2)

    def __init__(
        self,
        backend: KnowledgeBackend | None = None,
        parent: QWidget | None = None,
        *,
        compact: bool = False,
        can_insert: bool = False,
    ) -> None:
        super().__init__(parent)
        self.backend = backend
        self.compact = compact
        self.today = date.today
        self.current_entry: KnowledgeEntry | None = None
        self.current_query = ""
        self._serial = 0
        self._pending: _Request | None = None
        self._running: asyncio.Task[None] | None = None
        self._limit = PAGE
        self._facets_loaded = False
        self._matter_names: dict[str, str] = {}
        self._guide_code: str | None = None
        self._keep_selection = False

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_search_tab(can_insert), self.tr("问答检索"))
        self.tabs.addTab(self._build_guides_tab(), self.tr("办事指南"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4 if compact else 8, 4, 4 if compact else 8, 4)
        layout.addWidget(self.tabs)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._start_search)
        self.search.textChanged.connect(self._on_search_text_changed)
        self.search.returnPressed.connect(self._on_search_return_pressed)
        self.search.down_pressed.connect(self._on_search_down_pressed)
        self.results.back_to_search.connect(self.search.setFocus)
        self.results.selectionModel().currentRowChanged.connect(self._on_results_row_changed)
        self.results.activated.connect(self._on_results_activated)
        for combo in self._filter_combos():
            combo.currentIndexChanged.connect(self._on_filter_changed)
        self.clear_filters_button.clicked.connect(self._on_clear_filters_clicked)
        self.more_button.clicked.connect(self._on_more_clicked)
        self.copy_button.clicked.connect(self._on_copy_clicked)
        self.insert_button.clicked.connect(self._on_insert_clicked)
        self.correction_button.clicked.connect(self._on_correction_clicked)
        self.new_question_button.clicked.connect(self._on_new_question_clicked)
        self.view.anchorClicked.connect(self._on_link_activated)
        self.guide_view.anchorClicked.connect(self._on_link_activated)
        self.status.linkActivated.connect(self._on_status_link_activated)
        self.matter_filter.textChanged.connect(self.matter_proxy.set_text)
        self.matter_list.selectionModel().currentRowChanged.connect(self._on_matter_row_changed)
        # As a page of its own, the shortcuts work wherever the focus is while the page
        # is shown (hidden pages' shortcuts are off). As a tool beside a session, Ctrl+F
        # belongs to the console, which hands it on here (``focus_search``) when the
        # focus is inside this pane; copying works while the focus is inside.
        page_wide = Qt.ShortcutContext.WindowShortcut
        inside = Qt.ShortcutContext.WidgetWithChildrenShortcut
        keys_here: list[tuple[str, object, Qt.ShortcutContext]] = [
            ("Ctrl+Shift+C", self._on_copy_clicked, inside if compact else page_wide)
        ]
        if not compact:
            keys_here.append(("Ctrl+F", self.focus_search, page_wide))
        self.shortcuts: dict[str, QShortcut] = {}
        for keys, slot, context in keys_here:
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(context)
            shortcut.activated.connect(slot)  # type: ignore[arg-type]
            self.shortcuts[keys] = shortcut
        self._update_actions()

    # -- building ---------------------------------------------------------------------------

    def _build_search_tab(self, can_insert: bool) -> QWidget:
        tab = QWidget()
        self.search = SearchEdit()
        self.search.setObjectName("knowledgeSearch")
        self.search.setPlaceholderText(self.tr("搜索政策问答，如：社保、公积金提取、gjj"))
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip(
            self.tr("输入即搜；空格分隔多个词；可用拼音首字母（gjj = 公积金）。↓ 进入结果")
        )
        self.department_combo = QComboBox()
        self.matter_combo = QComboBox()
        self.kind_combo = QComboBox()
        self.service_combo = QComboBox()
        self.department_combo.setToolTip(self.tr("按部门筛选"))
        self.matter_combo.setToolTip(self.tr("按事项筛选"))
        self.kind_combo.setToolTip(self.tr("按材料性质筛选"))
        self.service_combo.setToolTip(self.tr("按服务类型筛选"))
        self.matter_combo.setMaxVisibleItems(20)
        for combo in self._filter_combos():
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(4 if self.compact else 6)
        self._fill_filters(Facets())
        self.clear_filters_button = QPushButton(self.tr("清除筛选"))
        self.clear_filters_button.setFlat(True)
        filters = QGridLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        filters.setHorizontalSpacing(6)
        combos = list(self._filter_combos())
        if self.compact:
            for i, combo in enumerate(combos):
                filters.addWidget(combo, i // 2, i % 2)
        else:
            for i, combo in enumerate(combos):
                filters.addWidget(combo, 0, i)
                filters.setColumnStretch(i, 2 if combo is self.matter_combo else 1)
            filters.addWidget(self.clear_filters_button, 0, len(combos))

        self.status = QLabel()
        self.status.setObjectName("knowledgeStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #616161;")
        self.more_button = QPushButton(self.tr("显示更多"))
        self.more_button.setFlat(True)
        self.more_button.hide()
        status_row = QHBoxLayout()
        status_row.setContentsMargins(0, 0, 0, 0)
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.more_button)
        if self.compact:
            status_row.addWidget(self.clear_filters_button)

        self.model = KnowledgeResultsModel(self)
        self.results = ResultsView()
        self.results.setObjectName("knowledgeResults")
        self.results.setModel(self.model)
        self.results.setItemDelegate(HitDelegate(self.results, compact=self.compact))
        self.results.setMouseTracking(True)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.results.setUniformItemSizes(True)
        self.results.setWordWrap(True)

        self.view = QTextBrowser()
        self.view.setObjectName("knowledgeEntry")
        self.view.setOpenLinks(False)
        self.view.setPlaceholderText(self.tr("选择一条问答查看内容"))
        self.message = QLabel()
        self.message.setObjectName("knowledgeMessage")
        self.message.setWordWrap(True)
        self.message.hide()
        self.copy_button = QPushButton(self.tr("复制答案"))
        self.copy_button.setToolTip(self.tr("复制为纯文本，可粘贴到聊天窗口或短信 (Ctrl+Shift+C)"))
        self.insert_button = QPushButton(self.tr("插入备注"))
        self.insert_button.setToolTip(self.tr("把答案连同出处插入当前会话的备注"))
        self.insert_button.setVisible(can_insert)
        self.correction_button = QPushButton(self.tr("纠错"))
        self.correction_button.setToolTip(self.tr("报告这条问答有误或已过时"))
        self.new_question_button = QPushButton(self.tr("新问题"))
        self.new_question_button.setToolTip(self.tr("报告知识库里没有的问题"))
        if self.compact:
            # The style's 80 px minimum per button would make four of them wider than the
            # tools area; beside a session they may shrink to their words.
            for button in (
                self.copy_button,
                self.insert_button,
                self.correction_button,
                self.new_question_button,
            ):
                button.setMinimumWidth(button.fontMetrics().horizontalAdvance(button.text()) + 20)
        actions = QHBoxLayout()
        actions.setContentsMargins(0, 0, 0, 0)
        actions.addWidget(self.copy_button)
        actions.addWidget(self.insert_button)
        actions.addStretch(1)
        actions.addWidget(self.correction_button)
        actions.addWidget(self.new_question_button)
        entry_panel = QWidget()
        entry_layout = QVBoxLayout(entry_panel)
        entry_layout.setContentsMargins(0, 0, 0, 0)
        entry_layout.addWidget(self.view, 1)
        entry_layout.addWidget(self.message)
        entry_layout.addLayout(actions)

        self.splitter = QSplitter(
            Qt.Orientation.Vertical if self.compact else Qt.Orientation.Horizontal
        )
        self.splitter.addWidget(self.results)
        self.splitter.addWidget(entry_panel)
        # Beside a session the hits come first (six and more at 1366×768); the entry
        # below gets the rest. As a page, the entry beside the list gets more.
        self.splitter.setStretchFactor(0, 3 if self.compact else 2)
        self.splitter.setStretchFactor(1, 2 if self.compact else 3)
        if self.compact:
            self.splitter.setSizes([330, 220])
        self.splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(tab)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addLayout(status_row)
        layout.addWidget(self.splitter, 1)
        return tab

    def _build_guides_tab(self) -> QWidget:
        tab = QWidget()
        self.matter_filter = QLineEdit()
        self.matter_filter.setPlaceholderText(self.tr("筛选事项，如：公积金、居住证"))
        self.matter_filter.setClearButtonEnabled(True)
        self.matter_model = MatterListModel(self)
        self.matter_proxy = MatterFilterModel(self)
        self.matter_proxy.setSourceModel(self.matter_model)
        self.matter_list = QListView()
        self.matter_list.setObjectName("matterList")
        self.matter_list.setModel(self.matter_proxy)
        self.matter_list.setUniformItemSizes(True)
        self.guide_view = QTextBrowser()
        self.guide_view.setObjectName("matterGuide")
        self.guide_view.setOpenLinks(False)
        self.guide_view.setPlaceholderText(self.tr("选择一个事项查看办事指南"))
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.matter_filter)
        left_layout.addWidget(self.matter_list)
        splitter = QSplitter(Qt.Orientation.Vertical if self.compact else Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.guide_view)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(tab)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(splitter)
        return tab

    def _filter_combos(self) -> tuple[QComboBox, ...]:
        return (self.department_combo, self.matter_combo, self.kind_combo, self.service_combo)

    # -- data in -------------------------------------------------------------------------------

    def set_backend(self, backend: KnowledgeBackend) -> None:
        self.backend = backend

    async def reload(self) -> None:
        """Refresh after the cache changed (a sync): filters, matters, the current
        search and the open guide."""
        if self.backend is None:
            return
        facets = await self.backend.facets()
        matters = await self.backend.matters()
        self._matter_names = {m.code: m.name for m in matters}
        self._fill_filters(facets)
        self._fill_matters(matters)
        self._start_search(keep_selection=True)
        if self._guide_code:
            await self._show_guide(self._guide_code)

    def _fill_filters(self, facets: Facets) -> None:
        names = self._matter_names
        fills: list[tuple[QComboBox, str, list[tuple[str, str]]]] = [
            (
                self.department_combo,
                self.tr("全部部门"),
                [(d, f"{d}（{n}）") for d, n in facets.departments],
            ),
            (
                self.matter_combo,
                self.tr("全部事项"),
                [(code, f"{names.get(code, name)}（{n}）") for code, name, n in facets.matters],
            ),
            (self.kind_combo, self.tr("全部类型"), [(k, f"{k}（{n}）") for k, n in facets.kinds]),
            (
                self.service_combo,
                self.tr("全部服务"),
                [(s.value, s.label) for s in ServiceType],
            ),
        ]
        for combo, everything, items in fills:
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(everything, None)
            for value, label in items:
                combo.addItem(label, value)
            at = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(0, at))
            combo.blockSignals(False)
        self._facets_loaded = True

    def _fill_matters(self, matters: list[MatterGuide]) -> None:
        current = self._guide_code
        self.matter_model.set_matters(matters)
        if current:
            self._select_matter(current)

    def filters(self) -> SearchFilters:
        return SearchFilters(
            department=self.department_combo.currentData(),
            matter_code=self.matter_combo.currentData(),
            kind=self.kind_combo.currentData(),
            service_type=self.service_combo.currentData(),
        )

    # -- searching ------------------------------------------------------------------------

    def _on_search_text_changed(self, _text: str) -> None:
        self._limit = PAGE
        self._debounce.start()

    def _on_search_return_pressed(self) -> None:
        self._debounce.stop()
        self._start_search()

    def _on_filter_changed(self, _index: int) -> None:
        self._limit = PAGE
        self._debounce.stop()
        self._start_search()

    def _on_clear_filters_clicked(self) -> None:
        for combo in self._filter_combos():
            combo.blockSignals(True)
            combo.setCurrentIndex(0)
            combo.blockSignals(False)
        self._on_filter_changed(0)

    def _on_more_clicked(self) -> None:
        self._limit = min(MAX_SHOWN, self._limit + 100)
        self._start_search(keep_selection=True)

    def _start_search(self, keep_selection: bool = False) -> None:
        """Queue a search of what is typed now; a newer request replaces an older one
        that has not started, and only the newest result is shown."""
        if self.backend is None:
            return
        self._serial += 1
        self._keep_selection = keep_selection
        self._pending = _Request(
            self._serial, self.search.text().strip(), self.filters(), self._limit
        )
        self.search_requested.emit(self._pending.text)
        if self._running is None or self._running.done():
            work = self._run_searches()
            try:
                self._running = spawn(work, owner=self)
            except RuntimeError:
                # No event loop: the window is being torn down (a combo box emits as
                # it is deleted). Nothing to show any more.
                work.close()
                self._pending = None

    async def _run_searches(self) -> None:
        assert self.backend is not None
        while self._pending is not None:
            request, self._pending = self._pending, None
            try:
                result = await self.backend.search(request.text, request.filters, request.limit)
            except Exception:  # a failed search must not end the pane's work
                log.exception("knowledge search failed")
                if request.serial == self._serial:
                    self._set_status(self.tr("搜索出错，请重试"), error=True)
                continue
            if request.serial != self._serial:
                continue  # what is typed has changed since: a newer search follows
            self._show_result(result)

    def _show_result(self, result: SearchResult) -> None:
        tip = ""
        keep = self.current_entry.id if (self._keep_selection and self.current_entry) else None
        self.current_query = result.text
        self.model.set_result(result)
        shown = len(result.hits)
        if not result.text and not result.filters:
            text = self.tr("本机共 {0} 条问答，输入关键词开始搜索").format(result.total)
        elif shown == 0:
            text = self.tr(
                "没有找到相关问答。试试更短的词、用空格分开，或<a href='new'>提交新问题</a>"
            )
        else:
            total = (
                self.tr("超过 {0} 条").format(result.total)
                if result.total_capped
                else self.tr("共 {0} 条").format(result.total)
            )
            text = total
            if shown < result.total:
                # Beside a session the line must stay one line (six hits at 1366×768).
                shown_words = self.tr("，显示 {0}") if self.compact else self.tr("，显示前 {0} 条")
                text += shown_words.format(shown)
            if result.relaxed:
                text = self.tr("未找到完全匹配的问答，以下是相关结果。") + text
            if result.expansions:
                words = "；".join(
                    f"{term} → {'、'.join(others)}" for term, others in result.expansions.items()
                )
                # Beside a session the words go into the tooltip.
                tip = self.tr("含同义词：{0}").format(words)
                text += self.tr("，含同义词") if self.compact else self.tr("（{0}）").format(tip)
        self._set_status(text)
        self.status.setToolTip(tip)
        self.more_button.setVisible(shown < result.total and self._limit < MAX_SHOWN)
        row = self.model.row_of(keep) if keep else -1
        if row >= 0:
            self.results.selectionModel().setCurrentIndex(
                self.model.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
            hit = self.model.hit_at(row)
            if hit is not None:
                self.show_entry(hit.entry)
        elif keep is None and self.current_entry is not None and self._keep_selection:
            self.show_entry(self.current_entry)
        self.result_shown.emit(result)

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setStyleSheet(f"color: {EXPIRED_COLOUR if error else '#616161'};")
        self.status.setText(text)

    def _on_search_down_pressed(self) -> None:
        if self.model.rowCount() == 0:
            return
        self.results.setFocus()
        if not self.results.currentIndex().isValid():
            self.results.selectionModel().setCurrentIndex(
                self.model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect
            )

    def focus_search(self) -> None:
        """Ctrl+F: the search box, its text selected so that typing replaces it."""
        self.tabs.setCurrentIndex(self.TAB_SEARCH)
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def take_focus(self) -> None:
        """The pane came to the front: the search box (or the matter filter on 办事指南)."""
        if self.tabs.currentIndex() == self.TAB_GUIDES:
            self.matter_filter.setFocus(Qt.FocusReason.ShortcutFocusReason)
        else:
            self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # -- the entry -------------------------------------------------------------------------

    def _on_results_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        entry = self.model.entry_at(current.row()) if current.isValid() else None
        if entry is not None:
            self.show_entry(entry)
            self.entry_selected.emit(entry.id)

    def _on_results_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.view.setFocus()

    def show_entry(self, entry: KnowledgeEntry) -> None:
        """Show one entry (answer as rich text, its source and dates; an expired one
        marked), with the words of the current search marked."""
        self.current_entry = entry
        self.tabs.setCurrentIndex(self.TAB_SEARCH)
        self.view.setHtml(
            entry_html(
                entry,
                self.current_query,
                self.today(),
                self._matter_names.get(entry.matter_code or ""),
            )
        )
        self.message.hide()
        self._update_actions()

    def _update_actions(self) -> None:
        has = self.current_entry is not None
        self.copy_button.setEnabled(has)
        self.insert_button.setEnabled(has)
        self.correction_button.setEnabled(has)

    def _show_message(self, text: str, *, error: bool = False) -> None:
        colour = EXPIRED_COLOUR if error else "#1b5e20"
        background = "#fde0dc" if error else "#e8f5e9"
        self.message.setStyleSheet(f"color: {colour}; background: {background}; padding: 4px;")
        self.message.setText(text)
        self.message.show()

    def _on_copy_clicked(self) -> None:
        entry = self.current_entry
        if entry is None:
            return
        QGuiApplication.clipboard().setText(copy_text(entry, self.today()))
        if entry.is_expired(self.today()):
            self._show_message(
                self.tr("已复制答案（含失效提示）。该政策已失效，请核实后再答复。"), error=True
            )
        else:
            self._show_message(self.tr("已复制答案，可粘贴到聊天窗口或短信"))

    def set_insert_target(self, *, chat: bool) -> None:
        """Where "insert" puts the answer: the reply to the caller of a chat session, or
        the note being written."""
        if chat:
            self.insert_button.setText(self.tr("插入回复"))
            self.insert_button.setToolTip(self.tr("把答案连同出处放进给群众的回复，核对后发送"))
        else:
            self.insert_button.setText(self.tr("插入备注"))
            self.insert_button.setToolTip(self.tr("把答案连同出处插入当前会话的备注"))

    def _on_insert_clicked(self) -> None:
        if self.current_entry is not None:
            self.answer_insert_requested.emit(self.current_entry)

    def _on_link_activated(self, url: QUrl) -> None:
        target = url.toString()
        if target.startswith("matter:"):
            spawn(self.show_matter(target.removeprefix("matter:")), owner=self)
        elif target.startswith("kb:"):
            spawn(self.open_entry(target.removeprefix("kb:")), owner=self)
        elif url.scheme() in ("http", "https"):
            QDesktopServices.openUrl(url)

    def _on_status_link_activated(self, link: str) -> None:
        if link == "new":
            self._on_new_question_clicked()

    async def open_entry(self, entry_id: str) -> None:
        """Show an entry by id (a link from a guide or a walkthrough)."""
        if self.backend is None:
            return
        entry = await self.backend.entry(entry_id)
        if entry is None:
            self._show_message(self.tr("本机暂无该条问答，请同步后再试"), error=True)
            return
        self.results.clearSelection()
        self.show_entry(entry)

    # -- 纠错 / 新问题 -------------------------------------------------------------------------

    @owned_slot()
    async def _on_correction_clicked(self) -> None:
        await self._ask_feedback("correction")

    @owned_slot()
    async def _on_new_question_clicked(self) -> None:
        await self._ask_feedback("new_question")

    async def _ask_feedback(self, kind: str) -> None:
        entry = self.current_entry if kind == "correction" else None
        request = await KnowledgeFeedbackDialog.ask(self, entry or self.current_entry, kind)
        if request is None or self.backend is None:
            return
        feedback_id = await self.backend.send_feedback(
            request.entry_id,
            request.kind,
            request.text,
            report=lambda text: self._show_message(text, error=True),
        )
        if feedback_id is None:
            return
        what = self.tr("纠错") if request.kind == "correction" else self.tr("新问题")
        self._show_message(self.tr("{0}已提交，联网同步后送达知识库管理员审核。").format(what))
        self.feedback_sent.emit(feedback_id)

    # -- 办事指南 -----------------------------------------------------------------------------

    def _select_matter(self, code: str) -> bool:
        row = self.matter_model.row_of(code)
        if row < 0:
            return False
        index = self.matter_proxy.mapFromSource(self.matter_model.index(row))
        if index.isValid():
            self.matter_list.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
        return True

    def _on_matter_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        code = current.data(MatterListModel.CodeRole)
        if code and code != self._guide_code:
            spawn(self._show_guide(code), owner=self)

    async def show_matter(self, code: str) -> None:
        """Open the guide of a matter on the guides tab."""
        self.tabs.setCurrentIndex(self.TAB_GUIDES)
        self.matter_filter.clear()
        if not self._select_matter(code):
            await self._show_guide(code)

    async def _show_guide(self, code: str) -> None:
        if self.backend is None:
            return
        self._guide_code = code
        view = await self.backend.matter(code)
        if self._guide_code != code:
            return  # another matter was chosen meanwhile
        if view is None:
            self.guide_view.setHtml(
                html.escape(self.tr("本机暂无事项 {0} 的办事指南，请同步后再试").format(code))
            )
            return
        self.guide_view.setHtml(guide_html(view, self.today()))


__all__ = ["KnowledgePane", "answer_html", "copy_text", "entry_html", "guide_html", "meta_line"]
