"""班组: the team lead's board, the team's figures and the rectification list.

Three tabs:

* 看板 — the team's members (presence from heartbeats, load against capacity, the
  walkthrough step they are on, whether a screen share is live), the unassigned
  queue and each member's open sessions; callers waiting too long turn amber and
  red. Drag a session onto a member to reassign it (a reason is asked), or use the
  dialog; "move all" empties the queue of a member who went offline. A
  reassignment not accepted within ``reassign_accept_minutes`` raises an alert.
* 统计 — the figures of a day, a week or a month from ``GET /team/figures``, as
  charts and a table, exported to CSV or XLSX.
* 差评整改 — the team's rectifications (pull kind ``rectification``), overdue ones
  in red; assign, record and close them.

The board comes from ``GET /team/board`` and is fetched again when a live event
concerns the team (the console's event adapter), every 20 s while it is shown (so
"away" and waiting times stay true), and after every sync. When the server cannot
be reached the board is built from the local cache and says so.

Every write goes through the outbox: a reassignment is the console's
``session`` / ``reassign`` (a compare-and-set on the assignee the lead saw), a
rectification step is ``rectification`` / ``assign``, ``record`` or ``close``. The
pane follows each queued action until the server answers and shows a refusal in
the server's words.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import partial
from typing import Any

from PySide6.QtCore import QDate, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.board import Board, BoardSession, spread_plan, unaccepted_reassignments
from core.calendar import WorkCalendar
from core.enums import Presence, Role
from core.figures import Period, TeamFigures
from core.figures_export import export_file_name, write_csv, write_xlsx
from core.localstore.changes import Changes
from core.localstore.session_actions import ActionResult, Me, ReassignRequest, SessionActions
from core.localstore.team_actions import TeamActions
from core.rectifications import Rectification
from core.settings import ClientSettings
from sync.account import Account
from sync.errors import BadResponse, Forbidden, SyncError
from ui.banner import Banner
from ui.dialogs.session_dialogs import Choice, ReassignDialog
from ui.dialogs.team_dialogs import (
    SPREAD,
    ExportDialog,
    MoveAllDialog,
    ReassignReasonDialog,
    RectificationDialog,
)
from ui.folders import FIGURES_EXPORT, remember_folder, start_folder
from ui.models.team_board import AgentBoardModel, BoardSessionModel
from ui.models.team_figures import FiguresTableModel, RectificationModel
from ui.operations import Op, Operations
from ui.tasks import cancel_owned, owned_slot, spawn
from ui.team_charts import FiguresCharts
from ui.worker import Workers

log = logging.getLogger(__name__)

BOARD_EVENTS = frozenset(
    {
        "session_waiting",
        "session_assigned",
        "session_updated",
        "session_reassigned",
        "session_transferred",
        "queue_changed",
        "presence_changed",
        "evaluation_recorded",
        "rectification_opened",
        "rectification_updated",
        "share_link",
    }
)
"""Live events after which the board is fetched again (other kinds refresh it too when
they name the team). Walkthrough saves and share-link changes announced only to the
agent reach the board with the next sync round (``on_data_changed``)."""

REFRESH_SECONDS = 20


@dataclass(frozen=True)
class PendingAction:
    """A queued action the pane waits to hear about."""

    what: str
    """In words, for the message: 「改派“…”给 王芳」."""
    session_id: str = ""


HEADER_STYLE = (
    "QHeaderView::section { padding: 4px 10px; border: none; border-right: 1px solid #dfe3e8;"
    " border-bottom: 1px solid #cfd6dd; background: #f3f5f8; color: #37474f; }"
)


def _table(view: QTableView) -> QTableView:
    view.horizontalHeader().setStyleSheet(HEADER_STYLE)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.verticalHeader().hide()
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.horizontalHeader().setHighlightSections(False)
    return view


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-size: 14px; font-weight: 600; color: #263238;")
    return label


class TeamBoardPane(QWidget):
    """The lead's page of the main window."""

    local_change_made = Signal()
    """An action went into the outbox: push it now (only when the pane runs its own
    :class:`ui.operations.Operations`; in the window, the window's tells sync)."""
    alert_raised = Signal(str, str)
    """(title, text) of an alert for the tray (a reassignment not accepted in time)."""
    board_shown = Signal()
    figures_shown = Signal()
    action_answered = Signal(str, str)
    """(mutation id, ``done`` or ``refused``) once the server has answered."""

    TAB_BOARD, TAB_FIGURES, TAB_RECTIFICATIONS = range(3)

    def __init__(
        self,
        workers: Workers,
        account: Account,
        settings: ClientSettings,
        parent: QWidget | None = None,
        *,
        ops: Operations | None = None,
    ) -> None:
        super().__init__(parent)
        self.workers = workers
        if ops is None:
            # On its own: tell whoever wires the pane, and refresh itself.
            ops = Operations(workers, local_change=self.local_change_made.emit, parent=self)
            ops.add_listener(self.on_data_changed)
        self.ops = ops
        self.account = account
        self.settings = settings
        user = account.user
        self.me = Me(user.id, user.display_name, user.role, user.team_id)
        self.session_actions = SessionActions(account.store, self.me)
        self.team_actions = TeamActions(account.store)
        self.now = datetime.now
        self.board: Board | None = None
        self._fetched_at = self.now()
        self.figures: TeamFigures | None = None
        self.team_name = ""
        self.calendar = WorkCalendar.builtin()
        self.pending: dict[str, PendingAction] = {}
        self.alerted: set[tuple[str, str]] = set()
        self._refresh_task: asyncio.Task[None] | None = None
        self._refresh_again = False
        self._stale = True

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_board_page(), self.tr("看板"))
        self.tabs.addTab(self._build_figures_page(), self.tr("统计"))
        self.tabs.addTab(self._build_rectifications_page(), self.tr("差评整改"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.tabs)
        # Ctrl+1…3 for the tabs, live while the page is shown, wherever the focus is.
        self.tab_shortcuts: list[QShortcut] = []
        for tab in range(self.tabs.count()):
            shortcut = QShortcut(QKeySequence(f"Ctrl+{tab + 1}"), self)
            shortcut.activated.connect(lambda t=tab: self._on_tab_shortcut(t))
            self.tab_shortcuts.append(shortcut)
            self.tabs.setTabToolTip(tab, f"{self.tabs.tabText(tab)}（Ctrl+{tab + 1}）")

        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick_timeout)
        self._tick.start()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(REFRESH_SECONDS * 1000)
        self._refresh_timer.timeout.connect(self._on_refresh_timer_timeout)
        self._refresh_timer.start()
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self._on_debounce_timeout)

    def take_focus(self) -> None:
        """The page came to the front: the agents (看板), the figures (统计), or the list
        of rectifications (差评整改)."""
        tab = self.tabs.currentIndex()
        if tab == self.TAB_FIGURES:
            target = self.figures_view if self.figures is not None else self.compute_button
        elif tab == self.TAB_RECTIFICATIONS:
            target = self.rect_view
        else:
            target = self.agents_view
        target.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _on_tab_shortcut(self, tab: int) -> None:
        self.tabs.setCurrentIndex(tab)
        self.take_focus()

    # -- building ---------------------------------------------------------------------------

    def _build_board_page(self) -> QWidget:
        page = QWidget()
        self.summary = QLabel()
        self.summary.setObjectName("boardSummary")
        self.summary.setStyleSheet("font-size: 13px; color: #37474f;")
        self.updated_label = QLabel()
        self.updated_label.setStyleSheet("color: #757575;")
        self.refresh_button = QPushButton(self.tr("刷新"))
        self.refresh_button.setToolTip(self.tr("立即从服务器刷新看板"))
        header = QHBoxLayout()
        header.addWidget(self.summary, 1)
        header.addWidget(self.updated_label)
        header.addWidget(self.refresh_button)

        self.banner = QLabel()
        self.banner.setObjectName("boardBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            "background: #eceff1; color: #37474f; padding: 6px 10px; border-radius: 4px;"
        )
        self.banner.hide()
        self.alert = QLabel()
        self.alert.setObjectName("boardAlert")
        self.alert.setWordWrap(True)
        self.alert.setStyleSheet(
            "background: #fff3cd; color: #6d4c00; padding: 6px 10px; border: 1px solid #f0c36d;"
            " border-radius: 4px;"
        )
        self.alert.hide()
        self.message = Banner("boardMessage")

        self.agent_model = AgentBoardModel(self)
        self.agents_view = _table(QTableView())
        self.agents_view.setObjectName("agentsView")
        self.agents_view.setModel(self.agent_model)
        self.agents_view.setAcceptDrops(True)
        self.agents_view.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.agents_view.setDropIndicatorShown(True)
        self.agents_view.setDefaultDropAction(Qt.DropAction.MoveAction)
        header_view = self.agents_view.horizontalHeader()
        header_view.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The walkthrough step can be long: a set width, elided, the full text on hover;
        # on a narrow screen the list scrolls sideways rather than squeezing it away.
        header_view.setSectionResizeMode(
            AgentBoardModel.COL_WALKTHROUGH, QHeaderView.ResizeMode.Interactive
        )
        header_view.resizeSection(AgentBoardModel.COL_WALKTHROUGH, 120)
        header_view.setStretchLastSection(True)
        self.move_all_button = QPushButton(self.tr("改派其全部在办…"))
        self.move_all_button.setToolTip(
            self.tr("把所选坐席名下未办结的会话全部改派（如坐席已离线）")
        )
        self.move_all_button.setEnabled(False)
        self.show_all_button = QPushButton(self.tr("显示全部会话"))
        self.show_all_button.setEnabled(False)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(_heading(self.tr("班组成员")))
        hint = QLabel(self.tr("把右侧的会话拖到坐席上即可改派"))
        hint.setStyleSheet("color: #757575;")
        left_layout.addWidget(hint)
        left_layout.addWidget(self.agents_view, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.move_all_button)
        buttons.addWidget(self.show_all_button)
        buttons.addStretch(1)
        left_layout.addLayout(buttons)

        self.queue_model = BoardSessionModel(self)
        self.queue_model.set_filter(lambda s: s.assignee_id is None)
        self.queue_view = self._session_view(self.queue_model, "queueView")
        self.sessions_model = BoardSessionModel(self)
        self.sessions_model.set_filter(lambda s: s.assignee_id is not None)
        self.sessions_view = self._session_view(self.sessions_model, "sessionsView")
        self.queue_title = _heading(self.tr("待接入队列"))
        self.sessions_title = _heading(self.tr("在办会话"))
        self.reassign_button = QPushButton(self.tr("改派…"))
        self.reassign_button.setToolTip(self.tr("把所选会话改派给另一位坐席"))
        self.reassign_button.setEnabled(False)
        queue_box = QWidget()
        queue_layout = QVBoxLayout(queue_box)
        queue_layout.setContentsMargins(0, 0, 0, 0)
        queue_layout.addWidget(self.queue_title)
        queue_layout.addWidget(self.queue_view)
        sessions_box = QWidget()
        sessions_layout = QVBoxLayout(sessions_box)
        sessions_layout.setContentsMargins(0, 0, 0, 0)
        title_row = QHBoxLayout()
        title_row.addWidget(self.sessions_title, 1)
        title_row.addWidget(self.reassign_button)
        sessions_layout.addLayout(title_row)
        sessions_layout.addWidget(self.sessions_view)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(queue_box)
        right.addWidget(sessions_box)
        right.setSizes([220, 380])

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([480, 780])

        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 6, 4, 4)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        layout.addWidget(self.alert)
        layout.addWidget(self.message)
        layout.addWidget(split, 1)

        self.refresh_button.clicked.connect(self._on_refresh_button_clicked)
        self.agent_model.session_dropped.connect(self._on_agent_model_session_dropped)
        self.agents_view.selectionModel().selectionChanged.connect(
            self._on_agents_selection_changed
        )
        self.show_all_button.clicked.connect(self._on_show_all_button_clicked)
        self.move_all_button.clicked.connect(self._on_move_all_button_clicked)
        self.reassign_button.clicked.connect(self._on_reassign_button_clicked)
        for view in (self.queue_view, self.sessions_view):
            view.selectionModel().selectionChanged.connect(self._on_session_selection_changed)
        return page

    def _session_view(self, model: BoardSessionModel, name: str) -> QTableView:
        view = _table(QTableView())
        view.setObjectName(name)
        view.setModel(model)
        view.setDragEnabled(True)
        view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        view.setDefaultDropAction(Qt.DropAction.MoveAction)
        header = view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(BoardSessionModel.COL_SUMMARY, QHeaderView.ResizeMode.Stretch)
        # A script title and step can be long: a fixed width, elided, the full text on hover.
        header.setSectionResizeMode(
            BoardSessionModel.COL_WALKTHROUGH, QHeaderView.ResizeMode.Interactive
        )
        header.resizeSection(BoardSessionModel.COL_WALKTHROUGH, 120)
        header.setMinimumSectionSize(48)
        return view

    def _build_figures_page(self) -> QWidget:
        page = QWidget()
        self.period_combo = QComboBox()
        for period, text in ((Period.DAY, "日"), (Period.WEEK, "周"), (Period.MONTH, "月")):
            self.period_combo.addItem(self.tr(text), period.value)
        self.date_edit = QDateEdit(QDate.currentDate())
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.compute_button = QPushButton(self.tr("统计"))
        self.export_button = QPushButton(self.tr("导出…"))
        self.export_button.setEnabled(False)
        self.figures_label = QLabel()
        self.figures_label.setStyleSheet("color: #455a64;")
        controls = QHBoxLayout()
        controls.addWidget(QLabel(self.tr("周期")))
        controls.addWidget(self.period_combo)
        controls.addWidget(QLabel(self.tr("日期")))
        controls.addWidget(self.date_edit)
        controls.addWidget(self.compute_button)
        controls.addSpacing(12)
        controls.addWidget(self.figures_label, 1)
        controls.addWidget(self.export_button)
        self.figures_rect = QLabel()
        self.figures_rect.setObjectName("figuresRectifications")
        self.figures_rect.setWordWrap(True)
        self.figures_rect.hide()
        self.figures_error = QLabel()
        self.figures_error.setObjectName("figuresError")
        self.figures_error.setWordWrap(True)
        self.figures_error.setStyleSheet("color: #b3261e;")
        self.figures_error.hide()
        self.charts = FiguresCharts()
        self.figures_model = FiguresTableModel(self)
        self.figures_view = QTableView()
        self.figures_view.setObjectName("figuresView")
        self.figures_view.setModel(self.figures_model)
        self.figures_view.setAlternatingRowColors(True)
        self.figures_view.horizontalHeader().setStyleSheet(HEADER_STYLE)
        self.figures_view.verticalHeader().setStyleSheet(
            HEADER_STYLE.replace("padding: 4px 10px", "padding: 1px 10px")
        )
        self.figures_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.figures_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.figures_view.horizontalHeader().setMinimumSectionSize(80)
        self.figures_view.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        # The table beside the charts: the whole height for its rows (ten and more at
        # 1366×768, every indicator at 1920×1080), the charts two by two on the right.
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("figuresSplitter")
        split.addWidget(self.figures_view)
        split.addWidget(self.charts)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 6)
        split.setChildrenCollapsible(False)
        split.setSizes([500, 600])
        self.figures_split = split
        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 6, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.figures_error)
        layout.addWidget(self.figures_rect)
        layout.addWidget(split, 1)
        self.compute_button.clicked.connect(self._on_compute_button_clicked)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        return page

    def _build_rectifications_page(self) -> QWidget:
        page = QWidget()
        self.rect_summary = QLabel()
        self.rect_summary.setObjectName("rectificationSummary")
        self.show_closed = QCheckBox(self.tr("显示已办结"))
        self.handle_button = QPushButton(self.tr("处理…"))
        self.handle_button.setEnabled(False)
        controls = QHBoxLayout()
        controls.addWidget(self.rect_summary, 1)
        controls.addWidget(self.show_closed)
        controls.addWidget(self.handle_button)
        self.rect_message = Banner("rectificationMessage")
        self.rect_model = RectificationModel(self)
        self.rect_view = _table(QTableView())
        self.rect_view.setObjectName("rectificationsView")
        self.rect_view.setModel(self.rect_model)
        header = self.rect_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(RectificationModel.COL_SUMMARY, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 6, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.rect_message)
        layout.addWidget(self.rect_view, 1)
        self.show_closed.toggled.connect(self._on_show_closed_toggled)
        self.handle_button.clicked.connect(self._on_handle_button_clicked)
        self.rect_view.doubleClicked.connect(self._on_rect_view_double_clicked)
        self.rect_view.selectionModel().selectionChanged.connect(self._on_rect_selection_changed)
        return page

    # -- what the main window calls -------------------------------------------------------

    def server_now(self) -> datetime:
        """The server's time now (its clock may differ from this PC's)."""
        if self.board is None:
            return self.now()
        return self.board.generated_at + (self.now() - self._fetched_at)

    async def reload(self) -> None:
        """Fetch the board and reload the rectifications."""
        await self.refresh_board()
        await self.load_rectifications()

    def on_data_changed(self, changes: Changes) -> None:
        """A sync round (or a local action) changed the cache."""
        self._spawn(self._after_data_changed(changes))

    def on_live_events(self, events: Sequence[Any]) -> None:
        """Live events arrived (``sync.events.LiveEvent``): refresh when they concern us."""
        if any(getattr(e, "kind", "") in BOARD_EVENTS for e in events) or any(
            (getattr(e, "payload", None) or {}).get("team_id") == self.me.team_id for e in events
        ):
            self.request_refresh()

    def request_refresh(self) -> None:
        """Fetch the board soon (several events in a burst make one fetch)."""
        if self.isVisible():
            self._debounce.start()
        else:
            self._stale = True

    # -- loading ----------------------------------------------------------------------------

    async def refresh_board(self) -> None:
        """Fetch the board now; a fetch already running is followed by one more, and
        every caller returns once the board shown is at least as new as the call."""
        if self._refresh_task is not None and not self._refresh_task.done():
            self._refresh_again = True
            await asyncio.shield(self._refresh_task)
            return
        self._refresh_task = self._spawn(self._refresh_loop())
        await asyncio.shield(self._refresh_task)

    async def _refresh_loop(self) -> None:
        self.refresh_button.setEnabled(False)
        try:
            while True:
                self._refresh_again = False
                await self._load_board()
                if not self._refresh_again:
                    break
        finally:
            self.refresh_button.setEnabled(True)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Background work of this pane; :meth:`stop` cancels what is still running."""
        return spawn(coro, owner=self)

    async def _load_board(self) -> None:
        problem = ""
        try:
            data = await self.ops.fetch(self.account.api.get, "/team/board")
            # Waiting callers are judged by this desk's first-response target, as in the
            # session console, whatever the server's default.
            board = replace(
                Board.from_wire(data), first_response_seconds=self.settings.first_response_seconds
            )
        except Forbidden as exc:
            self._show_banner(exc.message)
            return
        except SyncError as exc:
            problem = exc.message
            board = None
        except (KeyError, TypeError, ValueError):
            problem = self.tr("服务器返回的看板数据格式不对")
            board = None
        if board is None:
            board = await self.ops.query(
                partial(
                    self.team_actions.cached_board,
                    self.me.team_id or "",
                    now=self.now(),
                    first_response_seconds=self.settings.first_response_seconds,
                    timeout_seconds=90.0,
                )
            )
            self._show_banner(
                self.tr(
                    "无法从服务器获取看板（{0}），以下为本地缓存的数据，坐席状态可能不是最新。"
                ).format(problem)
            )
        else:
            self.banner.hide()
        self._fetched_at = self.now()
        self._stale = False
        self.show_board(board)

    def _show_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()

    def show_board(self, board: Board) -> None:
        """Show a board (plain values) in the three lists."""
        selected = self.selected_agent_id()
        self.board = board
        for model in (self.queue_model, self.sessions_model):
            model.now = self.server_now
        self.agent_model.set_board(board)
        self.queue_model.set_board(board)
        self._filter_sessions(selected)
        if selected is not None:
            row = self.agent_model.row_of(selected)
            if row >= 0:
                self.agents_view.selectRow(row)
        self.queue_title.setText(self.tr("待接入队列（{0}）").format(len(board.queue)))
        self._update_summary()
        when = self.server_now().strftime("%H:%M:%S")
        source = self.tr("本地缓存") if board.from_cache else self.tr("服务器")
        self.updated_label.setText(self.tr("{0} 更新（{1}）").format(when, source))
        self._check_return_timers()
        self.board_shown.emit()

    def _filter_sessions(self, agent_id: int | None) -> None:
        if self.board is None:
            return
        if agent_id is None:
            self.sessions_model.set_filter(lambda s: s.assignee_id is not None)
            self.sessions_title.setText(self.tr("在办会话（全部坐席）"))
        else:
            self.sessions_model.set_filter(lambda s: s.assignee_id == agent_id)
            agent = self.board.agent(agent_id)
            name = agent.display_name if agent else ""
            self.sessions_title.setText(self.tr("{0} 的在办会话").format(name))
        self.sessions_model.set_board(self.board)
        self.show_all_button.setEnabled(agent_id is not None)
        self.move_all_button.setEnabled(
            agent_id is not None and bool(self.board.sessions_of(agent_id))
        )
        self.reassign_button.setEnabled(self._selected_session() is not None)

    def _update_summary(self) -> None:
        board = self.board
        if board is None:
            return
        counts = {p: 0 for p in Presence}
        for a in board.agents:
            counts[a.presence_enum] += 1
        target = board.first_response_seconds
        now = self.server_now()
        late = sum(
            1 for s in board.sessions if (w := s.waited_seconds(now)) is not None and w >= target
        )
        parts = [f"{p.label} {counts[p]}" for p in Presence]
        text = "　".join(parts)
        text += self.tr("　｜　待接入 {0}").format(len(board.queue))
        if late:
            text += self.tr("　<span style='color:#b3261e'><b>超时未响应 {0}</b></span>").format(
                late
            )
        self.summary.setText(text)

    async def load_rectifications(self) -> None:
        rows = await self.ops.query(self.team_actions.rectifications)
        agents = await self.ops.query(self.team_actions.team_agents, self.me.team_id)
        calendar = await self.ops.query(self.session_actions.calendar)
        self.calendar = calendar
        names = {a.id: a.display_name for a in agents}
        shown = rows if self.show_closed.isChecked() else [r for r in rows if not r.is_closed]
        selected = self._selected_rectification()
        self.rect_model.set_rectifications(shown, names, calendar)
        if selected is not None:
            row = self.rect_model.row_of(selected.id)
            if row >= 0:
                self.rect_view.selectRow(row)
        today = self.rect_model.today()
        open_rows = [r for r in rows if not r.is_closed]
        overdue = sum(1 for r in open_rows if r.overdue(today))
        text = self.tr("未办结 {0} 个").format(len(open_rows))
        if overdue:
            text += self.tr("，<span style='color:#b3261e'><b>逾期 {0} 个</b></span>").format(
                overdue
            )
        self.rect_summary.setText(text)
        index = self.tabs.indexOf(self.tabs.widget(self.TAB_RECTIFICATIONS))
        label = (
            self.tr("差评整改（{0}）").format(len(open_rows)) if open_rows else self.tr("差评整改")
        )
        self.tabs.setTabText(index, label)

    async def _after_data_changed(self, changes: Changes) -> None:
        if "rectification" in changes.kinds or "agent" in changes.kinds:
            await self.load_rectifications()
        if changes.kinds & {"session", "agent", "walkthrough_run", "share_link"}:
            self.request_refresh()
        await self._follow_pending()

    async def _follow_pending(self) -> None:
        """Tell the lead what became of queued actions the server has answered."""
        for mutation_id, action in list(self.pending.items()):
            outcome = await self.ops.query(self.team_actions.outcome, mutation_id)
            if outcome.state == "queued":
                continue
            self.pending.pop(mutation_id, None)
            if outcome.state == "refused":
                self.show_message(
                    self.tr("{0}未成功：{1}").format(action.what, outcome.reason), error=True
                )
            else:
                self.show_message(self.tr("{0}已完成").format(action.what))
            self.action_answered.emit(mutation_id, outcome.state)
            self.request_refresh()

    # -- messages -----------------------------------------------------------------------------

    def show_message(self, text: str, *, error: bool = False) -> None:
        for banner in (self.message, self.rect_message):
            banner.say(text, error=error)

    def _check_return_timers(self) -> None:
        """The return timer: reassignments the new assignee has not accepted in time."""
        board = self.board
        if board is None:
            return
        minutes = max(0, int(self.settings.reassign_accept_minutes))
        late = unaccepted_reassignments(board, self.server_now(), minutes)
        if not late:
            self.alert.hide()
            return
        lines = []
        for item in late:
            r = item.reassignment
            waited = int((self.server_now() - r.at).total_seconds() // 60)
            summary = item.session.summary[:24]
            lines.append(
                self.tr("⚠ 会话「{0}」{1} 分钟前由 {2} 改派给 {3}，至今未接入").format(
                    summary, waited, r.by, r.to
                )
            )
            key = (item.session.id, r.at.isoformat())
            if key not in self.alerted:
                self.alerted.add(key)
                self.alert_raised.emit(
                    self.tr("改派未被接入"),
                    self.tr("{0} 超过 {1} 分钟未接入改派的会话：{2}").format(
                        r.to, minutes, summary
                    ),
                )
        self.alert.setText("\n".join(lines))
        self.alert.show()

    # -- selection helpers ----------------------------------------------------------------

    def selected_agent_id(self) -> int | None:
        rows = self.agents_view.selectionModel().selectedRows()
        if not rows:
            return None
        agent = self.agent_model.agent_at(rows[0].row())
        return agent.id if agent else None

    def _selected_session(self) -> BoardSession | None:
        for view, model in (
            (self.sessions_view, self.sessions_model),
            (self.queue_view, self.queue_model),
        ):
            rows = view.selectionModel().selectedRows()
            if rows and view.hasFocus():
                return model.session_at(rows[0].row())
        for view, model in (
            (self.sessions_view, self.sessions_model),
            (self.queue_view, self.queue_model),
        ):
            rows = view.selectionModel().selectedRows()
            if rows:
                return model.session_at(rows[0].row())
        return None

    def _selected_rectification(self) -> Rectification | None:
        rows = self.rect_view.selectionModel().selectedRows()
        return self.rect_model.rectification_at(rows[0].row()) if rows else None

    def _agent_name(self, agent_id: int | None) -> str:
        if agent_id is None or self.board is None:
            return ""
        agent = self.board.agent(agent_id)
        return agent.display_name if agent else f"#{agent_id}"

    def _agent_choices(self, exclude: int | None) -> list[Choice]:
        if self.board is None:
            return []
        return [
            Choice(
                a.id,
                f"{a.display_name}（{a.presence_enum.label}，在办 {a.load}/{a.capacity}）",
            )
            for a in self.board.agents
            if a.id != exclude
        ]

    # -- reassigning ----------------------------------------------------------------------

    async def reassign(
        self,
        session_id: str,
        expected_assignee_id: int | None,
        to_agent_id: int,
        reason: str,
        trigger: QWidget | None = None,
    ) -> str | None:
        """Queue a 改派 (the console's ``session`` / ``reassign``); returns its mutation id,
        or None when it could not be queued (the reason is shown)."""
        to_name = self._agent_name(to_agent_id)
        request = ReassignRequest(
            to_agent_id=to_agent_id,
            expected_assignee_id=expected_assignee_id,
            reason=reason,
            to_name=to_name,
        )
        summary = ""
        if self.board is not None and (s := self.board.session(session_id)) is not None:
            summary = s.summary[:20]

        def queued(result: ActionResult) -> None:
            self.pending[result.mutation_id] = PendingAction(
                self.tr("改派「{0}」给 {1}").format(summary, to_name), session_id
            )
            self.show_message(
                self.tr("已提交：改派「{0}」给 {1}，等待服务器确认…").format(summary, to_name)
            )

        outcome = await self.ops.run(
            Op(
                db=partial(self.session_actions.reassign, session_id, request),
                changes=lambda result: result.changes,
                outbox=True,
                success=queued,
                prefix=self.tr("改派未执行："),
                report=self._show_error,
                # A sync brings the cache up to date with what the server knows.
                failure=lambda _exc: self.ops.nudge_sync(),
                trigger=trigger,
            )
        )
        return outcome.value.mutation_id if outcome.ok and outcome.value else None

    @owned_slot(str, object, int)
    async def _on_agent_model_session_dropped(
        self, session_id: str, expected: int | None, agent_id: int
    ) -> None:
        board = self.board
        session = board.session(session_id) if board else None
        if session is None:
            self.show_message(self.tr("该会话已不在看板上，请刷新后再试"), error=True)
            return
        if agent_id == expected:
            self.show_message(self.tr("会话已在该坐席名下"), error=True)
            return
        reason = await ReassignReasonDialog.ask(
            self, session.summary, self._agent_name(expected), self._agent_name(agent_id)
        )
        if reason is None:
            return
        await self.reassign(session_id, expected, agent_id, reason)

    @owned_slot()
    async def _on_reassign_button_clicked(self) -> None:
        session = self._selected_session()
        if session is None:
            return
        request = await ReassignDialog.ask(
            self,
            self._agent_choices(session.assignee_id),
            session.assignee_id,
            self._agent_name(session.assignee_id),
        )
        if request is None:
            return
        await self.reassign(
            session.id,
            request.expected_assignee_id,
            request.to_agent_id,
            request.reason,
            trigger=self.reassign_button,
        )

    @owned_slot()
    async def _on_move_all_button_clicked(self) -> None:
        agent_id = self.selected_agent_id()
        board = self.board
        if agent_id is None or board is None:
            return
        sessions = board.sessions_of(agent_id)
        if not sessions:
            return
        answer = await MoveAllDialog.ask(
            self, self._agent_name(agent_id), len(sessions), self._agent_choices(agent_id)
        )
        if answer is None:
            return
        if answer.target == SPREAD:
            try:
                plan = [(s, a.id) for s, a in spread_plan(board, agent_id)]
            except ValueError as exc:
                self.show_message(str(exc), error=True)
                return
        else:
            plan = [(s, int(answer.target)) for s in sessions]
        queued = 0
        self.move_all_button.setEnabled(False)
        try:
            for session, target in plan:
                if await self.reassign(session.id, session.assignee_id, target, answer.reason):
                    queued += 1
        finally:
            self._filter_sessions(self.selected_agent_id())
        if queued:
            self.show_message(
                self.tr("已提交 {0} 个改派（共 {1} 个），等待服务器确认…").format(queued, len(plan))
            )

    # -- figures ------------------------------------------------------------------------------

    async def load_figures(self, period: str, day: date) -> None:
        self.figures_error.hide()
        target = self.settings.first_response_seconds

        def fetch() -> tuple[TeamFigures, str]:
            data = self.account.api.get(
                "/team/figures", period=period, date=day.isoformat(), target_seconds=target
            )
            try:
                return TeamFigures.from_wire(data), str(data.get("team_name") or "")
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise BadResponse("服务器返回的统计数据格式不对") from exc

        def shown(answer: tuple[TeamFigures, str]) -> None:
            figures, self.team_name = answer
            self.show_figures(figures)

        await self.ops.run(
            Op(
                net=fetch,
                success=shown,
                prefix=self.tr("统计未能完成："),
                report=self._show_figures_error,
                trigger=self.compute_button,
            )
        )

    def _show_figures_error(self, text: str) -> None:
        self.figures_error.setText(text)
        self.figures_error.show()

    def show_figures(self, figures: TeamFigures | None) -> None:
        self.figures = figures
        self.figures_model.set_figures(figures)
        self.charts.show_figures(figures)
        self.export_button.setEnabled(figures is not None)
        self._show_figures_rectifications(figures)
        if figures is not None:
            self.figures_label.setText(
                self.tr("{0}　首次响应目标 {1} 秒　生成于 {2}").format(
                    figures.label, figures.target_seconds, figures.generated_at.strftime("%H:%M:%S")
                )
            )
        self.figures_shown.emit()

    def _show_figures_rectifications(self, figures: TeamFigures | None) -> None:
        """The open rectifications and their deadlines, under the controls."""
        if figures is None or not figures.rectifications:
            self.figures_rect.setText(self.tr("当前没有未办结的差评整改。"))
            self.figures_rect.setVisible(figures is not None)
            return
        parts = []
        for r in figures.rectifications[:6]:
            name = figures.agent_names.get(r.assignee_id or -1, self.tr("未分派"))
            if r.overdue:
                left = self.tr("<b style='color:#b3261e'>逾期 {0} 个工作日</b>").format(
                    -r.working_days_left
                )
            else:
                left = self.tr("剩 {0} 个工作日").format(r.working_days_left)
            parts.append(f"{r.deadline:%m-%d}（{name}，{left}）")
        more = len(figures.rectifications) - len(parts)
        text = self.tr("未办结差评整改 {0} 个，期限：").format(len(figures.rectifications))
        text += "；".join(parts) + (self.tr(" 等") if more > 0 else "")
        self.figures_rect.setText(text)
        self.figures_rect.show()

    @owned_slot()
    async def _on_compute_button_clicked(self) -> None:
        period = str(self.period_combo.currentData())
        day = self.date_edit.date().toPython()
        await self.load_figures(period, day)  # type: ignore[arg-type]

    @owned_slot()
    async def _on_export_button_clicked(self) -> None:
        figures = self.figures
        if figures is None:
            return
        name = export_file_name(figures.period, figures.day, self.team_name)
        path = await ExportDialog.ask(self, start_folder(FIGURES_EXPORT) / name)
        if path is None:
            return
        writer = write_csv if path.suffix.lower() == ".csv" else write_xlsx

        def exported(_none: None) -> None:
            remember_folder(FIGURES_EXPORT, path)
            self.figures_error.hide()
            self.figures_label.setText(self.tr("已导出到 {0}").format(path))

        def failed(text: str) -> None:
            self.show_message(text, error=True)
            self._show_figures_error(text)

        await self.ops.run(
            Op(
                db=partial(writer, path, figures, self.team_name),
                success=exported,
                prefix=self.tr("导出失败："),
                report=failed,
                expected=(OSError,),
                trigger=self.export_button,
            )
        )

    # -- rectifications ---------------------------------------------------------------------

    def _member_choices(self) -> list[Choice]:
        board = self.board
        if board is None:
            return []
        return [
            Choice(a.id, a.display_name + ("（班组长）" if a.role == Role.LEAD.value else ""))
            for a in board.agents
        ]

    async def handle_rectification(self, rectification: Rectification) -> None:
        answer = await RectificationDialog.ask(self, rectification, self._member_choices())
        if answer is None:
            return
        rid = rectification.id
        what = self.tr("差评整改「{0}」").format(rectification.summary[:16])
        # (mutation id, what) of each step queued, even when a later one is refused.
        queued: list[tuple[str, str]] = []

        def apply() -> Changes:
            changes = Changes()
            steps = []
            if answer.assignee_id is not None and answer.assignee_id != rectification.assignee_id:
                steps.append(
                    (
                        self.tr("分派"),
                        partial(
                            self.team_actions.assign,
                            rid,
                            answer.assignee_id,
                            rectification.assignee_id,
                        ),
                    )
                )
            if answer.close:
                steps.append((self.tr("办结"), partial(self.team_actions.close, rid, answer.texts)))
            elif any(answer.texts[k] != getattr(rectification, k) for k in answer.texts) and any(
                answer.texts.values()
            ):
                steps.append(
                    (self.tr("保存"), partial(self.team_actions.record, rid, answer.texts))
                )
            for label, step in steps:
                mid, touched = step()
                queued.append((mid, label + what))
                changes.merge(touched)
            return changes

        def follow(_result: object = None) -> None:
            for mid, text in queued:
                self.pending[mid] = PendingAction(text)

        outcome = await self.ops.run(
            Op(
                db=apply,
                changes=lambda changes: changes,
                outbox=True,
                success=follow,
                failure=follow,
                report=self._show_error,
                trigger=self.handle_button,
            )
        )
        if not outcome.ok and queued:
            # A later step was refused after an earlier one went into the outbox.
            await self.ops.changed(Changes({"rectification"}))
            await self.ops.outbox_grew()

    def _show_error(self, text: str) -> None:
        self.show_message(text, error=True)

    @owned_slot()
    async def _on_handle_button_clicked(self) -> None:
        rectification = self._selected_rectification()
        if rectification is not None:
            await self.handle_rectification(rectification)

    @owned_slot(QModelIndex)
    async def _on_rect_view_double_clicked(self, index: QModelIndex) -> None:
        rectification = self.rect_model.rectification_at(index.row())
        if rectification is not None:
            await self.handle_rectification(rectification)

    def _on_rect_selection_changed(self, *_args: Any) -> None:
        selected = self._selected_rectification()
        self.handle_button.setEnabled(selected is not None and not selected.is_closed)

    @owned_slot(bool)
    async def _on_show_closed_toggled(self, _checked: bool) -> None:
        await self.load_rectifications()

    # -- slots ----------------------------------------------------------------------------------

    def _on_agents_selection_changed(self, *_args: Any) -> None:
        self._filter_sessions(self.selected_agent_id())

    def _on_show_all_button_clicked(self) -> None:
        self.agents_view.clearSelection()
        self._filter_sessions(None)

    def _on_session_selection_changed(self, *_args: Any) -> None:
        self.reassign_button.setEnabled(self._selected_session() is not None)

    @owned_slot()
    async def _on_refresh_button_clicked(self) -> None:
        await self.refresh_board()

    def _on_tick_timeout(self) -> None:
        self.queue_model.tick()
        self.sessions_model.tick()
        if self.board is not None:
            self._update_summary()
            self._check_return_timers()

    def _on_refresh_timer_timeout(self) -> None:
        if self.isVisible():
            self._spawn(self.refresh_board())
        else:
            self._stale = True

    def _on_debounce_timeout(self) -> None:
        self._spawn(self.refresh_board())

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._debounce.start()

    def stop(self) -> None:
        """The window closes: no more timers, and background work is cancelled."""
        for timer in (self._tick, self._refresh_timer, self._debounce):
            timer.stop()
        for banner in (self.message, self.rect_message):
            banner.stop()
        cancel_owned(self)
