"""The walkthrough player as a tool of the session console: pick the session's
script, follow it by keyboard, close the app mid-way, reopen it at the same step."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from core.localstore.walkthroughs import run_id_for
from core.settings import ClientSettings
from server import models as m
from sync.account import Account, open_account_cache
from sync.client import ApiClient
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from tests.walkthrough_support import AGENT_SESSION, save_shot
from ui.main_window import MainWindow
from ui.walkthrough_player import WalkthroughPlayer
from ui.worker import Workers


async def signed_in(workers: Workers, url: str) -> Account:
    api = ApiClient(url)
    result = await workers.on_net(api.login, "agent", DEMO_PASSWORD)
    cache, store, notices = await workers.on_db(open_account_cache, url, result.user, DEMO_PASSWORD)
    account = Account(url, result.user, api, cache, store, offline=False, notices=notices)
    return account


async def open_window(qtbot: QtBot, workers: Workers, url: str) -> tuple[MainWindow, Account]:
    account = await signed_in(workers, url)
    window = MainWindow(account, workers, ClientSettings())
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.activateWindow()
    window.start()
    pane = window.sessions_pane
    assert pane.tools.indexOf(window.walkthrough_player) >= 0, "the player is a console tool"
    await wait_until(lambda: pane.select_session(AGENT_SESSION), 20, "session listed")
    player = window.walkthrough_player
    await wait_until(lambda: player.session_id == AGENT_SESSION, 10, "player follows selection")
    pane.show_tool(player)
    await wait_until(window.isActiveWindow, 10, "window active")
    player.setFocus()
    return window, account


async def close_window(window: MainWindow, account: Account) -> None:
    window.close()
    await window.sync.wait_idle()
    account.close()


def press(qtbot: QtBot, player: WalkthroughPlayer, key: Qt.Key) -> None:
    target = QApplication.focusWidget()
    assert target is not None and (target is player or player.isAncestorOf(target))
    qtbot.keyClick(target, key)


def test_follow_close_and_reopen_at_the_same_step(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    async def first_visit() -> None:
        window, account = await open_window(qtbot, workers, live_server.url)
        player = window.walkthrough_player
        await wait_until(lambda: player.pages.currentIndex() == player.PAGE_PICK, 10, "picker")
        for key in (Qt.Key.Key_Return, Qt.Key.Key_1, Qt.Key.Key_1, Qt.Key.Key_2):
            press(qtbot, player, key)
        press(qtbot, player, Qt.Key.Key_Space)
        assert player.step_title.text() == "外地户籍的材料"
        # A cited knowledge entry opens in the console's knowledge tool.
        player.knowledge_links.linkActivated.emit("kb-rs-008")
        knowledge = window.session_knowledge
        await wait_until(
            lambda: window.sessions_pane.tools.currentWidget() is knowledge, 10, "entry shown"
        )
        assert "外地户口" in knowledge.view.toPlainText()
        # Each save is pushed soon after (the sync controller is told of local changes).
        await wait_until(
            lambda: account.store.outbox_size() == 0 and server_position() == "nonlocal_docs",
            20,
            "saves pushed",
        )
        window.sessions_pane.show_tool(player)
        save_shot(window, "console-walkthrough.png")
        await close_window(window, account)

    def server_position() -> str | None:
        with live_server.db() as db:
            run = db.get(m.WalkthroughRun, run_id_for(AGENT_SESSION, "rs-lhjy-cb"))
            return run.state["position"] if run is not None else None

    async def second_visit() -> None:
        window, account = await open_window(qtbot, workers, live_server.url)
        player = window.walkthrough_player
        await wait_until(lambda: player.pages.currentIndex() == player.PAGE_RUN, 10, "resumed")
        assert player.step_title.text() == "外地户籍的材料"
        assert player.state is not None and dict(player.state.ticks) == {"id_card": True}
        first = player.checklist.item(0)
        assert first.checkState() == Qt.CheckState.Checked
        await wait_until(
            lambda: any(
                "开始导办" in (window.sessions_pane.view.timeline_model.index(r, 0).data() or "")
                for r in range(window.sessions_pane.view.timeline_model.rowCount())
            ),
            10,
            "timeline",
        )
        await close_window(window, account)

    qloop.run_until_complete(first_visit())
    qloop.run_until_complete(second_visit())
