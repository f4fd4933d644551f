"""The sync engine: push the outbox in order, then pull pages by cursor.

Network calls run on one executor, cache work on another (the single database
worker), so a slow link never holds the cache and the cache never holds the GUI.
While one page is applied the next is already being fetched.

What it guarantees (DESIGN.md §4):

- every pulled page is applied together with its cursor in one local transaction,
  so a cut connection or a crash resumes at the last whole page;
- the outbox goes out in order; an action the server refuses (``rejected``, or a
  4xx for the action itself) leaves the outbox as a problem to show and never holds
  up the actions behind it; a network error, 5xx or 429 keeps it for the next try;
- a cursor older than the server's tombstone horizon (410) resets the cache and
  downloads everything again, keeping the unsent outbox;
- the stored cursor never goes back, except by that reset.
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
from sync.errors import BadResponse, CursorExpired, Refused, ServerUnreachable, SyncError

log = logging.getLogger(__name__)

T = TypeVar("T")

PUSH_BATCH = 50
MIN_PAGE = 50
"""The smallest page the engine shrinks to when pages time out on a slow link."""
ANSWERED = frozenset({"applied", "duplicate", "rejected", "conflict"})
REFUSED_ONE_BY_ONE = frozenset({400, 409, 413, 422})
"""Statuses of a whole push that may be caused by one bad action in the batch: the
batch is then sent one action at a time, and an action refused on its own leaves the
outbox as a problem. Any other 4xx (404 from a proxy, say) keeps the outbox."""


@dataclass
class SyncReport:
    """What one round did; filled in as it goes, so a failed round still tells."""

    pulled: int = 0
    pages: int = 0
    pushed: int = 0
    duplicates: int = 0
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
        self.max_page_limit = page_limit
        self.page_limit = page_limit
        self.on_progress = on_progress

    async def _on(self, executor: Executor | None, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    # -- push -------------------------------------------------------------------------------

    async def push(self, db: Executor | None, net: Executor | None, report: SyncReport) -> None:
        """Send the outbox in order until it is empty. A refused write leaves the outbox
        (kept as a problem to show) and never blocks the writes behind it."""
        batch_size = PUSH_BATCH
        while True:
            batch = await self._on(db, self.store.pending_mutations, batch_size)
            if not batch:
                return
            ids = [m.mutation_id for m in batch]
            try:
                results = await self._on(net, self.api.push, [m.to_wire() for m in batch])
            except Refused as exc:
                if exc.status not in REFUSED_ONE_BY_ONE:
                    await self._on(db, self.store.note_push_failure, ids, exc.message)
                    raise
                if len(batch) > 1:
                    # One action may spoil the batch: find it by sending them singly.
                    log.info("push of %d refused (%s); sending singly", len(batch), exc.status)
                    batch_size = 1
                    continue
                log.info("action %s refused (%s): %s", ids[0], exc.status, mask_text(exc.message))
                results = [{"mutation_id": ids[0], "status": "rejected", "reason": exc.message}]
            except SyncError as exc:
                await self._on(db, self.store.note_push_failure, ids, exc.message)
                raise
            changes = await self._on(db, self.store.resolve_mutations, results)
            report.changes.merge(changes)
            resolved = [
                r for r in results if r.get("mutation_id") in ids and r.get("status") in ANSWERED
            ]
            report.pushed += len(resolved)
            report.duplicates += sum(1 for r in resolved if r["status"] == "duplicate")
            report.rejected += [
                r.get("reason") or "" for r in resolved if r["status"] in ("rejected", "conflict")
            ]
            if not resolved:
                # The server answered none of them: stop rather than loop for ever.
                await self._on(db, self.store.note_push_failure, ids, "服务器没有处理")
                raise BadResponse("服务器没有处理提交的操作，稍后自动重试")

    # -- pull -------------------------------------------------------------------------------

    async def pull(self, db: Executor | None, net: Executor | None, report: SyncReport) -> None:
        """Fetch pages after the stored cursor; each page is applied with its cursor in
        one local transaction, so an interrupted pull resumes where it stopped. A 410
        (the cursor is older than the server's tombstone horizon), on the first page or
        any later one, resets the cache once and downloads everything again."""
        while True:
            try:
                await self._pull_pages(db, net, report)
                return
            except CursorExpired:
                if report.reset:
                    raise
                cursor = await self._on(db, self.store.cursor)
                log.warning("cursor %s expired on the server; downloading everything again", cursor)
                changes = await self._on(db, self.store.reset)
                report.changes.merge(changes)
                report.reset = True

    async def _fetch(self, net: Executor | None, cursor: int, horizon: int | None) -> ChangesPage:
        limit = self.page_limit
        try:
            page = await self._on(net, self.api.changes, cursor, limit, horizon)
        except ServerUnreachable as exc:
            if exc.code == "timeout" and limit > MIN_PAGE:
                # The link is too slow for pages this size: ask for smaller ones.
                self.page_limit = max(MIN_PAGE, limit // 2)
                log.info("page of %d timed out; next pages hold %d", limit, self.page_limit)
            raise
        if page.cursor < cursor:
            raise BadResponse("服务器返回的同步游标比本地的还旧，稍后自动重试")
        if page.has_more and page.cursor == cursor:
            raise BadResponse("服务器的同步数据没有进展，稍后自动重试")
        return page

    async def _apply(self, db: Executor | None, page: ChangesPage) -> Changes:
        try:
            return await self._on(
                db, self.store.apply_page, page.changes, page.cursor, page.horizon
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # The transaction rolled back and the cursor stayed: nothing half-applied.
            log.warning("a pulled page could not be applied: %r", exc)
            raise BadResponse("服务器返回的同步数据有误，稍后自动重试") from exc

    async def _pull_pages(
        self, db: Executor | None, net: Executor | None, report: SyncReport
    ) -> None:
        cursor = await self._on(db, self.store.cursor)
        horizon = await self._on(db, self.store.horizon)
        page = await self._fetch(net, cursor, horizon)
        while True:
            next_fetch: asyncio.Future[ChangesPage] | None = None
            if page.has_more:
                next_fetch = asyncio.ensure_future(self._fetch(net, page.cursor, page.horizon))
            try:
                changes = await self._apply(db, page)
            except BaseException:
                if next_fetch is not None:
                    next_fetch.cancel()
                    # Collect the prefetch so its failure is not reported as unhandled.
                    await asyncio.gather(next_fetch, return_exceptions=True)
                raise
            report.changes.merge(changes)
            report.pulled += len(page.changes)
            report.pages += 1
            if self.on_progress is not None:
                self.on_progress(report.pulled, report.pages)
            if next_fetch is None:
                return
            page = await next_fetch

    # -- a round ----------------------------------------------------------------------------

    async def sync(
        self,
        db: Executor | None = None,
        net: Executor | None = None,
        report: SyncReport | None = None,
    ) -> SyncReport:
        """One full round: push, pull, and note the time of success. Pass ``report`` to
        learn what a round that failed half-way had already done."""
        report = report if report is not None else SyncReport()
        await self.push(db, net, report)
        await self.pull(db, net, report)
        await self._on(db, self.store.set_meta, LAST_SYNC, datetime.now().isoformat())
        # A whole round went through: let pages grow back towards the configured size.
        self.page_limit = min(self.max_page_limit, self.page_limit * 2)
        if report.rejected:
            log.info(
                "server refused %d actions: %s",
                len(report.rejected),
                mask_text("; ".join(report.rejected)),
            )
        return report

    def sync_blocking(self, report: SyncReport | None = None) -> SyncReport:
        """Run one round in the calling thread (command line, tests, child processes)."""
        return asyncio.run(self.sync(report=report))
