"""A staff member's desk for the console tests: signed in to a live server, the main
window open and syncing, and closed in order at the end (window, sync, events, cache)."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from core.settings import ClientSettings
from sync.account import Account, open_account_cache
from sync.backoff import Backoff
from sync.client import ApiClient
from tests.support import DEMO_PASSWORD
from ui.main_window import MainWindow
from ui.worker import Workers

QUIET = ClientSettings(sync_interval_seconds=3600)
"""No timed syncs: what appears came by a live event or an action."""


async def signed_in(workers: Workers, url: str, username: str) -> Account:
    api = ApiClient(url)
    result = await workers.on_net(api.login, username, DEMO_PASSWORD)
    cache, store, notices = await workers.on_db(open_account_cache, url, result.user, DEMO_PASSWORD)
    return Account(url, result.user, api, cache, store, offline=False, notices=notices)


async def open_desk(
    qtbot: QtBot,
    workers: Workers,
    url: str,
    username: str,
    settings: ClientSettings = QUIET,
) -> MainWindow:
    """The main window of ``username``, shown and started (live events reconnect fast)."""
    account = await signed_in(workers, url, username)
    window = MainWindow(account, workers, settings)
    qtbot.addWidget(window)
    window.live.listener.backoff = Backoff(base=0.05, cap=0.3)
    window.show()
    window.start()
    return window


async def close_desk(window: MainWindow) -> None:
    window.close()
    await window.sync.wait_idle()
    await window.live.wait_stopped()
    window.account.close()
