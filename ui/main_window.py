"""The main window: navigation, panes, status bar, and every cross-widget connection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

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

from core.entities import KnowledgeEntry
from core.enums import Role
from core.localstore.changes import Changes
from core.localstore.walkthroughs import WalkthroughStore
from core.search import KnowledgeSearch
from core.session_timeline import concerns_my_queue, describe_live_event
from core.settings import ClientSettings
from core.share_link import chat_text, usable
from sync.account import Account
from sync.connectivity import Connectivity, ConnState
from ui.asking import ask_buttons
from ui.chat_console import ChatConsole, is_chat
from ui.focus import focus_into
from ui.knowledge_backend import KnowledgeBackend
from ui.live_events import LiveEvents
from ui.notifier import Notifier
from ui.operations import Operations
from ui.panes.admin import AdminPane
from ui.panes.admin_audit import AdminAuditPane
from ui.panes.admin_integrations import AdminIntegrationsPane
from ui.panes.knowledge import KnowledgePane
from ui.panes.sessions import SessionsPane
from ui.panes.team_board import TeamBoardPane
from ui.panes.walkthroughs import WalkthroughsPane
from ui.session_console import SessionConsole, me_of
from ui.share_panel import SharePanel
from ui.sync_controller import SyncController
from ui.tasks import cancel_owned, owned_slot, spawn
from ui.walkthrough_player import WalkthroughPlayer
from ui.worker import Workers

log = logging.getLogger(__name__)

STATE_COLOURS = {
    ConnState.ONLINE: "#2e7d32",
    ConnState.SYNCING: "#1565c0",
    ConnState.DEGRADED: "#e65100",
    ConnState.OFFLINE: "#b3261e",
}


class ExitReason:
    """Why the window closed: what ``main.py`` does next."""

    QUIT = "quit"
    LOGOUT = "logout"
    SWITCH_USER = "switch_user"


class MainWindow(QMainWindow):
    closed = Signal()
    """The window has closed; ``exit_reason`` says whether to quit or sign in again."""

    PAGE_SESSIONS, PAGE_KNOWLEDGE, PAGE_WALKTHROUGHS, PAGE_TEAM, PAGE_ADMIN = range(5)

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
        # Owned by the window, so that it is destroyed on the GUI thread with it (a Python
        # garbage collection on a worker thread must never be what deletes its timers).
        self.sync.setParent(self)
        self.exit_reason = ExitReason.QUIT
        self._closing_for_real = False
        self._exit_asked = False
        # Every pane runs its work through this one helper: failures shown one way,
        # sync told once per op, and each op's changes handed to every pane (refresh).
        self.ops = Operations(workers, local_change=self.sync.local_change, parent=self)
        self.ops.add_listener(self.refresh)

        # -- panes ---------------------------------------------------------------------
        self.sessions_pane = SessionsPane(
            me=me_of(account), first_response_seconds=settings.first_response_seconds
        )
        self.console = SessionConsole(self.sessions_pane, account, workers, self.sync, self.ops)
        self.live = LiveEvents(account, self.sync, parent=self)
        self.notifier = Notifier(self, sound=settings.notify_sound)
        # Search, guides and 纠错 for both knowledge panes, on the database worker.
        self.knowledge = KnowledgeBackend(
            workers,
            account.store,
            KnowledgeSearch(account.cache.sessions),
            ops=self.ops,
        )
        # The knowledge base beside the session at hand (a second view of the same cache).
        self.session_knowledge = KnowledgePane(self.knowledge, compact=True, can_insert=True)
        self.sessions_pane.add_tool(self.session_knowledge, self.tr("知识库"))
        # 线上咨询: a chat session's conversation, in the session view (issue 13).
        self.chat = ChatConsole(
            account.store, account.api, me_of(account), self.ops, self.knowledge, parent=self
        )
        self.sessions_pane.view.set_chat_panel(self.chat.panel)
        # 远程帮办: the session's screen-share link (DESIGN.md §6).
        self.share_panel = SharePanel(workers, account.api, account.store, ops=self.ops)
        self.sessions_pane.add_tool(self.share_panel, self.tr("屏幕共享"))
        self.knowledge_pane = KnowledgePane(self.knowledge)
        self.walkthrough_store = WalkthroughStore(account.cache.sessions)
        self.walkthrough_pane = WalkthroughsPane(
            workers,
            account.store,
            self.walkthrough_store,
            account.api,
            is_admin=user.role == Role.ADMIN.value,
            ops=self.ops,
        )
        # 导办: the session's walkthrough script, step by step (DESIGN.md §7).
        self.walkthrough_player = WalkthroughPlayer(
            workers, account.store, self.walkthrough_store, user, ops=self.ops
        )
        self.sessions_pane.add_tool(self.walkthrough_player, self.tr("导办"))
        # 班组: the lead's board, figures and rectifications (leads only).
        self.team_pane = (
            TeamBoardPane(workers, account, settings, ops=self.ops) if self.is_lead else None
        )
        # 管理: feedback review, users, the working-day calendar, the audit log (admins).
        self.admin_pane = (
            AdminPane(workers, account.api, me_id=user.id, ops=self.ops)
            if user.role == Role.ADMIN.value
            else None
        )
        if self.admin_pane is not None:
            self.audit_pane = AdminAuditPane(workers, account.api, ops=self.ops)
            self.admin_pane.add_tab(self.audit_pane, self.audit_pane.title())
            self.integrations_pane = AdminIntegrationsPane(workers, account.api, ops=self.ops)
            self.admin_pane.add_tab(self.integrations_pane, self.integrations_pane.title())

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
        if self.team_pane is not None:
            pages.append((self.PAGE_TEAM, self.tr("班组"), self.team_pane))
        if self.admin_pane is not None:
            pages.append((self.PAGE_ADMIN, self.tr("管理"), self.admin_pane))
        for page, label, widget in pages:
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, page)
            self.nav.addItem(item)
            self.stack.addWidget(widget)
            self._nav_items[page] = item
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)
        self.stack.currentChanged.connect(self._on_stack_current_changed)
        self.nav.clicked.connect(self._on_nav_clicked)
        # Alt+1 … switch pages from the keyboard (the keys are in the items' tooltips).
        for row, (page, label, _widget) in enumerate(pages):
            go = QAction(label, self)
            go.setShortcut(QKeySequence(f"Alt+{row + 1}"))
            go.triggered.connect(lambda _checked=False, r=row: self._go_to_page(r))
            self.addAction(go)
            self._nav_items[page].setToolTip(f"{label}（Alt+{row + 1}）")

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
        # Live notifications stay readable here where there is no system tray.
        self.notice_label = QLabel()
        self.notice_label.setObjectName("liveNotice")
        self.notice_label.setStyleSheet("color: #1565c0; padding-left: 12px;")
        bar.addWidget(self.notice_label, 1)
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self.notice_label.clear)
        bar.addPermanentWidget(self.conn_label)
        bar.addPermanentWidget(self.last_sync_label)
        bar.addPermanentWidget(self.sync_button)

        self.sync_action = QAction(self.tr("立即同步"), self)
        self.sync_action.setShortcut(QKeySequence(Qt.Key.Key_F5))
        self.addAction(self.sync_action)

        # -- 账户: log out, switch user, quit --------------------------------------------
        self.account_menu = self.menuBar().addMenu(self.tr("账户(&U)"))
        self.account_menu.setObjectName("accountMenu")
        self.logout_action = self.account_menu.addAction(self.tr("注销"))
        self.logout_action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.switch_user_action = self.account_menu.addAction(self.tr("切换用户"))
        self.account_menu.addSeparator()
        self.quit_action = self.account_menu.addAction(self.tr("退出"))
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.logout_action.triggered.connect(lambda: self.request_exit(ExitReason.LOGOUT))
        self.switch_user_action.triggered.connect(lambda: self.request_exit(ExitReason.SWITCH_USER))
        self.quit_action.triggered.connect(lambda: self.request_exit(ExitReason.QUIT))

        # -- wiring ------------------------------------------------------------------------
        self.sync_button.clicked.connect(self._on_sync_asked)
        self.sync_action.triggered.connect(self._on_sync_asked)
        self.sync.person_sync_failed.connect(self._on_sync_person_sync_failed)
        self.sync.loop_restarted.connect(self._on_sync_loop_restarted)
        self.sync.connectivity_changed.connect(self._on_sync_connectivity_changed)
        self.sync.data_changed.connect(self._on_sync_data_changed)
        self.sync.problems_found.connect(self._on_sync_problems_found)
        self.sync.progress.connect(self._on_sync_progress)
        self.sessions_pane.counts_changed.connect(self._on_sessions_counts_changed)
        self.session_knowledge.answer_insert_requested.connect(self._on_answer_insert_requested)
        self.sessions_pane.session_selected.connect(self._on_sessions_session_selected_for_chat)
        self.chat.panel.share_link_requested.connect(self._on_chat_share_link_requested)
        self.chat.panel.notice_requested.connect(self._on_chat_notice_requested)
        self.live.events_received.connect(self._on_live_events_received)
        self.live.events_received.connect(self._on_live_events_for_share)
        if self.team_pane is not None:
            self.live.events_received.connect(self.team_pane.on_live_events)
            self.team_pane.alert_raised.connect(self._on_team_pane_alert_raised)
        self.sessions_pane.session_selected.connect(self._on_sessions_session_selected_for_share)
        self.notifier.notified.connect(self._on_notifier_notified)
        self.notifier.activated.connect(self._on_notifier_activated)
        self.menuBar().addMenu(self.sessions_pane.menu)
        self.walkthrough_pane.imported.connect(self._on_walkthrough_pane_published)
        self.walkthrough_pane.reviewed.connect(self._on_walkthrough_pane_published)
        self.sessions_pane.session_selected.connect(self._on_sessions_session_selected_for_guide)
        self.walkthrough_player.knowledge_requested.connect(
            self._on_walkthrough_player_knowledge_requested
        )

        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self.sessions_pane.tick)
        self._tick.start()

        self._restore_geometry()
        self._on_sync_connectivity_changed(self.sync.state)

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Show cached data at once, then sync in the background."""
        for notice in self.account.notices:
            self.statusBar().showMessage(notice, 15000)
        self._track(self.refresh(Changes({"session", "knowledge_entry", "agent", "walkthrough"})))
        self.sync.start()
        self.live.start()
        self._track(self.console.fetch_teams())

    def _track(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run work that belongs to this window; closing the window cancels it."""
        spawn(coro, owner=self)

    def _restore_geometry(self) -> None:
        qs = QSettings()
        geometry = qs.value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    def request_exit(self, reason: str) -> None:
        """Close the window for ``reason`` (an :class:`ExitReason`), first asking what to
        do with actions not yet uploaded, if there are any."""
        if self._exit_asked or self._closing_for_real:
            return
        self._exit_asked = True
        spawn(self._exit(reason))  # not tracked: closing the window must not cancel it

    def close_now(self, reason: str = ExitReason.QUIT) -> None:
        """Close without asking (SIGTERM: the system is going down). Unsent actions stay
        in the cache and go out after the next sign-in."""
        self.exit_reason = reason
        self._closing_for_real = True
        self.close()

    async def _exit(self, reason: str) -> None:
        try:
            while True:
                pending = await self.workers.on_db(self.account.store.outbox_size)
                if not pending:
                    break
                choice = await self.ask_unsent(pending, self.sync.state.last_error)
                if choice == 1:  # 仍然退出
                    break
                if choice != 0:  # 取消, Esc
                    return
                # 等待上传: one round (or the one in progress), then look again.
                self.statusBar().showMessage(self.tr("正在上传 {0} 项…").format(pending))
                await self.sync.sync_and_wait()
            self.close_now(reason)
        finally:
            self._exit_asked = False

    def ask_unsent(self, pending: int, last_error: str) -> asyncio.Future[int | None]:
        """等待上传 (0) / 仍然退出 (1) / 取消 (2 or None)."""
        why = self.tr("（{0}）").format(last_error) if last_error else ""
        return ask_buttons(
            self,
            self.tr("还有操作未上传"),
            self.tr("还有 {0} 项操作未上传到服务器{1}。").format(pending, why),
            [
                (self.tr("等待上传(&W)"), QMessageBox.ButtonRole.AcceptRole),
                (self.tr("仍然退出(&Q)"), QMessageBox.ButtonRole.DestructiveRole),
                (self.tr("取消"), QMessageBox.ButtonRole.RejectRole),
            ],
            icon=QMessageBox.Icon.Warning,
            informative=self.tr(
                "仍然退出时，这些操作保存在本机，下次以同一账号登录并联网后自动上传。"
            ),
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing_for_real and self.sync.state.pending:
            # Unsent actions: ask first (the answer comes back as a future, no nested loop).
            event.ignore()
            self.request_exit(ExitReason.QUIT)
            return
        self._closing_for_real = True
        QSettings().setValue("main_window/geometry", self.saveGeometry())
        self.sync.stop()
        self.live.stop()
        self.notifier.close()
        if self.team_pane is not None:
            self.team_pane.stop()
        if self.admin_pane is not None:
            self.admin_pane.stop()
        cancel_owned(self)  # whatever the window and its panes started
        self._tick.stop()
        super().closeEvent(event)
        self.closed.emit()

    # -- refreshing panes ---------------------------------------------------------------

    async def refresh(self, changes: Changes) -> None:
        await self.console.refresh(changes)
        await self.chat.refresh(changes)
        self.session_knowledge.set_insert_target(chat=self.chat.active)
        if changes.sessions or "share_link" in changes.kinds:
            self._update_share_session()
        if changes.knowledge:
            await self.knowledge_pane.reload()
            await self.session_knowledge.reload()
            # Merge the index segments the sync wrote (a full merge after a download).
            self._track(self.knowledge.maintain())
        if "walkthrough" in changes.kinds:
            await self.walkthrough_pane.reload()
        guided = self.walkthrough_player.session_id
        if guided and (
            "walkthrough" in changes.kinds
            or (
                changes.kinds & {"walkthrough_run", "session"}
                and (guided in changes.session_ids or not changes.session_ids)
            )
        ):
            await self.walkthrough_player.show_session(guided)
        if self.team_pane is not None:
            self.team_pane.on_data_changed(changes)

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
        self.share_panel.set_online(state.state is not ConnState.OFFLINE)

    def _on_sync_asked(self) -> None:
        state = self.sync.state
        if state.state is ConnState.OFFLINE:
            text = self.tr("当前离线，暂时无法同步")
            if state.last_error:
                text += self.tr("（{0}）").format(state.last_error)
            if state.pending:
                text += self.tr("；{0} 项操作已保存在本机").format(state.pending)
            text += self.tr("。网络恢复后会自动同步，正在重试连接…")
            self.statusBar().showMessage(text, 10000)
        self.sync.request_sync(by_person=True)

    def _on_sync_person_sync_failed(self, message: str) -> None:
        self.statusBar().showMessage(self.tr("同步未完成：{0}").format(message), 10000)

    def _on_sync_loop_restarted(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def _on_sync_progress(self, pulled: int) -> None:
        if pulled < 200:
            return  # a live event's small pull is not news; a long download is
        self.statusBar().showMessage(self.tr("正在下载数据… 已接收 {0} 条").format(pulled), 3000)

    def _on_sync_data_changed(self, changes: Changes) -> None:
        self._track(self.refresh(changes))

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

    def _on_sessions_counts_changed(self, waiting: int, mine: int, closed: int) -> None:
        item = self._nav_items[self.PAGE_SESSIONS]
        item.setText(self.tr("会话 {0}·{1}").format(waiting, mine))
        item.setToolTip(
            self.tr("待接入 {0} 个，我的在办 {1} 个，今日已办结 {2} 个（Alt+1）").format(
                waiting, mine, closed
            )
        )

    def show_page(self, page: int) -> None:
        """Bring a page (``PAGE_…``) to the front, the keyboard where a person types there."""
        item = self._nav_items.get(page)
        if item is not None:
            self._go_to_page(self.nav.row(item))

    def _go_to_page(self, row: int) -> None:
        self.nav.setCurrentRow(row)
        focus_into(self.stack.currentWidget())

    def _on_nav_clicked(self, _index: object) -> None:
        focus_into(self.stack.currentWidget())

    def _on_stack_current_changed(self, _index: int) -> None:
        # The 会话 menu's shortcuts belong to the console: off while another page shows
        # (greyed, not hidden: the menu bar keeps its height and the page does not jump).
        self.sessions_pane.menu.menuAction().setEnabled(
            self.stack.currentWidget() is self.sessions_pane
        )
        # Arrow keys in the navigation list keep the focus there; any other switch (a
        # shortcut, a notification, code) hands the keyboard to the page, so that what is
        # typed next is not lost on a hidden widget.
        if not self.nav.hasFocus():
            focus_into(self.stack.currentWidget())

    def _on_live_events_received(self, events: list) -> None:  # type: ignore[type-arg]
        """Tell the person what concerns them: a new session in their queue with a
        sound, other news (a session reassigned away, a note) quietly."""
        me = self.account.user.id
        arrivals = [e for e in events if concerns_my_queue(e.kind, e.payload, me)]
        others = [
            e
            for e in events
            if not concerns_my_queue(e.kind, e.payload, me)
            and (
                (e.kind == "session_reassigned" and e.payload.get("from_id") == me)
                or e.kind == "note_added"
            )
        ]
        for event in events:
            if event.kind == "message_received":
                # A caller wrote: with a sound, unless that conversation is in front of
                # the person already (the message shows there once the sync brings it).
                chat = self.chat.session
                here = (
                    chat is not None
                    and self.isActiveWindow()
                    and event.payload.get("session_id") == chat.id
                )
                title, text = describe_live_event(event.kind, event.payload, me)
                self.notifier.notify(title, text, sound=not here)
        if len(arrivals) == 1:
            title, text = describe_live_event(arrivals[0].kind, arrivals[0].payload, me)
            self.notifier.notify(title, text, sound=True)
        elif arrivals:
            self.notifier.notify(
                self.tr("新会话"),
                self.tr("{0} 个新会话进入您的队列").format(len(arrivals)),
                sound=True,
            )
        for event in others:
            title, text = describe_live_event(event.kind, event.payload, me)
            self.notifier.notify(title, text)

    def _on_team_pane_alert_raised(self, title: str, text: str) -> None:
        self.notifier.notify(title, text, sound=True)

    def _on_notifier_activated(self) -> None:
        self.showNormal()
        self.activateWindow()
        self.show_page(self.PAGE_SESSIONS)

    def _on_notifier_notified(self, title: str, text: str) -> None:
        self.notice_label.setText(f"{title}：{text}")
        self.notice_label.setToolTip(f"{title}：{text}")
        self._notice_timer.start(20000)

    def _on_walkthrough_pane_published(self, _key: str) -> None:
        # The server published (or cleared) a version: fetch it now, not at the next tick.
        self.sync.request_sync()

    @owned_slot(str)
    async def _on_sessions_session_selected_for_guide(self, session_id: str) -> None:
        await self.walkthrough_player.show_session(session_id or None)

    @owned_slot(str)
    async def _on_walkthrough_player_knowledge_requested(self, entry_id: str) -> None:
        entry = await self.ops.query(self.account.store.knowledge, entry_id)
        if entry is None:
            self.statusBar().showMessage(
                self.tr("本机暂无知识条目 {0}，请同步后再试").format(entry_id), 8000
            )
            return
        self.session_knowledge.show_entry(entry)
        self.sessions_pane.show_tool(self.session_knowledge)

    # -- the conversation (线上咨询) -----------------------------------------------------

    @owned_slot(str)
    async def _on_sessions_session_selected_for_chat(self, session_id: str) -> None:
        self.sessions_pane.view.show_chat(is_chat(self.sessions_pane.session(session_id)))
        shown = await self.chat.show_session(session_id or None)
        self.sessions_pane.view.show_chat(shown)
        self.session_knowledge.set_insert_target(chat=self.chat.active)

    def _on_answer_insert_requested(self, entry: KnowledgeEntry) -> None:
        """插入: into the reply of a chat session, else into the note being written."""
        if self.chat.active:
            self.chat.quote(entry)
            self.sessions_pane.view.focus_chat()
        else:
            self.sessions_pane.insert_answer(entry)

    @owned_slot()
    async def _on_chat_share_link_requested(self) -> None:
        link = self.share_panel.link
        session = self.chat.session
        if link is None or session is None or link.session_id != session.id or not usable(link):
            self.chat.panel.show_status(
                self.tr("请先在右侧“屏幕共享”中为本会话生成共享链接，再发送"), error=True
            )
            self.sessions_pane.show_tool(self.share_panel)
            return
        await self.chat.send(chat_text(link))

    @owned_slot()
    async def _on_chat_notice_requested(self) -> None:
        session = self.chat.session
        notice = self.walkthrough_player.notice()
        if (
            session is None
            or self.walkthrough_player.session_id != session.id
            or notice is None
            or notice.outcome is None
        ):
            self.chat.panel.show_status(
                self.tr("请先在右侧“导办”中办完本会话的导办脚本，得出一次性告知后再发送"),
                error=True,
            )
            self.sessions_pane.show_tool(self.walkthrough_player)
            return
        await self.chat.send(notice.as_text(), notice=True)

    # -- screen sharing ------------------------------------------------------------------

    def _update_share_session(self, session_id: str | None = None) -> None:
        """Point the share panel at the session at hand (and reread its link)."""
        session = (
            self.sessions_pane.session(session_id)
            if session_id
            else self.sessions_pane.current_session()
        )
        self.share_panel.set_session(
            session.id if session else None,
            session is not None and session.assignee_id == self.account.user.id,
            self.sync.state.state is not ConnState.OFFLINE,
        )

    def _on_sessions_session_selected_for_share(self, session_id: str) -> None:
        self._update_share_session(session_id)

    def _on_live_events_for_share(self, events: list) -> None:  # type: ignore[type-arg]
        for event in events:
            self.share_panel.on_event(event)
