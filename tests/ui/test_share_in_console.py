"""The screen-share panel as wired into the main window's session console."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from core.settings import ClientSettings
from sync.account import Account, open_account_cache
from sync.client import ApiClient
from tests.share_support import consent_over_http, session_of
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from ui.main_window import MainWindow
from ui.worker import Workers


async def signed_in(workers: Workers, url: str, username: str) -> Account:
    api = ApiClient(url)
    result = await workers.on_net(api.login, username, DEMO_PASSWORD)
    cache, store, notices = await workers.on_db(open_account_cache, url, result.user, DEMO_PASSWORD)
    account = Account(url, result.user, api, cache, store, offline=False, notices=notices)
    return account


def test_start_a_share_from_the_session_console(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    mine = session_of(live_server, "agent")
    theirs = session_of(live_server, "wangfang")  # not visible to the agent at all

    async def scenario() -> None:
        account = await signed_in(workers, live_server.url, "agent")
        window = MainWindow(account, workers, ClientSettings())
        qtbot.addWidget(window)
        window.show()
        window.start()
        panel = window.share_panel
        pane = window.sessions_pane
        assert pane.tools.indexOf(panel) >= 0, "the panel is a tool beside the session"
        await wait_until(lambda: pane.select_session(mine), 20, "session listed")
        pane.show_tool(panel)
        await wait_until(lambda: panel.start_button.isEnabled(), 20, "online and mine")
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        link = await wait_until(lambda: panel.link, 10, "link created")
        await asyncio.get_running_loop().run_in_executor(None, consent_over_http, link.join_url)
        # The event stream (or the panel's own check) brings the consent within seconds.
        await wait_until(lambda: "已同意" in panel.state_label.text(), 15, "consent shown")
        # The session's timeline (synced) tells the story in words.
        timeline = pane.view.timeline_model

        def lines() -> list[str]:
            return [timeline.index(r, 0).data() for r in range(timeline.rowCount())]

        await wait_until(lambda: any("同意共享屏幕" in t for t in lines()), 15, "timeline")
        assert any("李晓雯" in t and "发起屏幕共享" in t for t in lines())
        assert any("群众" in t and "打开屏幕共享页面" in t for t in lines())
        target = os.environ.get("BANGBAN_SHOTS")
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            window.grab().save(str(Path(target) / "console-share.png"))
        assert pane.session(theirs) is None
        window.close()
        await window.sync.wait_idle()
        account.close()

    qloop.run_until_complete(scenario())
