"""The session console against a real server, driven by keyboard and mouse: a working
session from the queue to a bad rating (and its rectification on the server); live
events that put sessions on screen without a click; and two clients, agent and lead,
with the lead reassigning while the agent is offline with unsent notes."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from core.localstore.db import open_cache
from core.localstore.store import LocalStore
from core.settings import ClientSettings
from server import models as m
from server.services.conversations import digest
from sync.account import Account, open_account_cache
from sync.backoff import Backoff
from sync.client import ApiClient
from sync.engine import SyncEngine
from tests.caller_support import rate_as_caller
from tests.faultproxy import Fault, FaultProxy
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from tests.ui.dialog_driver import answered
from tests.ui.keyboard import press_when_enabled, type_text
from ui.dialogs.reveal_dialog import RevealReasonDialog
from ui.dialogs.session_dialogs import (
    CloseDialog,
    NewSessionDialog,
    RatingLinkDialog,
    ReassignDialog,
)
from ui.main_window import MainWindow
from ui.models.sessions import MySessionsModel
from ui.operations import Op
from ui.panes.sessions import SessionsPane
from ui.tasks import owned_by
from ui.worker import Workers

QUIET = ClientSettings(sync_interval_seconds=3600)
"""No timed syncs: whatever appears on screen came by an event or an action."""


def sid(ref: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{ref}"))


def server_session(server: LiveServer, session_id: str) -> tuple[str, int | None]:
    with server.db() as db:
        row = db.get(m.Session, session_id)
        return (row.state, row.assignee_id) if row else ("", None)


def sign_in(url: str, username: str, home: Path) -> Account:
    api = ApiClient(url)
    result = api.login(username, DEMO_PASSWORD)
    cache, store, notices = open_account_cache(
        url, result.user, DEMO_PASSWORD, home / f"{username}.sqlite3"
    )
    return Account(url, result.user, api, cache, store, notices=notices)


class Windows:
    """Open windows of a test, closed (with their accounts) at the end."""

    def __init__(self, qtbot: QtBot, workers: Workers, home: Path) -> None:
        self.qtbot = qtbot
        self.workers = workers
        self.home = home
        self.open: list[tuple[MainWindow, Account]] = []

    async def start(self, url: str, username: str) -> MainWindow:
        account = await self.workers.on_net(sign_in, url, username, self.home)
        window = MainWindow(account, self.workers, QUIET)
        self.qtbot.addWidget(window)
        window.live.listener.backoff = Backoff(base=0.05, cap=0.3)
        window.show()
        window.start()
        self.open.append((window, account))
        await wait_until(lambda: window.sessions_pane.model.rowCount() > 0, 20, "sessions")
        await wait_until(lambda: window.live.listener.connected, 10, "live events")
        await activate(window)
        return window

    async def close_all(self) -> None:
        for window, account in self.open:
            window.close()
            await window.sync.wait_idle()
            await window.live.wait_stopped()
            account.close()


@pytest.fixture
def windows(qtbot: QtBot, workers: Workers, tmp_path: Path) -> Iterator[Windows]:
    yield Windows(qtbot, workers, tmp_path)


async def activate(window: MainWindow) -> None:
    """Bring a window to the front, as a click on it would (shortcuts act in it then)."""
    window.activateWindow()
    await wait_until(window.isActiveWindow, 5, "window active")


def agent_ask(monkeypatch: pytest.MonkeyPatch, dialog: type, fill: Callable[[Any], Any]) -> None:
    """Replace a dialog's ``ask`` by one that fills in the real dialog by keyboard."""

    def ask(cls: type, parent: Any, *args: Any, **kwargs: Any) -> Any:
        shown = cls(parent, *args, **kwargs)
        shown.show()
        try:
            return answered(fill(shown))
        finally:
            shown.close()
            shown.deleteLater()

    monkeypatch.setattr(dialog, "ask", classmethod(ask))


