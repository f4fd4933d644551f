"""Every dialog of the desk met for real: opened through the code path a person uses
(no ``ask`` replaced) in a window connected to a live server, left open for a few
seconds while ``SyncController`` rounds and ``EventListener`` long polls go on, then
answered with the keyboard (or the mouse, where a person would use it).

Each test then checks that the action reached the server, that the outbox drained,
and that sync and live events are still alive afterwards: a dialog run by a nested
event loop (``exec()``) made qasync kill those tasks ("Cannot enter into task …"),
which ``ui.errors`` would report and these tests would see.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from core.settings import ClientSettings
from server import models as m
from server.services.events import publish
from sync.account import Account, open_account_cache
from sync.backoff import Backoff
from sync.client import ApiClient
from tests.caller_support import rate_as_caller
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from tests.ui.dialog_driver import (
    button,
    choose_in_combo,
    click,
    focus,
    hold_open,
    open_dialogs,
    press,
    save_as,
    wait_closed,
    wait_for_dialog,
)
from tests.ui.keyboard import press_when_enabled, type_text
from tests.ui.test_team_board import drag_onto_agent, row_where, set_presence
from tests.walkthrough_support import AGENT_SESSION, sample, with_version
from ui.dialogs.session_dialogs import (
    CallbackDialog,
    CloseDialog,
    EscalateDialog,
    NewSessionDialog,
    RatingLinkDialog,
    ReassignDialog,
    TransferDialog,
)
from ui.dialogs.team_dialogs import MoveAllDialog, ReassignReasonDialog, RectificationDialog
from ui.errors import ErrorReporter, install_error_handlers, uninstall_error_handlers
from ui.main_window import MainWindow
from ui.panes.team_board import TeamBoardPane
from ui.worker import Workers

pytestmark = pytest.mark.qt_log_ignore(
    # Qt's file dialog raises itself and grabs the keyboard; the offscreen platform
    # cannot (a real display can), and says so.
    r"This plugin does not support (grabbing the keyboard|raise\(\))",
)

HOLD_SECONDS = 2.5
SETTINGS = ClientSettings(sync_interval_seconds=1)
"""A sync round every second, so that rounds run while a dialog is open."""


def sid(ref: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{ref}"))


def user_id(server: LiveServer, username: str) -> int:
    with server.db() as db:
        return int(db.scalar(select(m.User.id).where(m.User.username == username)))


def session_on_server(server: LiveServer, session_id: str) -> tuple[str, int | None]:
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


class Desk:
    """One person's window against the live server, with what its sync and live
    events did recorded."""

    def __init__(
        self, qtbot: QtBot, workers: Workers, server: LiveServer, home: Path, errors: ErrorReporter
    ) -> None:
        self.qtbot = qtbot
        self.workers = workers
        self.server = server
        self.home = home
        self.errors = errors
        self.window: MainWindow | None = None
        self.account: Account | None = None
        self.rounds: list[datetime] = []
        """When each successful sync round finished."""
        self.events: list[tuple[float, str]] = []
        """(monotonic time, kind) of every live event delivered to the window."""

    async def open(self, username: str) -> MainWindow:
        account = await self.workers.on_net(sign_in, self.server.url, username, self.home)
        window = MainWindow(account, self.workers, SETTINGS)
        self.qtbot.addWidget(window)
        window.resize(1400, 900)
        window.live.listener.backoff = Backoff(base=0.05, cap=0.3)
        window.sync.connectivity_changed.connect(self._on_connectivity_changed)
        window.live.events_received.connect(self._on_events_received)
        self.window, self.account = window, account
        window.show()
        window.start()
        await wait_until(lambda: window.sync.state.last_sync is not None, 20, "first sync")
        await wait_until(lambda: window.live.listener.connected, 10, "live events")
        await self.activate()
        return window

    def _on_connectivity_changed(self, state: Any) -> None:
        if state.last_sync is not None and (not self.rounds or state.last_sync > self.rounds[-1]):
            self.rounds.append(state.last_sync)

    def _on_events_received(self, events: list[Any]) -> None:
        now = time.monotonic()
        self.events.extend((now, e.kind) for e in events)

    async def activate(self) -> None:
        assert self.window is not None
        self.window.activateWindow()
        await wait_until(self.window.isActiveWindow, 5, "window active")

    def announce(self) -> None:
        """A live event for this person's team, published by the server."""
        assert self.account is not None
        team = self.account.user.team_id
        with self.server.db() as db:
            publish(
                db,
                "presence_changed",
                {"team_id": team, "note": "while a dialog is open"},
                team_id=team,
                for_team=True,
            )
            db.commit()
        self.server.app.state.events.notify()

    async def hold(self, dialog: QDialog) -> None:
        """Keep ``dialog`` open while sync rounds run and a live event arrives."""
        rounds, events = len(self.rounds), len(self.events)
        opened = time.monotonic()
        await asyncio.sleep(0.3)
        self.announce()
        await hold_open(dialog, HOLD_SECONDS)
        assert len(self.rounds) > rounds, "a sync round completed while the dialog was open"
        assert any(t > opened for t, _kind in self.events[events:]), (
            "a live event was delivered while the dialog was open"
        )
        assert dialog.isVisible()

    async def settled(self) -> None:
        """The outbox drained, and sync and live events still run (no task died)."""
        window, account = self.window, self.account
        assert window is not None and account is not None
        await wait_until(lambda: account.store.outbox_size() == 0, 20, "outbox drained")
        rounds, events = len(self.rounds), len(self.events)
        self.announce()
        await wait_until(lambda: len(self.events) > events, 10, "live events still delivered")
        await wait_until(lambda: len(self.rounds) > rounds, 10, "sync rounds still run")
        assert window.live.running, "the event listener task is alive"
        assert window.sync.state.pending == 0
        assert not account.store.open_problems()
        assert self.errors.shown == [], f"unexpected errors: {self.errors.shown}"

    async def close(self) -> None:
        if self.window is not None:
            self.window.close()
            await self.window.sync.wait_idle()
            await self.window.live.wait_stopped()
        if self.account is not None:
            self.account.close()


