"""The two executors the UI awaits: one serialised database worker, one network pool.

Every local-cache write goes through the single database thread (as Anki's
``taskman.py`` does); network calls run in a small pool so a long poll never
blocks a push. Coroutines await results; workers never touch widgets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Workers:
    def __init__(self) -> None:
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bangban-db")
        self.net = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bangban-net")

    async def on_db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.db, fn, *args)

    async def on_net(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.net, fn, *args)

    def shutdown(self) -> None:
        self.net.shutdown(wait=False, cancel_futures=True)
        self.db.shutdown(wait=True, cancel_futures=True)
