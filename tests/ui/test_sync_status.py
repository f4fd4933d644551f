"""The status bar follows the link: online → offline when the link is cut (with the
unsent actions counted and the last successful sync still shown), and back online by
itself as soon as the link returns — through a fault proxy that is cut and restored."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from core.settings import ClientSettings
from server import models as m
from server.services import catalog
from tests.faultproxy import Fault, FaultProxy
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from ui.login_dialog import LoginDialog
from ui.main_window import MainWindow
from ui.worker import Workers

SHOTS = Path(__file__).resolve().parents[2] / "shots"
HEALTH = "/api/v1/health"
CHANGES = "/api/v1/sync/changes"


async def open_window(qtbot: QtBot, workers: Workers, url: str) -> MainWindow:
    dialog = LoginDialog(workers, url, "")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username_edit, "agent")
    qtbot.keyClicks(dialog.password_edit, DEMO_PASSWORD)
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    account = await wait_until(lambda: dialog.account, 20, "signed in")
    # An hour between scheduled rounds: only the probe can bring the link back quickly.
    window = MainWindow(account, workers, ClientSettings(sync_interval_seconds=3600))
    qtbot.addWidget(window)
    window.resize(1100, 700)
    window.show()
    window.start()
    return window


def test_the_status_bar_follows_a_cut_link_and_sync_resumes_when_it_returns(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    with FaultProxy(live_server.url) as proxy:

        async def scenario() -> None:
            window = await open_window(qtbot, workers, proxy.url)
            conn, last = window.conn_label, window.last_sync_label
            await wait_until(lambda: "在线" in conn.text(), 20, "online")
            assert "上次同步" in last.text()
            synced_at = last.text()
            account = window.account
            me = account.user.id
            sessions = await workers.on_db(account.store.sessions)
            session_id = next(s.id for s in sessions if s.assignee_id == me)

            proxy.refusing = True
            note_id, _ = await workers.on_db(
                account.store.add_note, session_id, "断网时记下的备注", None
            )
            await window.sync.local_change()
            await wait_until(lambda: "离线" in conn.text(), 30, "offline")
            assert "待上传 1 项" in conn.text()
            assert last.text() == synced_at  # the last success stays visible
            assert "无法连接服务器" in conn.toolTip()
            SHOTS.mkdir(exist_ok=True)
            window.statusBar().grab().save(str(SHOTS / "status_bar_offline.png"))

            probes = proxy.count("GET", HEALTH, forwarded=True)
            proxy.refusing = False
            await wait_until(
                lambda: "在线" in conn.text() and "待上传" not in conn.text(), 30, "back online"
            )
            # A health probe noticed the link, and a full round followed at once.
            assert proxy.count("GET", HEALTH, forwarded=True) > probes
            with live_server.db() as db:
                assert db.get(m.SessionNote, note_id) is not None
            window.statusBar().grab().save(str(SHOTS / "status_bar_online.png"))

            # On demand: the 同步 button and F5 each start a round.
            pulls = proxy.count("GET", CHANGES)
            qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
            await wait_until(lambda: proxy.count("GET", CHANGES) > pulls, 20, "button sync")
            await wait_until(lambda: window.sync_button.isEnabled(), 20, "round over")
            pulls = proxy.count("GET", CHANGES)
            qtbot.keyClick(window, Qt.Key.Key_F5)
            await wait_until(lambda: proxy.count("GET", CHANGES) > pulls, 20, "F5 sync")

            window.close()
            await window.sync.wait_idle()
            account.close()

        qloop.run_until_complete(scenario())


def test_a_server_that_answers_503_shows_degraded_and_honours_retry_after(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    with FaultProxy(live_server.url) as proxy:

        async def scenario() -> None:
            window = await open_window(qtbot, workers, proxy.url)
            conn = window.conn_label
            await wait_until(lambda: "在线" in conn.text(), 20, "online")
            proxy.add(Fault.STATUS, "GET", CHANGES, status=503, retry_after="120")
            qtbot.keyClick(window, Qt.Key.Key_F5)
            await wait_until(lambda: "网络不稳" in conn.text(), 20, "degraded")
            plan = window.sync.next_plan
            assert plan is not None and plan.delay >= 120
            assert "503" in conn.toolTip()
            window.close()
            await window.sync.wait_idle()
            window.account.close()

        qloop.run_until_complete(scenario())


def test_a_refused_action_is_shown_with_its_reason_and_the_queue_goes_on(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        window = await open_window(qtbot, workers, live_server.url)
        await wait_until(lambda: "在线" in window.conn_label.text(), 20, "online")
        store = window.account.store
        entry = (await workers.on_db(store.knowledge_list, 1))[0]
        with live_server.db() as db:
            catalog.delete_knowledge(db, entry.id)
            db.commit()
        await workers.on_db(store.add_knowledge_feedback, entry.id, "correction", "时限写错了")
        await workers.on_db(store.add_knowledge_feedback, None, "new_question", "新生儿落户？")
        await window.sync.local_change()

        def shown() -> QMessageBox | None:
            boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
            return boxes[0] if boxes else None

        box = await wait_until(shown, 20, "the refusal shown")
        assert "已不存在" in box.text() and "时限写错了" in box.text()
        box.grab().save(str(SHOTS / "sync_refusal.png"))
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
        await wait_until(lambda: shown() is None, 10, "closed")
        await wait_until(lambda: "待上传" not in window.conn_label.text(), 20, "queue drained")
        with live_server.db() as db:
            assert db.scalar(select(func.count()).select_from(m.KnowledgeFeedback)) == 1
        window.close()
        await window.sync.wait_idle()
        window.account.close()

    qloop.run_until_complete(scenario())