@pytest.fixture
def errors(qloop: asyncio.AbstractEventLoop) -> Iterator[ErrorReporter]:
    """The app's own error handlers: what they catch fails the test."""
    app = QApplication.instance()
    assert app is not None
    reporter = install_error_handlers(app, qloop)
    try:
        yield reporter
    finally:
        uninstall_error_handlers(qloop)
        reporter.deleteLater()


class Watchdog:
    """A plain Qt timer (it runs inside a nested event loop too) that rejects a modal
    dialog left open far longer than any test holds one: a dialog run by ``exec()``
    would otherwise hang the test, as the coroutine that answers it can no longer run.
    The test's own task died with the nested loop too, so the loop is stopped: the
    test fails instead of waiting for ever."""

    LIMIT = 20.0

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.seen: dict[int, float] = {}
        self.rejected: list[str] = []
        self.timer = QTimer()
        self.timer.setInterval(500)
        self.timer.timeout.connect(self._on_timer_timeout)
        self.timer.start()

    def _on_timer_timeout(self) -> None:
        now = time.monotonic()
        for dialog in open_dialogs():
            first = self.seen.setdefault(id(dialog), now)
            if now - first > self.LIMIT:
                self.rejected.append(dialog.windowTitle())
                dialog.reject()
                QTimer.singleShot(2000, self.loop.stop)


@pytest.fixture
def desk(
    qtbot: QtBot,
    workers: Workers,
    live_server: LiveServer,
    tmp_path: Path,
    errors: ErrorReporter,
    caplog: pytest.LogCaptureFixture,
    qloop: asyncio.AbstractEventLoop,
) -> Iterator[Desk]:
    live_server.app.state.settings.auto_assign = False
    caplog.set_level(logging.WARNING)
    watchdog = Watchdog(qloop)
    yield Desk(qtbot, workers, live_server, tmp_path, errors)
    watchdog.timer.stop()
    assert not watchdog.rejected, f"dialogs left hanging: {watchdog.rejected}"
    bad = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR or "Cannot enter into task" in r.getMessage()
    ]
    assert not bad, f"errors logged: {bad}"


def run(qloop: asyncio.AbstractEventLoop, desk: Desk, scenario: Any) -> None:
    async def guarded() -> None:
        try:
            await scenario()
        finally:
            await desk.close()

    qloop.run_until_complete(guarded())


async def select_session(desk: Desk, ref: str) -> str:
    assert desk.window is not None
    pane = desk.window.sessions_pane
    target = sid(ref)
    await wait_until(lambda: pane.select_session(target), 10, f"{ref} listed")
    await wait_until(
        lambda: pane.view.detail is not None and pane.view.detail.session.id == target, 10
    )
    await desk.activate()
    return target