@pytest.fixture(autouse=True)
def _no_auto_assign(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False


def closed_today_on_server(server: LiveServer, username: str) -> int:
    """Sessions of ``username`` closed since midnight, counted on the server."""
    today = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
    with server.db() as db:
        user = db.scalar(select(m.User).where(m.User.username == username))
        rows = db.scalars(
            select(m.Session).where(
                m.Session.assignee_id == user.id,
                m.Session.state == "closed",
                m.Session.closed_at >= today,
            )
        ).all()
    return len(rows)


def rating_dialog(pane: SessionsPane) -> RatingLinkDialog | None:
    """The rating link dialog on screen, if one is."""
    shown = [d for d in pane.findChildren(RatingLinkDialog) if d.isVisible()]
    return shown[-1] if shown else None


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def rating_token_on_server(server: LiveServer, session_id: str, url: str) -> bool:
    """Whether ``url`` is a rating link the server made for ``session_id``."""
    with server.db() as db:
        row = db.get(m.CallerToken, digest(token_of(url)))
        return row is not None and row.session_id == session_id and row.purpose == "rating"


def close_on_server(server: LiveServer, username: str, session_id: str) -> None:
    """办结 as ``username``'s own client would push it (before the window opens)."""
    api = ApiClient(server.url)
    try:
        api.login(username, DEMO_PASSWORD)
        mutation = {
            "mutation_id": str(uuid.uuid4()),
            "kind": "session",
            "op": "transition",
            "target_id": session_id,
            "payload": {
                "session_id": session_id,
                "action": "close",
                "outcome": "resolved",
                "close_summary": "已答复",
            },
        }
        assert api.push([mutation])[0]["status"] == "applied"
    finally:
        api.close()


def test_a_session_from_the_queue_to_a_bad_rating_by_keyboard_and_mouse(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    windows: Windows,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fill_close(dialog: CloseDialog) -> Any:
        assert dialog.rating_link_follows, "a phone call's caller rates through a link"
        qtbot.keyClick(dialog.outcome, Qt.Key.Key_Down)  # 已解答
        type_text(qtbot, dialog.summary, "已告知周六上午综合窗口开放，可在地下车库停车")
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        return dialog.request() if dialog.result() else None

    agent_ask(monkeypatch, CloseDialog, fill_close)

    async def scenario() -> None:
        window = await windows.start(live_server.url, "agent")
        pane = window.sessions_pane
        # Ctrl+1: the team's queue, the longest wait first and selected.
        qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
        assert pane.queues.currentIndex() == pane.QUEUE_WAITING
        waiting = pane.current_session_id()
        assert waiting == sid("S003")
        await wait_until(lambda: pane.view.detail and pane.view.detail.session.id == waiting, 5)
        assert "****" in pane.view.phone.text()
        # F2 accepts: on screen at once, on the server after the push.
        await press_when_enabled(qtbot, window, Qt.Key.Key_F2, pane.accept_action)
        await wait_until(lambda: pane.mine_model.index_of(waiting).isValid(), 5, "in 我的会话")
        await wait_until(lambda: server_session(live_server, waiting)[0] == "active", 10)
        assert pane.waiting_proxy.row_of(waiting) == -1
        # A note by keyboard: Ctrl+M to the editor, type, Ctrl+Enter.
        qtbot.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
        assert pane.view.note_edit.hasFocus()
        type_text(qtbot, pane.view.note_edit, "来电人询问周六办公时间")
        qtbot.keyClick(pane.view.note_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        await wait_until(lambda: pane.view.notes_model.rowCount() == 1, 5, "note shown")
        assert pane.view.note_edit.toPlainText() == ""
        # F4 holds, F4 again resumes.
        await press_when_enabled(qtbot, window, Qt.Key.Key_F4, pane.hold_action)
        await wait_until(lambda: server_session(live_server, waiting)[0] == "on_hold", 10)
        await wait_until(lambda: pane.hold_action.text() == "恢复", 5)
        assert "F4" in pane.hold_action.toolTip()
        await press_when_enabled(qtbot, window, Qt.Key.Key_F4, pane.hold_action)
        await wait_until(lambda: server_session(live_server, waiting)[0] == "active", 10)
        # A click asks why, then reveals the full number; the reveal is logged with the
        # reason, and 隐藏号码 masks it again.
        qtbot.mouseClick(pane.view.reveal_button, Qt.MouseButton.LeftButton)
        asked = await wait_until(lambda: window.findChild(RevealReasonDialog), 5, "asked why")
        await wait_until(asked.isVisible, 5, "reason dialog shown")
        assert "****" in pane.view.phone.text()
        assert not asked.ok_button.isEnabled(), "no reveal without a reason"
        type_text(qtbot, asked.reason, "回拨来电人电话")
        qtbot.mouseClick(asked.ok_button, Qt.MouseButton.LeftButton)
        # The number comes from the server (audited), never from the cache.
        await wait_until(lambda: pane.view.phone.text() == "19540052802", 10, "revealed")
        cache_file = window.account.cache.path
        for path in (cache_file, cache_file.with_name(cache_file.name + "-wal")):
            if path.exists():
                assert b"19540052802" not in path.read_bytes(), path
        assert pane.view.mask_button.isVisible() and not pane.view.reveal_button.isVisible()
        qtbot.mouseClick(pane.view.mask_button, Qt.MouseButton.LeftButton)
        assert "****" in pane.view.phone.text()
        assert pane.view.reveal_button.isVisible() and not pane.view.mask_button.isVisible()
        # F9 closes (outcome, summary), and the rating link follows in the same step:
        # the caller rates on their own phone (GB/T 39734), never the agent.
        await press_when_enabled(qtbot, window, Qt.Key.Key_F9, pane.close_action)
        link = await wait_until(lambda: rating_dialog(pane), 10, "the rating link shown")
        assert rating_token_on_server(live_server, waiting, link.url)
        assert link.url in link.sms_text and not link.qr_label.pixmap().isNull()
        await wait_until(lambda: server_session(live_server, waiting)[0] == "closed", 10)
        rated = await asyncio.to_thread(
            rate_as_caller, live_server, token_of(link.url), 2, "排队等了很久"
        )
        assert rated.status_code == 200, rated.text
        window.sync.request_sync()
        with live_server.db() as db:
            await wait_until(
                lambda: db.scalar(
                    select(m.Rectification).where(m.Rectification.session_id == waiting)
                ),
                10,
                "rectification on the server",
            )
            evaluation = db.scalar(select(m.Evaluation).where(m.Evaluation.session_id == waiting))
            assert evaluation.score == 2 and evaluation.comment == "排队等了很久"
            audit = db.scalar(select(m.AuditLog).where(m.AuditLog.action == "session.reveal"))
            assert audit is not None and audit.target_id == waiting
            assert audit.reason == "回拨来电人电话"
            kinds = [e.kind for e in db.get(m.Session, waiting).events]
        assert kinds == [
            "created",
            "accepted",
            "held",
            "resumed",
            "revealed",
            "closed",
            "evaluated",
            "rectification_opened",
        ]
        # The caller's rating reaches the open dialog, which the agent then closes.
        await wait_until(lambda: "群众已评价：不满意" in link.rated.text(), 10, "told")
        assert [b for b in window.findChildren(QMessageBox) if b.isVisible()] == []
        qtbot.keyClick(link, Qt.Key.Key_Escape)
        await wait_until(lambda: rating_dialog(pane) is None, 5, "the link dialog closed")
        assert not pane.evaluate_action.isEnabled(), "rated: no second link"
        # Closed today, counted in the navigation; the rating on screen.
        await wait_until(lambda: pane.closed_proxy.row_of(waiting) >= 0, 5)
        await activate(window)  # back from the dialogs
        qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
        assert pane.queues.currentIndex() == pane.QUEUE_CLOSED
        waiting_count, mine, closed = pane.counts()
        nav = window._nav_items[window.PAGE_SESSIONS].text()
        # The seeded day reaches back eight hours, so how many closed today depends on
        # the hour the test runs: compare with the server's own count.
        assert closed == closed_today_on_server(live_server, "agent") and closed >= 1
        assert (
            nav == f"会话 {waiting_count}·{mine}"
            and f"今日已办结 {closed}" in window._nav_items[window.PAGE_SESSIONS].toolTip()
        )
        await wait_until(lambda: "不满意" in pane.view.rating.text(), 10, "rating shown")
        await windows.close_all()

    qloop.run_until_complete(scenario())


def test_every_action_has_a_shortcut_in_the_menu_and_the_tooltips(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, windows: Windows, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        window = await windows.start(live_server.url, "lead")
        pane = window.sessions_pane
        menu = pane.menu
        actions = [a for a in menu.actions() if not a.isSeparator()]
        assert {a.objectName() for a in actions} >= {
            "new",
            "accept",
            "start",
            "hold",
            "transfer",
            "escalate",
            "callback",
            "close",
            "evaluate",
            "reassign",
            "reveal",
            "guide",
            "note",
            "add_note",
            "filter",
        }
        for action in actions:
            # As the person reads it (Qt's catalogue says 回车 for Return).
            key = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            assert key and key in action.toolTip(), action.objectName()
        assert menu in [a.menu() for a in window.menuBar().actions()]
        # Alt+2 goes to the knowledge page, Alt+1 back to the console.
        qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
        assert window.stack.currentWidget() is window.knowledge_pane
        qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)
        assert window.stack.currentWidget() is pane
        assert "Alt+1" in window._nav_items[window.PAGE_SESSIONS].toolTip()
        # The focus order: Tab from the filter goes through the queue, the session's
        # buttons and the note editor to the tools.
        qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
        await wait_until(lambda: pane.view.detail is not None, 5, "a session shown")
        pane.filter_edit.setFocus()
        seen = []
        for _ in range(40):
            qtbot.keyClick(window.focusWidget(), Qt.Key.Key_Tab)
            seen.append(window.focusWidget())
        names = [w.objectName() or type(w).__name__ for w in seen]
        assert pane.queues.currentWidget() in seen, names
        assert any(n.startswith("action_") for n in names), names
        assert pane.view.note_edit in seen
        assert seen.index(pane.view.note_edit) < seen.index(pane.tools.tabBar()), names
        await windows.close_all()

    qloop.run_until_complete(scenario())


def test_new_and_moved_sessions_appear_without_a_click(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, windows: Windows, live_server: LiveServer
) -> None:
    lead, wangfang = ApiClient(live_server.url), ApiClient(live_server.url)
    lead.login("lead", DEMO_PASSWORD)
    wangfang.login("wangfang", DEMO_PASSWORD)

    def push(api: ApiClient, kind: str, op: str, target: str, **payload: Any) -> dict:
        mutation = {
            "mutation_id": str(uuid.uuid4()),
            "kind": kind,
            "op": op,
            "target_id": target,
            "payload": payload,
        }
        return api.push([mutation])[0]

    async def scenario() -> None:
        window = await windows.start(live_server.url, "agent")
        pane = window.sessions_pane
        moved = sid("S018")
        assert pane.session(moved) is None
        answer = await window.workers.on_net(
            lambda: push(
                lead,
                "session",
                "reassign",
                moved,
                to_agent_id=window.account.user.id,
                expected_assignee_id=wangfang.me().id,
                reason="王芳去窗口支援",
            )
        )
        assert answer["status"] == "applied"
        await wait_until(
            lambda: pane.mine_model.index_of(moved).isValid(), 10, "moved session shown"
        )
        assert (
            "会话改派给您",
            "吴海燕 将会话改派给您："
            + pane.session(moved).summary[:40]
            + "（原因：王芳去窗口支援）",
        ) in window.notifier.history
        assert window.notifier.sounds_played >= 1
        group = pane.mine_model.index_of(moved).parent()
        assert group.data().startswith("新分配，待接入")

        new_id = str(uuid.uuid4())
        answer = await window.workers.on_net(
            lambda: push(
                wangfang,
                "session",
                "create",
                new_id,
                session_id=new_id,
                take=False,
                channel="phone",
                service_type="consult",
                caller_phone="13912345678",
                summary="转入：咨询新生儿医保参保",
            )
        )
        assert answer["status"] == "applied"
        await wait_until(lambda: pane.waiting_proxy.row_of(new_id) >= 0, 10, "queued session shown")
        assert any(title == "新会话进入班组队列" for title, _ in window.notifier.history)
        assert "新会话进入班组队列" in window.notice_label.text()
        assert pane.counts()[0] == 4
        await windows.close_all()

    qloop.run_until_complete(scenario())
    lead.close()
    wangfang.close()


def test_the_lead_reassigns_while_the_agent_is_offline_with_unsent_notes(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    windows: Windows,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    def fill_reassign(dialog: ReassignDialog) -> Any:
        index = next(
            i for i in range(dialog.agent.count()) if dialog.agent.itemText(i).startswith("王芳")
        )
        dialog.agent.setFocus()
        for _ in range(index):
            qtbot.keyClick(dialog.agent, Qt.Key.Key_Down)
        type_text(qtbot, dialog.reason, "李晓雯临时离岗")
        qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)
        return dialog.request() if dialog.result() else None

    agent_ask(monkeypatch, ReassignDialog, fill_reassign)
    s = sid("S010")

    async def scenario() -> None:
        with FaultProxy(live_server.url) as proxy:
            agent = await windows.start(proxy.url, "agent")
            lead = await windows.start(live_server.url, "lead")
            apane, lpane = agent.sessions_pane, lead.sessions_pane

            # The agent loses the link, and keeps working on the session at hand.
            proxy.refusing = True
            await activate(agent)
            await wait_until(lambda: apane.select_session(s), 5, "listed for the agent")
            await wait_until(lambda: apane.view.detail and apane.view.detail.session.id == s, 5)
            qtbot.keyClick(agent, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
            type_text(qtbot, apane.view.note_edit, "来电人补充：材料已备齐")
            qtbot.keyClick(
                apane.view.note_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
            )
            await wait_until(lambda: apane.view.notes_model.rowCount() == 2, 5, "note shown")
            assert "（待同步）" in apane.view.notes_model.index(1).data()
            qtbot.keyClick(agent, Qt.Key.Key_F4)
            await wait_until(lambda: apane.session(s) and apane.session(s).state == "on_hold", 5)
            await wait_until(lambda: "已挂起（待同步）" in apane.view.state_badge.text(), 5)
            await wait_until(lambda: agent.account.store.outbox_size() == 2, 5)

            # Meanwhile the lead reassigns it from the team's list, by keyboard.
            await activate(lead)
            qtbot.keyClick(lead, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
            assert lpane.queues.currentIndex() == lpane.QUEUE_TEAM
            await wait_until(lambda: lpane.select_session(s), 5, "listed for the lead")
            await wait_until(lambda: lpane.reassign_action.isEnabled(), 5, "reassign enabled")
            qtbot.keyClick(lead, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
            with live_server.db() as db:
                wangfang = db.scalar(select(m.User.id).where(m.User.username == "wangfang"))
            await wait_until(lambda: server_session(live_server, s) == ("assigned", wangfang), 10)

            # The link returns: the note is kept, the stale hold is refused, in words.
            proxy.refusing = False
            box = await wait_until(
                lambda: next(iter(agent.findChildren(QMessageBox)), None), 20, "refusal shown"
            )
            text = box.text()
            assert "由 吴海燕 改派给 王芳" in text and "「挂起」未执行，您的备注已保留" in text
            await wait_until(lambda: apane.session(s) is None, 10, "session gone from the agent")
            assert server_session(live_server, s) == ("assigned", wangfang)
            with live_server.db() as db:
                notes = db.scalars(
                    select(m.SessionNote.text).where(m.SessionNote.session_id == s)
                ).all()
            assert "来电人补充：材料已备齐" in notes
            box.close()
            await windows.close_all()

    qloop.run_until_complete(scenario())
    # The new assignee's client receives the note written offline.
    api = ApiClient(live_server.url)
    api.login("wangfang", DEMO_PASSWORD)
    cache = open_cache(tmp_path / "wangfang.sqlite3")
    store = LocalStore(cache.sessions)
    SyncEngine(api, store).sync_blocking()
    assert "来电人补充：材料已备齐" in [n.text for n, _ in store.notes(s)]
    assert store.session(s).assignee_id == api.me().id
    cache.engine.dispose()
    api.close()


def test_my_sessions_tree_groups_what_is_on_screen(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, windows: Windows, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        window = await windows.start(live_server.url, "agent")
        pane = window.sessions_pane
        qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
        groups = [pane.mine_model.index(r, 0).data() for r in range(pane.mine_model.rowCount())]
        assert groups == ["处理中（1）", "已挂起（1）", "待回电（1）", "已转办，待部门答复（1）"]
        # Filtering keeps the groups whose sessions match.
        qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
        assert pane.filter_edit.hasFocus()
        type_text(qtbot, pane.filter_edit, "冯先生")
        assert pane.mine_proxy.rowCount() == 1
        group = pane.mine_proxy.index(0, 0)
        assert group.data() == "已转办，待部门答复（1）"
        assert pane.mine_proxy.index(0, MySessionsModel.COL_CALLER, group).data() == "冯先生"
        pane.filter_edit.clear()
        assert pane.mine_proxy.rowCount() == 4
        await windows.close_all()

    qloop.run_until_complete(scenario())


def test_a_call_logged_by_hand_escalated_called_back_and_transferred(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    windows: Windows,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ui.dialogs.session_dialogs import (
        CallbackDialog,
        EscalateDialog,
        NewSessionDialog,
        TransferDialog,
    )

    shown: dict[str, str] = {}

    def fill_new(dialog: NewSessionDialog) -> Any:
        type_text(qtbot, dialog.name, "郑先生")
        type_text(qtbot, dialog.phone, "13912345678")
        type_text(qtbot, dialog.id_number, "11010519491231002X")
        dialog.service.setCurrentIndex(dialog.service.findData("guide"))
        dialog.matter.setCurrentIndex(
            next(
                i for i in range(dialog.matter.count()) if dialog.matter.itemData(i) == "RS-LHJY-CB"
            )
        )
        type_text(qtbot, dialog.summary, "来电咨询灵活就业参保补缴")
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        return dialog.request() if dialog.result() else None

    def fill_escalate(dialog: EscalateDialog) -> Any:
        shown["deadline"] = dialog.deadline.text()
        type_text(qtbot, dialog.reason, "补缴年限能否认定需人社局答复")
        qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)
        return dialog.request() if dialog.result() else None

    def fill_callback(dialog: CallbackDialog) -> Any:
        type_text(qtbot, dialog.reason, "人社局答复后回电")
        qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)
        return dialog.request() if dialog.result() else None

    def fill_transfer(dialog: TransferDialog) -> Any:
        index = next(
            i
            for i in range(dialog.colleague.count())
            if dialog.colleague.itemText(i).startswith("刘洋")
        )
        dialog.colleague.setCurrentIndex(index)
        type_text(qtbot, dialog.reason, "刘洋熟悉社保补缴")
        qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)
        return dialog.request() if dialog.result() else None

    for dialog, fill in (
        (NewSessionDialog, fill_new),
        (EscalateDialog, fill_escalate),
        (CallbackDialog, fill_callback),
        (TransferDialog, fill_transfer),
    ):
        agent_ask(monkeypatch, dialog, fill)

    def state(session_id: str) -> str:
        return server_session(live_server, session_id)[0]

    async def scenario() -> None:
        window = await windows.start(live_server.url, "agent")
        pane = window.sessions_pane

        async def press(key: Qt.Key, action: QAction) -> None:
            await press_when_enabled(qtbot, window, key, action)

        await wait_until(lambda: pane.context.agents, 10, "colleagues known")
        qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
        new_id = await wait_until(pane.current_session_id, 5, "new session selected")
        assert pane.session(new_id).caller_name == "郑先生"
        await wait_until(lambda: state(new_id) == "active", 10, "created on the server")
        await press(Qt.Key.Key_F7, pane.escalate_action)
        await wait_until(lambda: state(new_id) == "escalated", 10)
        assert "1 个工作日内联系群众" in shown["deadline"]
        with live_server.db() as db:
            escalation = db.get(m.Session, new_id).escalation
        assert escalation["department"] == "人力资源和社会保障局"  # the matter's department
        await wait_until(lambda: "转办至 人力资源和社会保障局" in pane.view.deadline.text(), 5)
        await press(Qt.Key.Key_F3, pane.start_action)
        await wait_until(lambda: state(new_id) == "active", 10)
        await press(Qt.Key.Key_F8, pane.callback_action)
        await wait_until(lambda: state(new_id) == "callback_pending", 10)
        await wait_until(lambda: "前回电" in pane.view.deadline.text(), 5)
        await press(Qt.Key.Key_F3, pane.start_action)
        await wait_until(lambda: state(new_id) == "active", 10)
        await press(Qt.Key.Key_F6, pane.transfer_action)
        with live_server.db() as db:
            liuyang = db.scalar(select(m.User.id).where(m.User.username == "liuyang"))
        await wait_until(lambda: server_session(live_server, new_id) == ("assigned", liuyang), 10)
        await wait_until(lambda: pane.session(new_id) is None, 10, "gone from my lists")
        await windows.close_all()

    qloop.run_until_complete(scenario())


def test_closing_the_window_cancels_what_it_started(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    windows: Windows,
    live_server: LiveServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A dialog waiting for its answer and an operation on the database worker, both
    started by the window, end with it: nothing of theirs runs after the close."""
    followed_up: list[str] = []

    def slow_read() -> str:
        time.sleep(0.4)
        return "read"

    async def scenario() -> None:
        window = await windows.start(live_server.url, "agent")
        pane = window.sessions_pane
        await press_when_enabled(
            qtbot, window, Qt.Key.Key_N, pane.new_action, Qt.KeyboardModifier.ControlModifier
        )
        dialog = await wait_until(lambda: window.findChild(NewSessionDialog), 5, "dialog open")
        await wait_until(dialog.isVisible, 5, "dialog shown")
        window.ops.start(Op(db=slow_read, success=followed_up.append))
        started = owned_by(window)
        assert len(started) >= 2  # the dialog's coroutine and the operation
        window.close_now()
        await wait_until(lambda: all(t.done() for t in started), 5, "ended with the window")
        assert all(t.cancelled() for t in started)
        assert owned_by(window) == []
        await asyncio.sleep(0.6)  # the read has finished on its thread by now
        assert followed_up == []  # its follow-up never ran
        windows.open = [(w, a) for w, a in windows.open if w is not window]
        await window.sync.wait_idle()
        await window.live.wait_stopped()
        window.account.close()

    qloop.run_until_complete(scenario())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- the caller's rating link (GB/T 39734: the caller rates, never the agent) -------------


def test_ctrl_e_fetches_the_rating_link_and_the_callers_rating_shows_after_sync(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, windows: Windows, live_server: LiveServer
) -> None:
    called = sid("S011")  # a hotline call of the agent's
    close_on_server(live_server, "agent", called)

    async def scenario() -> None:
        window = await windows.start(live_server.url, "agent")
        pane = window.sessions_pane
        await wait_until(lambda: pane.select_session(called), 5, "listed")
        await wait_until(lambda: pane.view.detail and pane.view.detail.session.id == called, 5)
        assert pane.view.detail.session.state == "closed" and not pane.view.detail.evaluations
        action = pane.evaluate_action
        assert action.text() == "评价链接" and "Ctrl+E" in action.toolTip()
        await press_when_enabled(
            qtbot, window, Qt.Key.Key_E, action, Qt.KeyboardModifier.ControlModifier
        )
        link = await wait_until(lambda: rating_dialog(pane), 10, "the rating link shown")
        # The link is the server's, made for this session; shown, in the SMS and as a QR.
        assert rating_token_on_server(live_server, called, link.url)
        assert link.url.startswith(live_server.url + "/r/")
        assert link.link_label.text() == link.url
        assert link.sms_edit.toPlainText().startswith("【政务服务】")
        assert link.url in link.sms_edit.toPlainText()
        pixmap = link.qr_label.pixmap()
        assert not pixmap.isNull() and pixmap.width() == pixmap.height() >= 150
        assert "曹女士" in link.intro.text()
        with live_server.db() as db:
            audit = db.scalar(select(m.AuditLog).where(m.AuditLog.action == "session.rating_link"))
            assert audit is not None and audit.target_id == called
        # The caller rates on their phone; sync brings the rating onto the agent's screen.
        rated = await asyncio.to_thread(rate_as_caller, live_server, token_of(link.url), 4, "清楚")
        assert rated.status_code == 200, rated.text
        await wait_until(lambda: "满意 · 清楚" in pane.view.rating.text(), 15, "rating shown")
        assert pane.view.rating.text().startswith("满意")
        await wait_until(lambda: "群众已评价：满意" in link.rated.text(), 5, "told in the dialog")
        qtbot.mouseClick(link.close_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: rating_dialog(pane) is None, 5, "closed")
        assert not action.isEnabled(), "rated: no second link"
        await windows.close_all()

    qloop.run_until_complete(scenario())


def test_a_chat_session_offers_no_rating_link(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    windows: Windows,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chat's caller rates on their own conversation page once it closes."""
    chat, phone = sid("S010"), sid("S011")
    asked_close: list[bool] = []

    def fill_close(dialog: CloseDialog) -> Any:
        asked_close.append(dialog.rating_link_follows)
        assert not dialog.intro.isVisible()
        qtbot.keyClick(dialog.outcome, Qt.Key.Key_Down)
        type_text(qtbot, dialog.summary, "已在线答复")
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        return dialog.request() if dialog.result() else None

    agent_ask(monkeypatch, CloseDialog, fill_close)

    async def scenario() -> None:
        window = await windows.start(live_server.url, "agent")
        pane = window.sessions_pane
        requested: list[str] = []
        pane.rating_link_requested.connect(requested.append)
        # A phone call of the agent's offers the link; the chat does not.
        await wait_until(lambda: pane.select_session(phone), 5, "phone session listed")
        await wait_until(lambda: pane.view.detail and pane.view.detail.session.id == phone, 5)
        assert pane.evaluate_action.isEnabled()
        await wait_until(lambda: pane.select_session(chat), 5, "chat listed")
        await wait_until(lambda: pane.view.detail and pane.view.detail.session.id == chat, 5)
        assert pane.view.detail.session.channel == "web_chat"
        assert not pane.evaluate_action.isEnabled()
        await activate(window)
        qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
        pane._on_evaluate_triggered()  # even called directly, it asks nothing
        # 办结 of the chat: no link follows.
        await press_when_enabled(qtbot, window, Qt.Key.Key_F9, pane.close_action)
        await wait_until(lambda: server_session(live_server, chat)[0] == "closed", 10)
        assert asked_close == [False]
        await asyncio.sleep(1.0)
        assert rating_dialog(pane) is None and requested == []
        assert not pane.evaluate_action.isEnabled(), "closed, still a chat"
        with live_server.db() as db:
            assert db.scalar(select(m.CallerToken).where(m.CallerToken.purpose == "rating")) is None
        await windows.close_all()

    qloop.run_until_complete(scenario())


def test_a_rating_link_that_cannot_be_had_is_said_in_words(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    windows: Windows,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Offline, a gateway's 403 page, half an answer, JSON that is no link, the
    server's 403 for a session that is not the agent's: each time a Chinese message
    on the console's line, no dialog, and the action comes back; then a link is had
    as usual."""
    called = sid("S011")

    async def scenario() -> None:
        with FaultProxy(live_server.url) as proxy:
            window = await windows.start(proxy.url, "agent")
            pane = window.sessions_pane
            message = pane.view.message
            await wait_until(lambda: pane.select_session(called), 5, "listed")
            await wait_until(lambda: pane.view.detail and pane.view.detail.session.id == called, 5)

            async def ctrl_e() -> None:
                await press_when_enabled(
                    qtbot,
                    window,
                    Qt.Key.Key_E,
                    pane.evaluate_action,
                    Qt.KeyboardModifier.ControlModifier,
                )

            async def ask_link(expect: str) -> None:
                message.clear()
                await ctrl_e()
                await wait_until(lambda: message.text(), 15, f"a message for {expect}")
                text = message.text()
                assert text.startswith("评价链接未生成：") and expect in text, text
                assert "Ctrl+E" in text and message.isVisible()
                assert rating_dialog(pane) is None
                await wait_until(pane.evaluate_action.isEnabled, 5, "the action back")

            proxy.refusing = True  # the link is down
            await ask_link("服务器")
            proxy.refusing = False
            # A gateway's 403 page, and half an answer: neither is the server's JSON.
            proxy.add(Fault.STATUS, "POST", f"/api/v1/sessions/{called}/rating-link", status=403)
            await ask_link("无法识别")
            proxy.add(Fault.MALFORMED, "POST", f"/api/v1/sessions/{called}/rating-link")
            await ask_link("无法识别")
            # Valid JSON, but not a link: nothing is shown as one.
            real_post = window.account.api.post
            monkeypatch.setattr(
                window.account.api, "post", lambda path, body=None: {"url": "javascript:x"}
            )
            await ask_link("格式不对")
            monkeypatch.setattr(window.account.api, "post", real_post)
            # The server's own 403: a session of the team's queue is not the agent's.
            message.clear()
            pane.rating_link_requested.emit(sid("S001"))
            await wait_until(lambda: "只有该会话的承办人" in message.text(), 10, "the refusal")
            assert rating_dialog(pane) is None
            # Nothing else broke: a link now comes, and sync still runs.
            await ctrl_e()
            link = await wait_until(lambda: rating_dialog(pane), 10, "the rating link shown")
            assert rating_token_on_server(live_server, called, link.url)
            qtbot.keyClick(link, Qt.Key.Key_Escape)
            await wait_until(lambda: rating_dialog(pane) is None, 5, "closed")
            before = window.sync.state.last_sync
            window.sync.request_sync()
            await wait_until(lambda: window.sync.state.last_sync != before, 15, "a sync round")
            await windows.close_all()

    qloop.run_until_complete(scenario())
