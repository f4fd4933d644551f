"""The sync engine: push the outbox in order, then pull pages by cursor.

Network calls run on one executor, cache work on another (the single database
worker), so a slow link never holds the cache and the cache never holds the GUI.
While one page is applied the next is already being fetched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from core.localstore.changes import Changes
from core.localstore.store import LAST_SYNC, LocalStore
from core.masking import mask_text
from sync.client import ApiClient, ChangesPage
from sync.errors import CursorExpired, SyncError

log = logging.getLogger(__name__)

T = TypeVar("T")

PUSH_BATCH = 50


@dataclass
class SyncReport:
    pulled: int = 0
    pages: int = 0
    pushed: int = 0
    rejected: list[str] = field(default_factory=list)
    changes: Changes = field(default_factory=Changes)
    reset: bool = False


class SyncEngine:
    """Push then pull, for one signed-in user against one server."""

    def __init__(
        self,
        api: ApiClient,
        store: LocalStore,
        *,
        page_limit: int = 1000,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.api = api
        self.store = store
        self.page_limit = page_limit
        self.on_progress = on_progress

    async def _on(self, executor: Executor | None, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    async def push(self, db: Executor | None, net: Executor | None, report: SyncReport) -> None:
        """Send the outbox in order until it is empty. A refused write leaves the outbox
        (kept as a problem to show) and never blocks the writes behind it."""
        while True:
            batch = await self._on(db, self.store.pending_mutations, PUSH_BATCH)
            if not batch:
                return
            ids = [m.mutation_id for m in batch]
            try:
                results = await self._on(net, self.api.push, [m.to_wire() for m in batch])
            except SyncError as exc:
                await self._on(db, self.store.note_push_failure, ids, exc.message)
                raise
            changes = await self._on(db, self.store.resolve_mutations, results)
            report.changes.merge(changes)
            answered = {r["mutation_id"] for r in results}
            report.pushed += len(answered & set(ids))
            report.rejected += [
                r.get("reason") or ""
                for r in results
                if r.get("status") in ("rejected", "conflict")
            ]
            if not answered & set(ids):
                # The server answered none of them: stop rather than loop for ever.
                raise SyncError("服务器没有处理提交的操作，稍后重试")

    async def pull(self, db: Executor | None, net: Executor | None, report: SyncReport) -> None:
        """Fetch pages after the stored cursor; each page is applied with its cursor in
        one local transaction, so an interrupted pull resumes where it stopped."""
        cursor = await self._on(db, self.store.cursor)
        try:
            page = await self._on(net, self.api.changes, cursor, self.page_limit)
        except CursorExpired:
            log.warning("cursor %s expired on the server; downloading everything again", cursor)
            await self._on(db, self.store.reset)
            report.reset = True
            cursor = 0
            page = await self._on(net, self.api.changes, 0, self.page_limit)
        while True:
            next_fetch: asyncio.Future[ChangesPage] | None = None
            if page.has_more:
                next_fetch = asyncio.ensure_future(
                    self._on(net, self.api.changes, page.cursor, self.page_limit)
                )
            try:
                changes = await self._on(db, self.store.apply_page, page.changes, page.cursor)
            except BaseException:
                if next_fetch is not None:
                    next_fetch.cancel()
                raise
            report.changes.merge(changes)
            report.pulled += len(page.changes)
            report.pages += 1
            if self.on_progress is not None:
                self.on_progress(report.pulled, report.pages)
            if next_fetch is None:
                return
            page = await next_fetch

    async def sync(self, db: Executor | None = None, net: Executor | None = None) -> SyncReport:
        """One full round: push, pull, and note the time of success."""
        report = SyncReport()
        await self.push(db, net, report)
        await self.pull(db, net, report)
        await self._on(db, self.store.set_meta, LAST_SYNC, datetime.now().isoformat())
        if report.rejected:
            log.info(
                "server refused %d actions: %s",
                len(report.rejected),
                mask_text("; ".join(report.rejected)),
            )
        return report

    def sync_blocking(self) -> SyncReport:
        """Run one round in the calling thread (command line, tests)."""
        return asyncio.run(self.sync())