# -- the agent's dialogs -----------------------------------------------------------------


def test_transfer_dialog_stays_open_while_sync_runs(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk, live_server: LiveServer
) -> None:
    liuyang = user_id(live_server, "liuyang")

    async def scenario() -> None:
        window = await desk.open("agent")
        target = await select_session(desk, "S010")
        pane = window.sessions_pane
        await press_when_enabled(qtbot, window, Qt.Key.Key_F6, pane.transfer_action)
        dialog = await wait_for_dialog(TransferDialog)
        await desk.hold(dialog)
        await choose_in_combo(qtbot, dialog.colleague, "刘洋")
        type_text(qtbot, dialog.reason, "刘洋熟悉灵活就业参保")
        await press(qtbot, dialog.reason, Qt.Key.Key_Return)
        await wait_closed(dialog)
        await wait_until(
            lambda: session_on_server(live_server, target) == ("assigned", liuyang), 15, "server"
        )
        await desk.settled()

    run(qloop, desk, scenario)


def test_escalate_dialog_stays_open_while_sync_runs(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        window = await desk.open("agent")
        target = await select_session(desk, "S010")
        pane = window.sessions_pane
        await press_when_enabled(qtbot, window, Qt.Key.Key_F7, pane.escalate_action)
        dialog = await wait_for_dialog(EscalateDialog)
        await desk.hold(dialog)
        type_text(qtbot, dialog.reason, "补缴年限需人社局认定")
        await press(qtbot, dialog.reason, Qt.Key.Key_Return)
        await wait_closed(dialog)
        await wait_until(
            lambda: session_on_server(live_server, target)[0] == "escalated", 15, "server"
        )
        await desk.settled()

    run(qloop, desk, scenario)


def test_callback_dialog_stays_open_while_sync_runs(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        window = await desk.open("agent")
        target = await select_session(desk, "S010")
        pane = window.sessions_pane
        await press_when_enabled(qtbot, window, Qt.Key.Key_F8, pane.callback_action)
        dialog = await wait_for_dialog(CallbackDialog)
        await desk.hold(dialog)
        type_text(qtbot, dialog.reason, "查明补缴政策后回电")
        await press(qtbot, dialog.reason, Qt.Key.Key_Return)
        await wait_closed(dialog)
        await wait_until(
            lambda: session_on_server(live_server, target)[0] == "callback_pending", 15, "server"
        )
        await desk.settled()

    run(qloop, desk, scenario)


def test_close_dialog_of_a_chat_stays_open_while_sync_runs(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        window = await desk.open("agent")
        target = await select_session(desk, "S010")  # a chat: its caller rates on its page
        pane = window.sessions_pane
        await press_when_enabled(qtbot, window, Qt.Key.Key_F9, pane.close_action)
        dialog = await wait_for_dialog(CloseDialog)
        assert not dialog.rating_link_follows
        await desk.hold(dialog)
        focus(dialog.outcome)
        await press(qtbot, dialog.outcome, Qt.Key.Key_Down)  # the first outcome
        type_text(qtbot, dialog.summary, "已告知灵活就业参保登记的条件和材料")
        await press(qtbot, dialog.summary, Qt.Key.Key_Tab)  # on to 办结
        assert dialog.focusWidget() is dialog.ok_button
        await press(qtbot, dialog.ok_button, Qt.Key.Key_Return)
        await wait_closed(dialog)
        await wait_until(
            lambda: session_on_server(live_server, target)[0] == "closed", 15, "closed"
        )
        await asyncio.sleep(1.0)
        assert open_dialogs() == [], "no rating link for a chat"
        await desk.settled()

    run(qloop, desk, scenario)


def test_rating_link_dialog_stays_open_while_sync_runs(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk, live_server: LiveServer
) -> None:
    """办结 of a phone call, and its rating link in the same step: the link stays on
    screen while sync runs and the caller rates; the dialog says so, and Esc closes it."""

    async def scenario() -> None:
        window = await desk.open("agent")
        target = await select_session(desk, "S011")  # a hotline call, on hold
        pane = window.sessions_pane
        await press_when_enabled(qtbot, window, Qt.Key.Key_F9, pane.close_action)
        dialog = await wait_for_dialog(CloseDialog)
        assert dialog.rating_link_follows and "评价链接" in dialog.intro.text()
        focus(dialog.outcome)
        await press(qtbot, dialog.outcome, Qt.Key.Key_Down)
        type_text(qtbot, dialog.summary, "已告知异地就医备案的办理渠道")
        await press(qtbot, dialog.summary, Qt.Key.Key_Tab)
        await press(qtbot, dialog.ok_button, Qt.Key.Key_Return)
        await wait_closed(dialog)
        # The link follows by itself, straight from the server.
        link = await wait_for_dialog(RatingLinkDialog)
        assert link.url.startswith(live_server.url + "/r/")
        assert not link.qr_label.pixmap().isNull()
        await desk.hold(link)
        await click(qtbot, link.copy_sms_button)
        assert QGuiApplication.clipboard().text() == link.sms_text
        assert link.url in link.sms_text and link.isVisible()
        await wait_until(
            lambda: session_on_server(live_server, target)[0] == "closed", 15, "closed"
        )
        token = link.url.rsplit("/", 1)[1]
        rated = await asyncio.to_thread(rate_as_caller, live_server, token, 5, "很耐心")
        assert rated.status_code == 200, rated.text
        # Sync (every second) brings the caller's rating while the dialog is open.
        await wait_until(lambda: "群众已评价：非常满意" in link.rated.text(), 15, "told")
        await hold_open(link, 0.5)
        await press(qtbot, link, Qt.Key.Key_Escape)
        await wait_closed(link)
        await wait_until(lambda: "非常满意" in pane.view.rating.text(), 10, "rating shown")
        assert not pane.evaluate_action.isEnabled()
        with live_server.db() as db:
            query = select(m.Evaluation.score).where(m.Evaluation.session_id == target)
            assert list(db.scalars(query)) == [5]
        await desk.settled()

    run(qloop, desk, scenario)


def test_new_session_dialog_stays_open_while_sync_runs(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        window = await desk.open("agent")
        pane = window.sessions_pane
        await wait_until(lambda: pane.context.matters, 10, "matters known")
        await desk.activate()
        before = set(pane._sessions)
        qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
        dialog = await wait_for_dialog(NewSessionDialog)
        await desk.hold(dialog)
        type_text(qtbot, dialog.name, "周女士")
        type_text(qtbot, dialog.phone, "13912345678")
        await choose_in_combo(qtbot, dialog.matter, "灵活就业")
        type_text(qtbot, dialog.summary, "来电咨询灵活就业人员参保")
        await click(qtbot, dialog.ok_button)
        await wait_closed(dialog)
        created = await wait_until(lambda: set(pane._sessions) - before, 10, "created")
        [new_id] = created
        await wait_until(lambda: session_on_server(live_server, new_id)[0] != "", 15, "server")
        await desk.settled()

    run(qloop, desk, scenario)


def test_console_reassign_dialog_stays_open_while_sync_runs(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk, live_server: LiveServer
) -> None:
    wangfang = user_id(live_server, "wangfang")

    async def scenario() -> None:
        window = await desk.open("lead")
        target = await select_session(desk, "S010")
        qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
        dialog = await wait_for_dialog(ReassignDialog)
        await desk.hold(dialog)
        await choose_in_combo(qtbot, dialog.agent, "王芳")
        type_text(qtbot, dialog.reason, "李晓雯请假，王芳接续")
        await press(qtbot, dialog.reason, Qt.Key.Key_Return)
        await wait_closed(dialog)
        await wait_until(
            lambda: session_on_server(live_server, target)[1] == wangfang, 15, "server"
        )
        await desk.settled()

    run(qloop, desk, scenario)


# -- the lead's board --------------------------------------------------------------------


async def open_board(desk: Desk, tab: int = TeamBoardPane.TAB_BOARD) -> TeamBoardPane:
    window = await desk.open("lead")
    labels = [window.nav.item(i).text() for i in range(window.nav.count())]
    window.nav.setCurrentRow(next(i for i, t in enumerate(labels) if t.startswith("班组")))
    pane = window.team_pane
    assert pane is not None
    await wait_until(lambda: pane.board is not None, 20, "board shown")
    pane.tabs.setCurrentIndex(tab)
    await desk.activate()
    return pane


def test_drag_reassign_reason_dialog_stays_open_while_sync_runs(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk, live_server: LiveServer
) -> None:
    set_presence(live_server, agent=5, wangfang=5, liuyang=None)
    wangfang = user_id(live_server, "wangfang")
    target = sid("S001")

    async def scenario() -> None:
        pane = await open_board(desk)
        queue_row = pane.queue_model.row_of(target)
        assert queue_row >= 0
        agent_row = row_where(pane.agents_view, lambda t: t.startswith("王芳"))
        drag_onto_agent(pane, pane.queue_view, queue_row, agent_row)
        dialog = await wait_for_dialog(ReassignReasonDialog)
        await desk.hold(dialog)
        type_text(qtbot, dialog.reason, "王芳熟悉公积金业务")
        await press(qtbot, dialog.reason, Qt.Key.Key_Return)
        await wait_closed(dialog)
        await wait_until(
            lambda: session_on_server(live_server, target)[1] == wangfang, 15, "server"
        )
        await wait_until(lambda: "已完成" in pane.message.text(), 15, "confirmed")
        await desk.settled()

    run(qloop, desk, scenario)


def test_board_reassign_dialog_stays_open_while_sync_runs(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk, live_server: LiveServer
) -> None:
    wangfang = user_id(live_server, "wangfang")
    target = sid("S025")  # 刘洋, on hold

    async def scenario() -> None:
        pane = await open_board(desk)
        pane.sessions_view.selectRow(pane.sessions_model.row_of(target))
        assert pane.reassign_button.isEnabled()
        await click(qtbot, pane.reassign_button)
        dialog = await wait_for_dialog(ReassignDialog)
        await desk.hold(dialog)
        await choose_in_combo(qtbot, dialog.agent, "王芳")
        type_text(qtbot, dialog.reason, "刘洋下班，王芳接续")
        await press(qtbot, dialog.reason, Qt.Key.Key_Return)
        await wait_closed(dialog)
        await wait_until(
            lambda: session_on_server(live_server, target)[1] == wangfang, 15, "server"
        )
        await desk.settled()

    run(qloop, desk, scenario)


def test_move_all_dialog_stays_open_while_sync_runs(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk, live_server: LiveServer
) -> None:
    set_presence(live_server, agent=None, wangfang=5, liuyang=5)
    agent, wangfang = user_id(live_server, "agent"), user_id(live_server, "wangfang")
    mine = [sid(r) for r in ("S010", "S011", "S012", "S013")]

    async def scenario() -> None:
        pane = await open_board(desk)
        pane.agents_view.selectRow(row_where(pane.agents_view, lambda t: t.startswith("李晓雯")))
        assert pane.move_all_button.isEnabled()
        await click(qtbot, pane.move_all_button)
        dialog = await wait_for_dialog(MoveAllDialog)
        await desk.hold(dialog)
        await choose_in_combo(qtbot, dialog.target, "王芳")
        type_text(qtbot, dialog.reason, "李晓雯离线，会话改由王芳跟进")
        await press(qtbot, dialog.reason, Qt.Key.Key_Return)
        await wait_closed(dialog)
        await wait_until(
            lambda: all(session_on_server(live_server, s)[1] == wangfang for s in mine),
            20,
            "all moved on the server",
        )
        assert all(session_on_server(live_server, s)[1] != agent for s in mine)
        await desk.settled()

    run(qloop, desk, scenario)


def test_rectification_dialog_stays_open_while_sync_runs(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk, live_server: LiveServer
) -> None:
    with live_server.db() as db:
        rect = db.scalar(select(m.Rectification).where(m.Rectification.team_id == "team-zx"))
        assert rect is not None
        rid = rect.id

    async def scenario() -> None:
        pane = await open_board(desk, TeamBoardPane.TAB_RECTIFICATIONS)
        await wait_until(lambda: pane.rect_model.row_of(rid) >= 0, 10, "listed")
        pane.rect_view.selectRow(pane.rect_model.row_of(rid))
        await click(qtbot, pane.handle_button)
        dialog = await wait_for_dialog(RectificationDialog)
        await desk.hold(dialog)
        await choose_in_combo(qtbot, dialog.assignee, "刘洋")
        type_text(qtbot, dialog.verification, "调取通话录音核实")
        await click(qtbot, dialog.ok_button)  # 保存
        await wait_closed(dialog)

        def on_server() -> tuple[int | None, str]:
            with live_server.db() as db:
                r = db.get(m.Rectification, rid)
                assert r is not None
                return r.assignee_id, r.verification

        liuyang = user_id(live_server, "liuyang")
        await wait_until(
            lambda: on_server() == (liuyang, "调取通话录音核实"), 15, "saved on the server"
        )
        await desk.settled()

    run(qloop, desk, scenario)


def test_export_dialog_stays_open_while_sync_runs(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    desk: Desk,
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    target = tmp_path / "班组统计.csv"

    async def scenario() -> None:
        pane = await open_board(desk, TeamBoardPane.TAB_FIGURES)
        await click(qtbot, pane.compute_button)
        await wait_until(lambda: pane.figures is not None, 15, "figures")
        await click(qtbot, pane.export_button)
        dialog = await wait_for_dialog(QFileDialog)
        assert dialog.windowTitle() == "导出统计"
        await desk.hold(dialog)
        await save_as(qtbot, dialog, str(target))
        await wait_closed(dialog)
        await wait_until(target.is_file, 10, "exported")
        await wait_until(lambda: "已导出到" in pane.figures_label.text(), 5)
        assert "班组统计" in target.read_text(encoding="utf-8-sig")
        await desk.settled()

    run(qloop, desk, scenario)


# -- walkthroughs ------------------------------------------------------------------------


def test_walkthrough_import_dialog_stays_open_while_sync_runs(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    desk: Desk,
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    script = tmp_path / "sbk-v2.yaml"
    script.write_text(with_version(sample("rs-sbk-bh.yaml"), 2), encoding="utf-8")

    async def scenario() -> None:
        window = await desk.open("admin")
        window.nav.setCurrentRow(window.nav.row(window._nav_items[window.PAGE_WALKTHROUGHS]))
        pane = window.walkthrough_pane
        await wait_until(lambda: pane.model.rowCount() > 0, 10, "scripts listed")
        await desk.activate()
        await click(qtbot, pane.import_button)
        dialog = await wait_for_dialog(QFileDialog)
        assert dialog.windowTitle() == "导入导办脚本"
        await desk.hold(dialog)
        await save_as(qtbot, dialog, str(script))
        await wait_closed(dialog)
        await wait_until(lambda: "已发布" in pane.result.toPlainText(), 15, "published")
        with live_server.db() as db:
            versions = db.scalars(
                select(m.Walkthrough.version).where(m.Walkthrough.walkthrough_id == "rs-sbk-bh")
            ).all()
        assert 2 in versions
        await desk.settled()

    run(qloop, desk, scenario)


def test_notice_pdf_dialog_stays_open_while_sync_runs(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    desk: Desk,
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    target = tmp_path / "告知书"

    async def scenario() -> None:
        window = await desk.open("agent")
        pane = window.sessions_pane
        await wait_until(lambda: pane.select_session(AGENT_SESSION), 20, "session listed")
        player = window.walkthrough_player
        await wait_until(lambda: player.session_id == AGENT_SESSION, 10, "player follows")
        pane.show_tool(player)
        await wait_until(lambda: player.pages.currentIndex() == player.PAGE_PICK, 10, "picker")
        await desk.activate()
        player.setFocus()
        keys = [Qt.Key.Key_Return, Qt.Key.Key_1, Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_1]
        keys += [Qt.Key.Key_2, Qt.Key.Key_Return, Qt.Key.Key_2]
        for key in keys:
            target_widget = QApplication.focusWidget()
            assert target_widget is not None
            await press(qtbot, target_widget, key)
        await wait_until(lambda: not player.end_panel.isHidden(), 5, "the end step")
        await click(qtbot, player.pdf_button)
        dialog = await wait_for_dialog(QFileDialog)
        await desk.hold(dialog)
        await save_as(qtbot, dialog, str(target))
        await wait_closed(dialog)
        pdf = target.with_name(target.name + ".pdf")
        await wait_until(pdf.is_file, 10, "PDF written")
        assert pdf.read_bytes().startswith(b"%PDF")
        assert "已导出" in player.status.text()
        await desk.settled()

    run(qloop, desk, scenario)


def test_a_refused_message_box_is_answered_too(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, desk: Desk
) -> None:
    """An op that fails without a banner of its own shows a (non-blocking) message box,
    which stays open while sync runs and is dismissed with the mouse."""

    from core.localstore.session_actions import ActionError
    from ui.operations import Op

    async def scenario() -> None:
        window = await desk.open("agent")

        def refuse() -> None:
            raise ActionError("会话已被他人处理")

        outcome = await window.ops.run(Op(db=refuse, parent=window, title="操作未完成"))
        assert not outcome.ok and outcome.text == "会话已被他人处理"
        box = await wait_for_dialog(QMessageBox)
        assert box.text() == "会话已被他人处理"
        await desk.hold(box)
        await click(qtbot, button(box, "知道了"))
        await wait_closed(box)
        await desk.settled()

    run(qloop, desk, scenario)
