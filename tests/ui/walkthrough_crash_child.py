"""A client process for the crash-resume test (not a test module).

It signs in as the demo agent, syncs its own cache, follows the walkthrough of the
agent's session in the real player by keyboard, waits until every save is in the local
cache and the outbox, then, depending on ``mode``:

- ``before_push``: sends nothing;
- ``after_push``: runs a full sync (push and pull);
- ``lost_answer``: sends the outbox to the server but never records the answer, as if
  the process died while the answer was on its way.

It then prints one JSON line ``{"ready": mode, "step": …, "ticks": …}`` and sleeps until
the test kills it with SIGKILL.

Usage: ``python -m tests.ui.walkthrough_crash_child URL CACHE_PATH MODE``
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

KEYS = ("Key_Return", "Key_1", "Key_1", "Key_2", "Key_Space")
"""Start, 没有在单位参保, 年龄符合, 外地户籍, tick 本人居民身份证."""


def main(url: str, cache_path: str, mode: str) -> int:
    import qasync
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from core.localstore.db import open_cache
    from core.localstore.store import LocalStore
    from core.localstore.walkthroughs import WalkthroughStore
    from sync.client import ApiClient
    from sync.engine import SyncEngine
    from tests.support import DEMO_PASSWORD
    from tests.walkthrough_support import AGENT_SESSION
    from ui.walkthrough_player import WalkthroughPlayer
    from ui.worker import Workers

    api = ApiClient(url)
    user = api.login("agent", DEMO_PASSWORD).user
    cache = open_cache(Path(cache_path))
    store = LocalStore(cache.sessions)
    scripts = WalkthroughStore(cache.sessions)
    engine = SyncEngine(api, store)
    engine.sync_blocking()

    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    workers = Workers()
    player = WalkthroughPlayer(workers, store, scripts, user)
    player.resize(700, 800)
    player.show()
    player.activateWindow()
    player.setFocus()

    async def scenario() -> None:
        while not player.isActiveWindow():
            await asyncio.sleep(0.01)
        await player.show_session(AGENT_SESSION)
        for name in KEYS:
            target = QApplication.focusWidget() or player
            QTest.keyClick(target, getattr(Qt.Key, name))
        while await workers.on_db(store.outbox_size) < len(KEYS):
            await asyncio.sleep(0.01)
        if mode == "after_push":
            await engine.sync(workers.db, workers.net)
        elif mode == "lost_answer":
            pending = await workers.on_db(store.pending_mutations)
            await workers.on_net(api.push, [item.to_wire() for item in pending])
        state = player.state
        assert state is not None
        print(
            json.dumps({"ready": mode, "step": state.current, "ticks": dict(state.ticks)}),
            flush=True,
        )
        await asyncio.sleep(3600)

    loop.run_until_complete(scenario())
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
