"""The main window: navigation, panes, status bar, and every cross-widget connection."""

from __future__ import annotations

import logging
from datetime import datetime

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QWidget,
)
from qasync import asyncSlot

from core.enums import Role, SessionState
from core.localstore.changes import Changes
from core.settings import ClientSettings
from sync.account import Account
from sync.connectivity import Connectivity, ConnState
from ui.panes.knowledge import KnowledgePane
from ui.panes.sessions import SessionDetail, SessionsPane
from ui.panes.simple import TeamPane
from ui.sync_controller import SyncController
from ui.tasks import spawn
from ui.worker import Workers

log = logging.getLogger(__name__)

STATE_COLOURS = {
    ConnState.ONLINE: "#2e7d32",
    ConnState.SYNCING: "#1565c0",
    ConnState.DEGRADED: "#e65100",
    ConnState.OFFLINE: "#b3261e",
}


class MainWindow(QMainWindow):
    closed = Signal()

    PAGE_SESSIONS, PAGE_KNOWLEDGE, PAGE_WALKTHROUGHS, PAGE_TEAM = range(4)

    def __init__(self, account: Account, workers: Workers, settings: ClientSettings) -> None:
        super().__init__()
        self.account = account
        self.workers = workers
        self.settings = settings
        user = account.user
        self.is_lead = user.role in (Role.LEAD.value, Role.ADMIN.value)
        self.setWindowTitle(self.tr("帮办工作台 - {0}").format(user.display_name))
        self.resize(1280, 800)

        self.sync = SyncController(
            account,
            workers,
            interval_seconds=settings.sync_interval_seconds,
            page_limit=settings.page_limit,
        )

        # -- panes ---------------------------------------------------------------------
        self.sessions_pane = SessionsPane(first_response_seconds=settings.first_response_seconds)
        self.knowledge_pane = KnowledgePane()
        self.walkthrough_pane = QLabel(self.tr("导办脚本将在同步后显示"))
        self.walkthrough_pane.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.team_pane = TeamPane()

        self.stack = QStackedWidget()
        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setFixedWidth(150)
        self.nav.setStyleSheet(
            "QListWidget#navigation { font-size: 15px; border: none; background: #f3f5f8; }"
            "QListWidget#navigation::item { padding: 12px 16px; outline: none; }"
            "QListWidget#navigation::item:selected { background: #1565c0; color: white; }"
        )
        self._nav_items: dict[int, QListWidgetItem] = {}
        pages = [
            (self.PAGE_SESSIONS, self.tr("会话"), self.sessions_pane),
            (self.PAGE_KNOWLEDGE, self.tr("知识库"), self.knowledge_pane),
            (self.PAGE_WALKTHROUGHS, self.tr("导办脚本"), self.walkthrough_pane),
        ]
        if self.is_lead:
            pages.append((self.PAGE_TEAM, self.tr("班组"), self.team_pane))
        for page, label, widget in pages:
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, page)
            self.nav.addItem(item)
            self.stack.addWidget(widget)
            self._nav_items[page] = item
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)

        central = QWidget()
        central_layout = QHBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.nav)
        central_layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        # -- status bar -------------------------------------------------------------------
        role = Role(user.role).label
        self.user_label = QLabel(
            f"{user.display_name}（{role}，{user.staff_number or user.username}）"
        )
        self.conn_label = QLabel()
        self.conn_label.setObjectName("connectionState")
        self.last_sync_label = QLabel()
        self.sync_button = QPushButton(self.tr("同步"))
        self.sync_button.setToolTip(self.tr("立即同步 (F5)"))
        self.sync_button.setFlat(True)
        bar = self.statusBar()
        bar.addWidget(self.user_label)
        bar.addPermanentWidget(self.conn_label)
        bar.addPermanentWidget(self.last_sync_label)
        bar.addPermanentWidget(self.sync_button)

        self.sync_action = QAction(self.tr("立即同步"), self)
        self.sync_action.setShortcut(QKeySequence(Qt.Key.Key_F5))
        self.addAction(self.sync_action)

        # -- wiring ------------------------------------------------------------------------
        self.sync_button.clicked.connect(self.sync.request_sync)
        self.sync_action.triggered.connect(self.sync.request_sync)
        self.sync.connectivity_changed.connect(self._on_sync_connectivity_changed)
        self.sync.data_changed.connect(self._on_sync_data_changed)
        self.sync.problems_found.connect(self._on_sync_problems_found)
        self.sync.progress.connect(self._on_sync_progress)
        self.sessions_pane.session_selected.connect(self._on_sessions_session_selected)
        self.knowledge_pane.search_requested.connect(self._on_knowledge_search_requested)

        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self.sessions_pane.model.tick)
        self._tick.start()

        self._restore_geometry()
        self._on_sync_connectivity_changed(self.sync.state)

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Show cached data at once, then sync in the background."""
        for notice in self.account.notices:
            self.statusBar().showMessage(notice, 15000)
        spawn(self.refresh(Changes({"session", "knowledge_entry", "agent"})))
        self.sync.start()

    def _restore_geometry(self) -> None:
        qs = QSettings()
        geometry = qs.value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    def closeEvent(self, event: QCloseEvent) -> None:
        QSettings().setValue("main_window/geometry", self.saveGeometry())
        self.sync.stop()
        self._tick.stop()
        super().closeEvent(event)
        self.closed.emit()

    # -- refreshing panes ---------------------------------------------------------------

    async def refresh(self, changes: Changes) -> None:
        store = self.account.store
        if changes.sessions or changes.knowledge:
            sessions = await self.workers.on_db(store.sessions)
            matters = await self.workers.on_db(store.matters)
            names = {m.code: m.name for m in matters}
            self.sessions_pane.set_sessions(sessions, names)
            self._update_counts(sessions)
            current = self.sessions_pane.current_session_id()
            if current and (changes.session_ids & {current} or not changes.session_ids):
                await self._show_session(current)
        if changes.knowledge:
            await self._search(self.knowledge_pane.search.text().strip())
        if (changes.agents or changes.sessions) and self.is_lead:
            agents = await self.workers.on_db(store.agents)
            sessions = await self.workers.on_db(store.sessions)
            counts: dict[int, int] = {}
            for s in sessions:
                if s.assignee_id is not None and s.state != SessionState.CLOSED:
                    counts[s.assignee_id] = counts.get(s.assignee_id, 0) + 1
            self.team_pane.set_agents(agents, counts)

    def _update_counts(self, sessions: list) -> None:  # type: ignore[type-arg]
        mine = sum(
            1
            for s in sessions
            if s.assignee_id == self.account.user.id and s.state != SessionState.CLOSED
        )
        waiting = sum(1 for s in sessions if s.state == SessionState.WAITING)
        item = self._nav_items[self.PAGE_SESSIONS]
        item.setText(self.tr("会话 ({0}/{1})").format(mine, waiting))
        item.setToolTip(self.tr("我的在办 {0} 个，待接入 {1} 个").format(mine, waiting))

    async def _show_session(self, session_id: str) -> None:
        store = self.account.store
        session = await self.workers.on_db(store.session, session_id)
        if session is None:
            return
        notes = await self.workers.on_db(store.notes, session_id)
        matter = (
            await self.workers.on_db(store.matter, session.matter_code)
            if session.matter_code
            else None
        )
        agents = {a.id: a.display_name for a in await self.workers.on_db(store.agents)}
        name = agents.get(session.assignee_id or -1, "")
        if session.assignee_id == self.account.user.id:
            name = self.account.user.display_name
        self.sessions_pane.show_detail(SessionDetail(session, notes, matter, name))

    async def _search(self, text: str) -> None:
        entries = await self.workers.on_db(self.account.store.search_knowledge_simple, text)
        self.knowledge_pane.set_results(entries)

    # -- slots --------------------------------------------------------------------------

    def _on_sync_connectivity_changed(self, state: Connectivity) -> None:
        colour = STATE_COLOURS[state.state]
        text = state.state.label
        if state.pending:
            text += self.tr("，待上传 {0} 项").format(state.pending)
        self.conn_label.setText(f"<span style='color:{colour}'>●</span> {text}")
        self.conn_label.setToolTip(state.last_error or text)
        if state.last_sync is not None:
            when = state.last_sync
            fmt = "%H:%M:%S" if when.date() == datetime.now().date() else "%m-%d %H:%M"
            self.last_sync_label.setText(self.tr("上次同步 {0}").format(when.strftime(fmt)))
        else:
            self.last_sync_label.setText(self.tr("尚未同步"))
        self.sync_button.setEnabled(state.state is not ConnState.SYNCING)

    def _on_sync_progress(self, pulled: int) -> None:
        self.statusBar().showMessage(self.tr("正在下载数据… 已接收 {0} 条").format(pulled), 3000)

    @asyncSlot(object)
    async def _on_sync_data_changed(self, changes: Changes) -> None:
        await self.refresh(changes)

    def _on_sync_problems_found(self, problems: list) -> None:  # type: ignore[type-arg]
        text = "\n".join(f"• {p.reason}" for p in problems)
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            self.tr("部分操作未被服务器接受"),
            text,
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    @asyncSlot(str)
    async def _on_sessions_session_selected(self, session_id: str) -> None:
        await self._show_session(session_id)

    @asyncSlot(str)
    async def _on_knowledge_search_requested(self, text: str) -> None:
        await self._search(text)
