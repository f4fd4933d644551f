"""The session console: the queues, the session at hand, and the tools beside it.

Left, the queues 待接入 (my team's waiting sessions), 我的会话 (mine, grouped by
state) and 今日已办结 (closed today), plus 班组在办 for a lead. Middle, the session
at hand (:class:`ui.session_view.SessionView`). Right, a tab area of tools that other
features add with :meth:`SessionsPane.add_tool` (the knowledge base, 办事指南, screen
sharing, walkthroughs).

The pane holds no business logic: it asks the person (dialogs), then emits what
they asked for (``…_requested``); :class:`ui.session_console.SessionConsole` does it
and hands the pane fresh data. Every action has a shortcut, shown in the menu and
in the tooltips, and the focus order works without a mouse.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import QByteArray, QItemSelectionModel, QModelIndex, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMenu,
    QSplitter,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from core.calendar import WorkCalendar, escalation_deadline
from core.entities import Agent, KnowledgeEntry, MatterGuide, Session
from core.enums import EVALUATION_LABELS, Channel, Presence, Role, ServiceType, SessionState
from core.localstore.session_actions import (
    Escalation1515,
    Me,
    NewSessionRequest,
    TransitionRequest,
)
from core.session_rules import (
    REASSIGNABLE_STATES,
    TRANSFERABLE_STATES,
    Action,
    available_actions,
)
from ui.dialogs.reveal_dialog import RevealReasonDialog
from ui.dialogs.session_dialogs import (
    CallbackDialog,
    Choice,
    CloseDialog,
    EscalateDialog,
    NewSessionDialog,
    RatingLinkDialog,
    ReassignDialog,
    TransferDialog,
)
from ui.focus import focus_into, has_focus_inside
from ui.models.sessions import (
    MySessionsModel,
    QueueProxy,
    SessionRole,
    SessionTableModel,
    TreeFilterProxy,
    closed_today,
    open_in_team,
    waiting_in_team,
)
from ui.session_view import SessionDetail, SessionView
from ui.tasks import spawn

__all__ = ["ConsoleContext", "SessionDetail", "SessionsPane"]

S = SessionState
LOAD_STATES = (S.ASSIGNED, S.ACTIVE, S.ON_HOLD)


@dataclass
class ConsoleContext:
    """What the dialogs need to offer choices: colleagues, teams, matters, the calendar."""

    agents: list[Agent] = field(default_factory=list)
    teams: list[dict[str, str]] = field(default_factory=list)
    matters: list[MatterGuide] = field(default_factory=list)
    calendar: WorkCalendar = field(default_factory=WorkCalendar.builtin)


class SessionsPane(QWidget):
    """The console. Signals carry what the person asked for; nothing is done here."""

    session_selected = Signal(str)
    action_requested = Signal(str, object)
    """(session id, a request of :mod:`core.localstore.session_actions`)."""
    create_requested = Signal(object)
    note_requested = Signal(str, str)
    reveal_requested = Signal(str, str)
    """(session id, the reason the person gave for looking at the full numbers)."""
    rating_link_requested = Signal(str)
    """(session id): a rating link for its caller, shown by :meth:`show_rating_link`."""
    counts_changed = Signal(int, int, int)
    """(waiting in my team's queue, my open sessions, closed by me today)."""

    QUEUE_WAITING, QUEUE_MINE, QUEUE_CLOSED, QUEUE_TEAM = range(4)
    LEFT_MIN, VIEW_MIN, TOOLS_MIN = 392, 376, 316
    """Minimum widths of the queues, the session and the tools: together they fit a
    1280 px wide window beside the navigation."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        me: Me | None = None,
        first_response_seconds: int = 60,
    ) -> None:
        super().__init__(parent)
        self.me = me or Me(0, "", Role.AGENT.value, None)
        self.is_lead = self.me.role in (Role.LEAD.value, Role.ADMIN.value)
        self.context = ConsoleContext()
        self._current_id: str | None = None
        self._asking_reveal = False
        self._link_pending: str | None = None
        """The session whose rating link was asked for and has not come yet."""
        self._link_shown: str | None = None
        """The session whose rating link dialog is open."""
        self._sessions: dict[str, Session] = {}

        # -- models --------------------------------------------------------------------------------
        self.model = SessionTableModel(self, first_response_seconds=first_response_seconds)
        self.waiting_proxy = QueueProxy(waiting_in_team(self.me.team_id), self)
        self.waiting_proxy.setSourceModel(self.model)
        self.closed_proxy = QueueProxy(closed_today(self.me.id), self)
        self.closed_proxy.setSourceModel(self.model)
        self.team_proxy = QueueProxy(open_in_team(self.me.team_id), self)
        self.team_proxy.setSourceModel(self.model)
        self.mine_model = MySessionsModel(self, first_response_seconds=first_response_seconds)
        self.mine_proxy = TreeFilterProxy(self)
        self.mine_proxy.setSourceModel(self.mine_model)

        # -- top bar -------------------------------------------------------------------------------
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("sessionFilter")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setPlaceholderText(self.tr("筛选：姓名、事项、诉求、电话尾号"))
        self.filter_edit.setToolTip(self.tr("筛选会话（Ctrl+F）"))
        self.service_filter = QComboBox()
        self.service_filter.setObjectName("serviceFilter")
        self.service_filter.addItem(self.tr("全部服务"), "")
        for service in ServiceType:
            self.service_filter.addItem(service.label, service.value)
        self.new_button = QToolButton()
        self.new_button.setObjectName("newSessionButton")
        self.new_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)

        # -- queues --------------------------------------------------------------------------------
        self.waiting_view = self._table(
            self.waiting_proxy,
            "waitingQueue",
            SessionTableModel.COL_WAITED,
            Qt.SortOrder.DescendingOrder,
        )
        for col in (
            SessionTableModel.COL_STATE,
            SessionTableModel.COL_PHONE,
            SessionTableModel.COL_CREATED,
            SessionTableModel.COL_CLOSED,
            SessionTableModel.COL_OUTCOME,
            SessionTableModel.COL_ASSIGNEE,
        ):
            self.waiting_view.setColumnHidden(col, True)
        self._order(
            self.waiting_view,
            [
                SessionTableModel.COL_WAITED,
                SessionTableModel.COL_CALLER,
                SessionTableModel.COL_CHANNEL,
                SessionTableModel.COL_SERVICE,
                SessionTableModel.COL_SUMMARY,
            ],
        )
        self.closed_view = self._table(
            self.closed_proxy,
            "closedToday",
            SessionTableModel.COL_CLOSED,
            Qt.SortOrder.DescendingOrder,
        )
        for col in (
            SessionTableModel.COL_STATE,
            SessionTableModel.COL_PHONE,
            SessionTableModel.COL_CHANNEL,
            SessionTableModel.COL_CREATED,
            SessionTableModel.COL_WAITED,
            SessionTableModel.COL_ASSIGNEE,
        ):
            self.closed_view.setColumnHidden(col, True)
        self._order(
            self.closed_view,
            [
                SessionTableModel.COL_CLOSED,
                SessionTableModel.COL_CALLER,
                SessionTableModel.COL_OUTCOME,
                SessionTableModel.COL_SERVICE,
                SessionTableModel.COL_SUMMARY,
            ],
        )
        self.team_view = self._table(
            self.team_proxy, "teamOpen", SessionTableModel.COL_CREATED, Qt.SortOrder.AscendingOrder
        )
        for col in (
            SessionTableModel.COL_PHONE,
            SessionTableModel.COL_CHANNEL,
            SessionTableModel.COL_CLOSED,
            SessionTableModel.COL_OUTCOME,
        ):
            self.team_view.setColumnHidden(col, True)
        self._order(
            self.team_view,
            [
                SessionTableModel.COL_STATE,
                SessionTableModel.COL_ASSIGNEE,
                SessionTableModel.COL_CALLER,
                SessionTableModel.COL_WAITED,
                SessionTableModel.COL_SERVICE,
                SessionTableModel.COL_CREATED,
                SessionTableModel.COL_SUMMARY,
            ],
        )
        self.mine_view = QTreeView()
        self.mine_view.setObjectName("mySessions")
        self.mine_view.setModel(self.mine_proxy)
        self.mine_view.setSortingEnabled(True)
        self.mine_view.sortByColumn(MySessionsModel.COL_TIME, Qt.SortOrder.AscendingOrder)
        self.mine_view.setUniformRowHeights(True)
        self.mine_view.setAlternatingRowColors(True)
        self.mine_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.mine_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.mine_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.mine_view.setAllColumnsShowFocus(True)
        self.mine_view.header().setStretchLastSection(False)
        self.mine_view.header().setSectionResizeMode(
            MySessionsModel.COL_SUMMARY, QHeaderView.ResizeMode.Stretch
        )
        self.mine_view.setColumnWidth(MySessionsModel.COL_CALLER, 96)
        self.mine_view.setColumnWidth(MySessionsModel.COL_TIME, 118)
        self.mine_view.setColumnWidth(MySessionsModel.COL_SERVICE, 110)

        self.queues = QTabWidget()
        self.queues.setObjectName("queues")
        self.queues.addTab(self.waiting_view, "")
        self.queues.addTab(self.mine_view, "")
        self.queues.addTab(self.closed_view, "")
        if self.is_lead:
            self.queues.addTab(self.team_view, "")
        else:
            self.team_view.hide()
        self.queues.setCurrentIndex(self.QUEUE_MINE)

        # -- the session and the tools -------------------------------------------------------------
        self.view = SessionView()
        self.tools = QTabWidget()
        self.tools.setObjectName("sessionTools")
        self.tools.setDocumentMode(True)
        self.guide = QTextBrowser()
        self.guide.setObjectName("matterGuide")
        self.guide.setOpenExternalLinks(False)
        self.guide.setPlaceholderText(self.tr("选择关联了事项的会话后，这里显示该事项的办事指南"))
        self.add_tool(self.guide, self.tr("办事指南"))

        self._build_actions()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.new_button)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.service_filter)
        left_layout.addLayout(top)
        left_layout.addWidget(self.queues, 1)
        # Every shortcut of the console is the pane's own (a window shortcut that is live
        # while the pane is shown), whichever child had the focus before; Ctrl+F inside a
        # tool with a search of its own (the knowledge base) goes to that search.

        # The three panels hold still: each has a fixed minimum width that its content
        # fits in (long texts wrap or elide), so that no selection, no share link and no
        # tool can push a panel wider; extra room goes by the stretch factors; the
        # person's own division is kept per user.
        left.setMinimumWidth(self.LEFT_MIN)
        self.view.setMinimumWidth(self.VIEW_MIN)
        self.tools.setMinimumWidth(self.TOOLS_MIN)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("consoleSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.tools)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setStretchFactor(2, 3)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([400, 440, 340])
        self._restore_splitter()
        self.splitter.splitterMoved.connect(self._on_splitter_moved)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.splitter)

        # -- wiring inside the pane ----------------------------------------------------------------
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.service_filter.currentIndexChanged.connect(self._on_filter_changed)
        for table in (self.waiting_view, self.closed_view, self.team_view):
            table.selectionModel().currentRowChanged.connect(self._on_view_current_changed)
        self.mine_view.selectionModel().currentRowChanged.connect(self._on_view_current_changed)
        self.queues.currentChanged.connect(self._on_queues_current_changed)
        self.view.note_button.clicked.connect(self._on_add_note_triggered)
        self._set_focus_order()
        self._update_counts()
        self._update_actions()

    # -- the panels' division, per user ------------------------------------------------------

    def _splitter_key(self) -> str:
        return f"console/{self.me.id}/splitter"

    def _restore_splitter(self) -> None:
        state = QSettings().value(self._splitter_key())
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.splitter.restoreState(state)

    def _on_splitter_moved(self, _pos: int, _index: int) -> None:
        QSettings().setValue(self._splitter_key(), self.splitter.saveState())

    # -- construction helpers ------------------------------------------------------------------

    def _table(
        self, proxy: QueueProxy, name: str, sort_column: int, order: Qt.SortOrder
    ) -> QTableView:
        table = QTableView()
        table.setObjectName(name)
        table.setModel(proxy)
        table.setSortingEnabled(True)
        table.sortByColumn(sort_column, order)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(28)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setDefaultSectionSize(90)
        table.setTabKeyNavigation(False)  # Tab leaves the table, arrows move within it
        return table

    @staticmethod
    def _order(table: QTableView, columns: list[int]) -> None:
        header = table.horizontalHeader()
        for position, column in enumerate(columns):
            header.moveSection(header.visualIndex(column), position)
        widths = {
            SessionTableModel.COL_WAITED: 72,
            SessionTableModel.COL_CLOSED: 76,
            SessionTableModel.COL_CALLER: 68,
            SessionTableModel.COL_CHANNEL: 76,
            SessionTableModel.COL_OUTCOME: 76,
            SessionTableModel.COL_SERVICE: 110,
            SessionTableModel.COL_STATE: 64,
            SessionTableModel.COL_ASSIGNEE: 64,
            SessionTableModel.COL_CREATED: 56,
        }
        for column, width in widths.items():
            header.resizeSection(column, width)

    def _action(
        self, name: str, text: str, shortcut: QKeySequence | str | None, slot: object
    ) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)  # type: ignore[arg-type]
        self.addAction(action)
        self._tooltip(action)
        self.actions_by_name[name] = action
        return action

    @staticmethod
    def _tooltip(action: QAction) -> None:
        key = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        text = action.text().replace("&", "")
        action.setToolTip(f"{text}（{key}）" if key else text)

    def _build_actions(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        a = self._action
        self.new_action = a("new", self.tr("新建会话"), "Ctrl+N", self._on_new_triggered)
        self.accept_action = a("accept", self.tr("接入"), "F2", self._on_accept_triggered)
        self.start_action = a("start", self.tr("开始办理"), "F3", self._on_start_triggered)
        self.hold_action = a("hold", self.tr("挂起"), "F4", self._on_hold_triggered)
        self.transfer_action = a("transfer", self.tr("转交"), "F6", self._on_transfer_triggered)
        self.escalate_action = a("escalate", self.tr("转办"), "F7", self._on_escalate_triggered)
        self.callback_action = a("callback", self.tr("待回电"), "F8", self._on_callback_triggered)
        self.close_action = a("close", self.tr("办结"), "F9", self._on_close_triggered)
        self.evaluate_action = a(
            "evaluate", self.tr("评价链接"), "Ctrl+E", self._on_evaluate_triggered
        )
        self.reassign_action = a("reassign", self.tr("改派"), "Ctrl+R", self._on_reassign_triggered)
        self.reveal_action = a(
            "reveal", self.tr("显示完整号码"), "Ctrl+Shift+R", self._on_reveal_triggered
        )
        self.mask_action = a("mask", self.tr("隐藏号码"), "Ctrl+Shift+H", self._on_mask_triggered)
        self.guide_action = a("guide", self.tr("办事指南"), "Ctrl+G", self._on_guide_triggered)
        self.note_focus_action = a("note", self.tr("写备注"), "Ctrl+M", self.view.focus_note)
        self.add_note_action = a(
            "add_note", self.tr("添加备注"), "Ctrl+Return", self._on_add_note_triggered
        )
        self.filter_action = a("filter", self.tr("筛选会话"), "Ctrl+F", self._on_filter_triggered)
        self.tools_action = a("tools", self.tr("工具区"), "Ctrl+K", self._focus_tools)
        self.queue_actions = [
            a("queue_waiting", self.tr("待接入队列"), "Ctrl+1", lambda: self.show_queue(0)),
            a("queue_mine", self.tr("我的会话"), "Ctrl+2", lambda: self.show_queue(1)),
            a("queue_closed", self.tr("今日已办结"), "Ctrl+3", lambda: self.show_queue(2)),
        ]
        if self.is_lead:
            self.queue_actions.append(
                a("queue_team", self.tr("班组在办"), "Ctrl+4", lambda: self.show_queue(3))
            )
        self.reassign_action.setVisible(self.is_lead)
        # Ctrl+Enter on the keypad as well.
        self.add_note_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.new_button.setDefaultAction(self.new_action)
        rows = [
            [
                self.accept_action,
                self.start_action,
                self.hold_action,
                self.transfer_action,
                self.escalate_action,
            ],
            [self.callback_action, self.close_action, self.evaluate_action],
        ]
        if self.is_lead:
            rows[1].append(self.reassign_action)
        self.view.set_actions(rows)
        self.view.set_tool_actions(self.reveal_action, self.guide_action)
        self.view.set_mask_action(self.mask_action)
        self.view.note_button.setToolTip(self.add_note_action.toolTip())

        self.menu = QMenu(self.tr("会话(&S)"), self)
        self.menu.setObjectName("sessionMenu")
        self.menu.setToolTipsVisible(True)
        for group in (
            [self.new_action],
            [self.accept_action, self.start_action, self.hold_action],
            [self.transfer_action, self.escalate_action, self.callback_action],
            [self.close_action, self.evaluate_action]
            + ([self.reassign_action] if self.is_lead else []),
            [
                self.reveal_action,
                self.mask_action,
                self.guide_action,
                self.note_focus_action,
                self.add_note_action,
            ],
            [self.filter_action, self.tools_action, *self.queue_actions],
        ):
            for action in group:
                self.menu.addAction(action)
            self.menu.addSeparator()
        for view in (self.waiting_view, self.mine_view, self.closed_view, self.team_view):
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
            for action in (
                self.accept_action,
                self.start_action,
                self.hold_action,
                self.transfer_action,
                self.escalate_action,
                self.callback_action,
                self.close_action,
                self.evaluate_action,
            ) + ((self.reassign_action,) if self.is_lead else ()):
                view.addAction(action)

    def _set_focus_order(self) -> None:
        chain: list[QWidget] = [
            self.new_button,
            self.filter_edit,
            self.service_filter,
            self.queues.tabBar(),
            self.waiting_view,
            self.mine_view,
            self.closed_view,
        ]
        if self.is_lead:
            chain.append(self.team_view)
        chain.append(self.view.reveal_button)
        chain.append(self.view.guide_button)
        chain += list(self.view.action_buttons.values())
        chain += [self.view.timeline, self.view.notes, self.view.note_edit, self.view.note_button]
        chain.append(self.tools.tabBar())
        chain.append(self.guide)
        chain += [self.new_button, self.filter_edit, self.service_filter]  # and round again
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def add_tool(self, widget: QWidget, title: str) -> int:
        """Add a tool (a tab beside the session): knowledge, screen sharing, walkthroughs.

        The tool joins the focus order after the tab bar, so Tab reaches it from the
        note editor without a mouse.
        """
        index = self.tools.addTab(widget, title)
        QWidget.setTabOrder(self.tools.tabBar(), widget)
        return index

    # -- the tools area ------------------------------------------------------------------------

    def show_tool(self, widget: QWidget) -> None:
        index = self.tools.indexOf(widget)
        if index >= 0:
            self.tools.setCurrentIndex(index)

    def insert_into_note(self, text: str) -> None:
        """Append text (a knowledge answer with its source) to the note being written."""
        editor = self.view.note_edit
        current = editor.toPlainText()
        if current and not current.endswith("\n"):
            editor.appendPlainText("")
        editor.insertPlainText(text)
        self.view.focus_note()

    def insert_answer(self, entry: KnowledgeEntry) -> None:
        """Insert a knowledge answer into the note editor together with its source."""
        self.insert_into_note(answer_with_source(entry))

    # -- data in -------------------------------------------------------------------------------

    def set_context(self, context: ConsoleContext) -> None:
        self.context = context
        names = {a.id: a.display_name for a in context.agents}
        names[self.me.id] = self.me.display_name
        self.model.set_agent_names(names)

    def set_sessions(self, sessions: list[Session], matter_names: dict[str, str]) -> None:
        """Show a fresh list of sessions; the selection and the open session stay."""
        current = self._current_id
        self._sessions = {s.id: s for s in sessions}
        self.model.set_sessions(sessions, matter_names)
        mine = [
            s
            for s in sessions
            if s.assignee_id == self.me.id and s.state not in (S.CLOSED.value, S.WAITING.value)
        ]
        self.mine_model.set_sessions(mine, matter_names)
        self._lay_out_groups()
        self._update_counts()
        if current is not None:
            self._reselect(current)
        self._update_actions()

    def session(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def current_session_id(self) -> str | None:
        return self._current_id

    def current_session(self) -> Session | None:
        detail = self.view.detail
        if detail is not None and detail.session.id == self._current_id:
            return detail.session
        return self._sessions.get(self._current_id or "")

    def show_detail(self, detail: SessionDetail) -> None:
        if detail.session.id != self._current_id:
            return
        self.view.show_detail(detail, keep_reveal=True)
        if detail.matter is not None:
            self.guide.setHtml(guide_html(detail.matter))
        else:
            self.guide.clear()
        self._update_actions()
        self._tell_rated()

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.view.show_message(text, error=error)

    def clear_note_editor(self) -> None:
        self.view.note_edit.clear()

    def tick(self) -> None:
        """Once a second: waiting times, colours, the counts' colour."""
        self.model.tick()
        self.mine_model.tick()
        self.view.tick()
        urgent = any(
            self.model.urgency(s) == 2 for s in self._sessions.values() if s.state == S.WAITING
        )
        bar = self.queues.tabBar()
        bar.setTabTextColor(self.QUEUE_WAITING, QColor("#b3261e") if urgent else QColor())

    # -- selection -----------------------------------------------------------------------------

    def show_queue(self, index: int) -> None:
        if 0 <= index < self.queues.count():
            self.queues.setCurrentIndex(index)
            view = self.queues.widget(index)
            if view is None:
                return
            view.setFocus(Qt.FocusReason.ShortcutFocusReason)
            if isinstance(view, QAbstractItemView) and not view.currentIndex().isValid():
                first = self._first_session_index(view)
                if first.isValid():
                    view.setCurrentIndex(first)

    def _first_session_index(self, view: QAbstractItemView) -> QModelIndex:
        model = view.model()
        if view is self.mine_view:
            for g in range(model.rowCount()):
                parent = model.index(g, 0)
                if model.rowCount(parent):
                    return model.index(0, 0, parent)
            return QModelIndex()
        return model.index(0, 0) if model.rowCount() else QModelIndex()

    def select_session(self, session_id: str) -> bool:
        """Show a session: in the current queue if it is there, else in the one it is in."""
        order = [self.queues.currentIndex()] + [
            i for i in range(self.queues.count()) if i != self.queues.currentIndex()
        ]
        for i in order:
            view = self.queues.widget(i)
            if view is None:
                continue
            index = self._index_in(view, session_id)
            if index.isValid():
                self.queues.setCurrentIndex(i)
                assert isinstance(view, QAbstractItemView)
                view.selectionModel().setCurrentIndex(
                    index,
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
                view.scrollTo(index)
                return True
        return False

    def _index_in(self, view: QWidget, session_id: str) -> QModelIndex:
        if view is self.mine_view:
            source = self.mine_model.index_of(session_id)
            return self.mine_proxy.mapFromSource(source) if source.isValid() else QModelIndex()
        if isinstance(view, QTableView):
            proxy = view.model()
            if isinstance(proxy, QueueProxy):
                row = proxy.row_of(session_id)
                return proxy.index(row, 0) if row >= 0 else QModelIndex()
        return QModelIndex()

    def _reselect(self, session_id: str) -> None:
        view = self.queues.currentWidget()
        index = self._index_in(view, session_id)
        if index.isValid() and isinstance(view, QAbstractItemView):
            blocker = view.selectionModel().blockSignals(True)
            view.selectionModel().setCurrentIndex(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            view.selectionModel().blockSignals(blocker)
        if session_id not in self._sessions:
            # The session left the cache (reassigned away, say): nothing to show.
            self._current_id = None
            self.view.clear()
            self.guide.clear()

    def _on_view_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        session = current.data(SessionRole) if current.isValid() else None
        if not isinstance(session, Session):
            return
        if session.id != self._current_id:
            self._current_id = session.id
            self.view.set_revealed(False)
            self.session_selected.emit(session.id)
        self._update_actions()

    def _on_queues_current_changed(self, index: int) -> None:
        view = self.queues.widget(index)
        if isinstance(view, QAbstractItemView):
            current = view.currentIndex()
            if current.isValid():
                self._on_view_current_changed(current, QModelIndex())

    def _on_filter_changed(self, *_args: object) -> None:
        text = self.filter_edit.text()
        service = str(self.service_filter.currentData() or "")
        for proxy in (self.waiting_proxy, self.closed_proxy, self.team_proxy, self.mine_proxy):
            proxy.set_filter(text, service)
        self._lay_out_groups()

    def _lay_out_groups(self) -> None:
        """Group rows span the whole width (their title is long) and stay open."""
        for row in range(self.mine_proxy.rowCount()):
            self.mine_view.setFirstColumnSpanned(row, QModelIndex(), True)
        self.mine_view.expandAll()

    def _on_filter_triggered(self) -> None:
        tool = self.tools.currentWidget()
        search = getattr(tool, "focus_search", None)
        focused = QApplication.focusWidget()
        if tool is not None and callable(search) and has_focus_inside(tool, focused):
            search()
            return
        self._focus_filter()

    def _focus_filter(self) -> None:
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    def _focus_tools(self) -> None:
        focus_into(self.tools.currentWidget())

    def take_focus(self) -> None:
        """The console came to the front: the current queue (its row selected), or the
        filter when the queue is empty."""
        view = self.queues.currentWidget()
        if isinstance(view, QAbstractItemView) and self._first_session_index(view).isValid():
            self.show_queue(self.queues.currentIndex())
        else:
            self._focus_filter()

    # -- counts and actions --------------------------------------------------------------------

    def counts(self) -> tuple[int, int, int]:
        waiting = sum(1 for s in self._sessions.values() if waiting_in_team(self.me.team_id)(s))
        return waiting, self.mine_model.count(), self.closed_proxy.rowCount()

    def _update_counts(self) -> None:
        waiting, mine, closed = self.counts()
        self.queues.setTabText(self.QUEUE_WAITING, self.tr("待接入 ({0})").format(waiting))
        self.queues.setTabText(self.QUEUE_MINE, self.tr("我的会话 ({0})").format(mine))
        self.queues.setTabText(self.QUEUE_CLOSED, self.tr("今日已办结 ({0})").format(closed))
        if self.is_lead:
            self.queues.setTabText(
                self.QUEUE_TEAM, self.tr("班组在办 ({0})").format(self.team_proxy.rowCount())
            )
        self.counts_changed.emit(waiting, mine, closed)

    def _update_actions(self) -> None:
        s = self.current_session()
        allowed = set(available_actions(s, self.me.actor)) if s is not None else set()
        mine = s is not None and s.assignee_id == self.me.id
        self.accept_action.setEnabled(Action.ACCEPT in allowed)
        self.start_action.setEnabled(Action.START in allowed)
        resume = s is not None and s.state == S.ON_HOLD
        self.hold_action.setText(self.tr("恢复") if resume else self.tr("挂起"))
        self._tooltip(self.hold_action)
        self.hold_action.setEnabled((Action.RESUME if resume else Action.HOLD) in allowed)
        self.transfer_action.setEnabled(
            mine and s is not None and S(s.state) in TRANSFERABLE_STATES
        )
        self.escalate_action.setEnabled(Action.ESCALATE in allowed)
        self.callback_action.setEnabled(Action.CALLBACK in allowed)
        self.close_action.setEnabled(Action.CLOSE in allowed)
        self.evaluate_action.setEnabled(
            s is not None and self._may_ask_rating_link(s) and self._link_pending is None
        )
        self.reassign_action.setEnabled(
            self.is_lead
            and s is not None
            and s.team_id == self.me.team_id
            and S(s.state) in REASSIGNABLE_STATES
        )
        has_numbers = s is not None and bool(s.caller_phone or s.caller_id_number)
        # Only the assignee may see the full numbers (the server checks it too).
        mine = s is not None and s.assignee_id == self.me.id
        self.reveal_action.setEnabled(
            has_numbers and mine and not self.view.revealed and not self._asking_reveal
        )
        self.mask_action.setEnabled(has_numbers and self.view.revealed)
        self.guide_action.setEnabled(s is not None and bool(s.matter_code))
        # A closed session takes no new notes (core.session_rules.check_note).
        open_session = s is not None and S(s.state) is not S.CLOSED
        self.add_note_action.setEnabled(open_session)
        self.view.note_button.setEnabled(open_session)
        self.view.set_note_closed(s is not None and not open_session)

    # -- asking and requesting -----------------------------------------------------------------

    def _session_or_none(self) -> Session | None:
        s = self.current_session()
        if s is None:
            self.show_message(self.tr("请先在左侧选择一个会话"), error=True)
        return s

    def _request(self, action: Action) -> None:
        s = self._session_or_none()
        if s is not None:
            self.action_requested.emit(s.id, TransitionRequest(action=action))

    def _on_accept_triggered(self) -> None:
        self._request(Action.ACCEPT)

    def _on_start_triggered(self) -> None:
        self._request(Action.START)

    def _on_hold_triggered(self) -> None:
        s = self.current_session()
        self._request(Action.RESUME if s is not None and s.state == S.ON_HOLD else Action.HOLD)

    def _colleagues(self, exclude: set[int | None]) -> list[Choice]:
        loads: dict[int, int] = {}
        for other in self._sessions.values():
            if other.assignee_id is not None and other.state in {x.value for x in LOAD_STATES}:
                loads[other.assignee_id] = loads.get(other.assignee_id, 0) + 1
        choices = []
        for agent in self.context.agents:
            if agent.id in exclude or agent.role == Role.ADMIN.value:
                continue
            try:
                presence = Presence(agent.presence).label
            except ValueError:
                presence = agent.presence
            hint = f"{presence}"
            if self.is_lead:
                hint += self.tr(" · 在办 {0}/{1}").format(loads.get(agent.id, 0), agent.capacity)
            choices.append(Choice(agent.id, f"{agent.display_name}（{hint}）"))
        return choices

    def _on_transfer_triggered(self) -> None:
        s = self._session_or_none()
        if s is None:
            return
        teams = [Choice(t["id"], t.get("name") or t["id"]) for t in self.context.teams]
        self._ask_then_request(
            s.id, TransferDialog.ask(self, self._colleagues({self.me.id}), teams)
        )

    def _on_reassign_triggered(self) -> None:
        s = self._session_or_none()
        if s is None:
            return
        agents = [
            a for a in self._colleagues({s.assignee_id}) if self._agent_team(a.value) == s.team_id
        ]
        current = self._agent_name(s.assignee_id)
        self._ask_then_request(s.id, ReassignDialog.ask(self, agents, s.assignee_id, current))

    def _agent_team(self, agent_id: int) -> str | None:
        for agent in self.context.agents:
            if agent.id == agent_id:
                return agent.team_id
        return None

    def _agent_name(self, agent_id: int | None) -> str:
        if agent_id == self.me.id:
            return self.me.display_name
        for agent in self.context.agents:
            if agent.id == agent_id:
                return agent.display_name
        return ""

    def escalation_deadlines(self, start: datetime, complexity: str) -> Escalation1515:
        calendar = self.context.calendar
        return Escalation1515(
            contact=calendar.add_working_days(start, 1),
            answer=escalation_deadline(calendar, start, complexity),
        )

    def _on_escalate_triggered(self) -> None:
        s = self._session_or_none()
        if s is None:
            return
        departments = sorted({m.department for m in self.context.matters if m.department})
        default = ""
        detail = self.view.detail
        if detail is not None and detail.matter is not None:
            default = detail.matter.department
        self._ask_then_request(
            s.id, EscalateDialog.ask(self, departments, self.escalation_deadlines, default)
        )

    def _on_callback_triggered(self) -> None:
        s = self._session_or_none()
        if s is None:
            return
        due = self.context.calendar.add_working_days(datetime.now(), 1).at_end_of_day()
        self._ask_then_request(s.id, CallbackDialog.ask(self, due))

    def _on_close_triggered(self) -> None:
        s = self._session_or_none()
        if s is None:
            return
        offer = self._offers_rating_link(s)
        spawn(self._close(s.id, CloseDialog.ask(self, offer), offer), owner=self)

    async def _close(
        self, session_id: str, asked: Awaitable[TransitionRequest | None], offer_link: bool
    ) -> None:
        request = await asked
        if request is None:
            return
        self.action_requested.emit(session_id, request)
        if offer_link:
            # One step for the agent: the caller is still on the line, or at the window.
            self._request_rating_link(session_id)

    # -- the caller's rating link ----------------------------------------------------------------

    def _offers_rating_link(self, s: Session) -> bool:
        """Whether ``s``'s caller rates through a link the person may ask for: they are
        its assignee, it is not a chat (a chat's caller rates on their own conversation
        page when it closes), and it has no rating yet."""
        detail = self.view.detail
        rated = detail is not None and detail.session.id == s.id and bool(detail.evaluations)
        return s.assignee_id == self.me.id and s.channel != Channel.WEB_CHAT.value and not rated

    def _may_ask_rating_link(self, s: Session) -> bool:
        """评价链接 now: a session that was taken (a caller who was served)."""
        return s.state not in (S.WAITING.value, S.ASSIGNED.value) and self._offers_rating_link(s)

    def _on_evaluate_triggered(self) -> None:
        s = self._session_or_none()
        if s is not None and self._may_ask_rating_link(s):
            self._request_rating_link(s.id)

    def _request_rating_link(self, session_id: str) -> None:
        if self._link_pending is not None:
            return  # one at a time
        self._link_pending = session_id
        self._update_actions()
        self.rating_link_requested.emit(session_id)

    def show_rating_link(self, session_id: str, url: str, sms_text: str) -> None:
        """The server's rating link for ``session_id``, for the person to pass on."""
        self._link_pending = None
        self._update_actions()
        s = self._sessions.get(session_id)
        caller = (s.caller_name or "") if s is not None else ""
        asked = RatingLinkDialog.ask(self, url, sms_text, caller)
        spawn(self._link_dialog_open(session_id, asked), owner=self)

    async def _link_dialog_open(self, session_id: str, shown: Awaitable[None]) -> None:
        self._link_shown = session_id
        self._tell_rated()
        try:
            await shown
        finally:
            if self._link_shown == session_id:
                self._link_shown = None

    def rating_link_failed(self, message: str) -> None:
        self._link_pending = None
        self.show_message(message, error=True)
        self._update_actions()

    def _tell_rated(self) -> None:
        """The caller rated while their link is on screen: the dialog says so."""
        detail = self.view.detail
        if self._link_shown is None or detail is None or detail.session.id != self._link_shown:
            return
        if not detail.evaluations:
            return
        score = detail.evaluations[-1][0].score
        for dialog in self.findChildren(RatingLinkDialog):
            if dialog.isVisible():
                dialog.show_rated(EVALUATION_LABELS.get(score, str(score)))

    def _on_new_triggered(self) -> None:
        matters = [Choice(m.code, f"{m.name}（{m.department}）") for m in self.context.matters]
        spawn(self._create(NewSessionDialog.ask(self, matters)), owner=self)

    async def _create(self, asked: Awaitable[NewSessionRequest | None]) -> None:
        request = await asked
        if request is not None:
            self.create_requested.emit(request)

    def _ask_then_request(self, session_id: str, asked: Awaitable[object | None]) -> None:
        """The dialog is open (window-modal, no nested loop): its answer, when the
        person gives one, becomes a request for the console."""
        spawn(self._request_when_answered(session_id, asked), owner=self)

    async def _request_when_answered(self, session_id: str, asked: Awaitable[object]) -> None:
        request = await asked
        if request is not None:
            self.action_requested.emit(session_id, request)

    def _on_reveal_triggered(self) -> None:
        """Asks the console for the full numbers (an audited call to the server); they
        are shown by :meth:`show_revealed` when the answer comes."""
        s = self._session_or_none()
        if s is None or self.view.revealed or self._asking_reveal:
            return
        self._asking_reveal = True  # one question at a time
        self._update_actions()
        spawn(self._reveal(s.id, s.caller_name or ""), owner=self)

    async def _reveal(self, session_id: str, caller: str) -> None:
        """Ask why, then show the numbers (and have the reveal logged with its reason)."""
        try:
            reason = await RevealReasonDialog.ask(self, caller)
        finally:
            self._asking_reveal = False
            self._update_actions()
        if reason is None or self._current_id != session_id:
            return  # cancelled, or the person moved on to another session meanwhile
        self.reveal_action.setEnabled(False)  # until the server answers
        self.reveal_requested.emit(session_id, reason)

    def _on_mask_triggered(self) -> None:
        self.view.set_revealed(False)
        self._update_actions()

    def show_revealed(self, session_id: str, phone: str, id_number: str) -> None:
        self.view.show_revealed(session_id, phone, id_number)
        self._update_actions()

    def reveal_failed(self, message: str) -> None:
        self.show_message(message, error=True)
        self._update_actions()

    def _on_guide_triggered(self) -> None:
        s = self._session_or_none()
        if s is None or not s.matter_code:
            return
        self.show_tool(self.guide)
        self.guide.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _on_add_note_triggered(self) -> None:
        s = self._session_or_none()
        if s is None:
            return
        text = self.view.note_edit.toPlainText().strip()
        if not text:
            self.show_message(self.tr("备注内容不能为空"), error=True)
            self.view.note_edit.setFocus()
            return
        if len(text) > 4000:
            self.show_message(self.tr("备注过长（最多 4000 字）"), error=True)
            return
        self.note_requested.emit(s.id, text)


def answer_with_source(entry: KnowledgeEntry) -> str:
    """A knowledge answer as it goes into a note: the question, the answer, its source."""
    source = "，".join(
        part
        for part in (
            entry.issuing_unit,
            entry.kind,
            f"第 {entry.version} 版",
            entry.source,
        )
        if part
    )
    return f"【知识库】{entry.title}\n{entry.answer.strip()}\n（来源：{source}）\n"


def guide_html(matter: MatterGuide) -> str:
    """办事指南 of a matter, for the tools area."""
    e = html.escape

    def items(values: list[str]) -> str:
        return "".join(f"<li>{e(v)}</li>" for v in values) or "<li>—</li>"

    materials = "".join(
        f"<li><b>{e(str(m.get('name', '')))}</b>"
        f"（{e(str(m.get('form') or ''))}{'，必交' if m.get('required') else '，视情况提交'}）"
        + (
            f"<br><span style='color:#616161'>{e(str(m.get('note')))}</span>"
            if m.get("note")
            else ""
        )
        + "</li>"
        for m in matter.materials
    )
    rows = [
        ("实施部门", matter.department),
        (
            "办理时限",
            matter.time_limit_text
            or (f"{matter.time_limit_days} 个工作日" if matter.time_limit_days else ""),
        ),
        ("收费", matter.fee or "不收费"),
        ("办理地点", matter.place),
        ("网上办理", matter.online_entry),
        ("办公时间", matter.hours),
        ("咨询电话", matter.contact),
    ]
    table = "".join(
        f"<tr><td style='color:#616161;padding-right:8px'>{e(k)}</td><td>{e(v)}</td></tr>"
        for k, v in rows
        if v
    )
    return (
        f"<h3>{e(matter.name)}</h3><p>{e(matter.summary)}</p>"
        f"<table>{table}</table>"
        f"<h4>受理条件</h4><ul>{items(matter.conditions)}</ul>"
        f"<h4>申请材料</h4><ul>{materials or '<li>—</li>'}</ul>"
        f"<h4>办理流程</h4><ol>{''.join(f'<li>{e(s)}</li>' for s in matter.steps)}</ol>"
        f"<h4>设定依据</h4><ul>{items(matter.legal_basis)}</ul>"
    )
