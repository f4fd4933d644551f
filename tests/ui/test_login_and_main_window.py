"""Start the client against a real server, sign in by typing, see the synced data."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from core.settings import ClientSettings
from server import models as m
from sync.account import cache_path_for_server
from sync.client import ApiClient
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from ui.login_dialog import LoginDialog
from ui.main_window import MainWindow
from ui.worker import Workers


async def sign_in(
    qtbot: QtBot, workers: Workers, url: str, username: str, password: str
) -> LoginDialog:
    dialog = LoginDialog(workers, url, "")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username_edit, username)
    qtbot.keyClicks(dialog.password_edit, password)
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    return dialog


def expected_agent_sessions(server: LiveServer, username: str) -> set[str]:
    with server.db() as db:
        user = db.scalar(select(m.User).where(m.User.username == username))
        assert user is not None
        rows = db.scalars(
            select(m.Session.id).where(
                (m.Session.assignee_id == user.id)
                | ((m.Session.state == "waiting") & (m.Session.team_id == user.team_id))
            )
        ).all()
    return set(rows)


def test_sign_in_and_see_the_synced_sessions(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    expected = expected_agent_sessions(live_server, "agent")

    async def scenario() -> None:
        dialog = await sign_in(qtbot, workers, live_server.url, "agent", DEMO_PASSWORD)
        account = await wait_until(lambda: dialog.account, message="signed in")
        assert not dialog.isVisible()
        window = MainWindow(account, workers, ClientSettings())
        qtbot.addWidget(window)
        window.show()
        window.start()
        model = window.sessions_pane.model
        await wait_until(lambda: model.rowCount() == len(expected), 20, "sessions listed")
        shown = {model.session_at(r).id for r in range(model.rowCount())}
        assert shown == expected
        # Phone numbers are masked in the list.
        phones = [model.index(r, 2).data() for r in range(model.rowCount())]
        assert all("****" in p for p in phones if p)
        # The knowledge pane lists the synced entries, and the status bar says online.
        await wait_until(lambda: window.knowledge_pane.model.rowCount() > 0, 10, "knowledge listed")
        await wait_until(lambda: "在线" in window.conn_label.text(), 10, "online state")
        assert "上次同步" in window.last_sync_label.text()
        assert "班组" not in [window.nav.item(i).text() for i in range(window.nav.count())]
        window.close()
        await window.sync.wait_idle()
        account.close()

    qloop.run_until_complete(scenario())


def test_wrong_password_shows_a_message_and_keeps_the_dialog(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        dialog = await sign_in(qtbot, workers, live_server.url, "agent", "not-the-password")
        await wait_until(lambda: "用户名或密码错误" in dialog.message.text(), message="error shown")
        assert dialog.isVisible() and dialog.account is None
        assert dialog.login_button.isEnabled()

    qloop.run_until_complete(scenario())


def test_unreachable_server_offers_the_offline_cache(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = live_server.url
    server_id = ApiClient(url).health()["server_id"]

    async def first_login_then_stop() -> None:
        dialog = await sign_in(qtbot, workers, url, "agent", DEMO_PASSWORD)
        account = await wait_until(lambda: dialog.account, message="signed in")
        window = MainWindow(account, workers, ClientSettings())
        qtbot.addWidget(window)
        window.start()
        await wait_until(lambda: window.sessions_pane.model.rowCount() > 0, 20, "first sync")
        window.close()
        await window.sync.wait_idle()
        account.close()

    qloop.run_until_complete(first_login_then_stop())
    live_server.stop()
    assert cache_path_for_server(server_id, "agent").exists()
    asked: list[str] = []

    def question() -> QMessageBox | None:
        boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
        return next((b for b in boxes if b.isVisible()), None)

    async def answer(yes: bool) -> None:
        box = await wait_until(question, message="the offline question")
        asked.append(box.text())
        # The question stays open while the loop runs (no nested loop): wait a while.
        await asyncio.sleep(1.0)
        assert box.isVisible()
        wanted = "离线工作" if yes else "取消"
        button = next(b for b in box.buttons() if b.text() == wanted)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    async def offline_login() -> None:
        bad = await sign_in(qtbot, workers, url, "agent", "wrong")
        await answer(True)
        await wait_until(lambda: "错误" in bad.message.text(), message="offline password refused")
        assert bad.account is None
        declined = await sign_in(qtbot, workers, url, "agent", DEMO_PASSWORD)
        await answer(False)
        await wait_until(lambda: "无法连接" in declined.message.text(), message="declined")
        assert declined.account is None and declined.isVisible()
        dialog = await sign_in(qtbot, workers, url, "agent", DEMO_PASSWORD)
        await answer(True)
        account = await wait_until(lambda: dialog.account, message="offline sign-in")
        assert account.offline
        window = MainWindow(account, workers, ClientSettings())
        qtbot.addWidget(window)
        window.start()
        await wait_until(lambda: window.sessions_pane.model.rowCount() > 0, 10, "cached sessions")
        await wait_until(
            lambda: "离线" in window.conn_label.text() or "网络不稳" in window.conn_label.text(),
            15,
            "offline state",
        )
        window.close()
        await window.sync.wait_idle()
        account.close()

    qloop.run_until_complete(offline_login())
    assert asked and "无法连接服务器" in asked[0]


def test_a_corrupt_cache_is_moved_aside_and_rebuilt(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    path = cache_path_for_server(ApiClient(live_server.url).health()["server_id"], "agent")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)

    async def scenario() -> None:
        dialog = await sign_in(qtbot, workers, live_server.url, "agent", DEMO_PASSWORD)
        account = await wait_until(lambda: dialog.account, message="signed in")
        assert any("已损坏" in n for n in account.notices)
        window = MainWindow(account, workers, ClientSettings())
        qtbot.addWidget(window)
        window.start()
        await wait_until(
            lambda: window.sessions_pane.model.rowCount() > 0, 20, "rebuilt from server"
        )
        window.close()
        await window.sync.wait_idle()
        account.close()

    qloop.run_until_complete(scenario())
    assert list(path.parent.glob(path.name + ".corrupt-*"))
