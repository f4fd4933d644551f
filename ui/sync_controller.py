"""The Qt adapter of the sync engine: runs it on a schedule and reports by signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal
from sqlalchemy.exc import OperationalError

from core.localstore.store import LAST_SYNC
from sync.account import Account
from sync.client import PROBE_TIMEOUT
from sync.connectivity import Connectivity
from sync.engine import SyncEngine, SyncReport
from sync.errors import AuthError, Forbidden, SyncError
from sync.scheduler import Plan, Step, SyncScheduler
from ui.tasks import spawn
from ui.worker import Workers

log = logging.getLogger(__name__)


class SyncController(QObject):
    """Background sync for one account: on a timer, on demand (F5, the 同步 button, a
    local action), and as soon as the network comes back; never on the GUI thread.

    The policy (what to do next and when) is :class:`sync.scheduler.SyncScheduler`;
    this class only runs it: one single-shot timer, and at most one round or probe at a
    time.
    """

    connectivity_changed = Signal(object)
    data_changed = Signal(object)
    """A :class:`core.localstore.changes.Changes` of what the round touched."""
    sync_failed = Signal(str)
    problems_found = Signal(list)
    progress = Signal(int)

    def __init__(
        self,
        account: Account,
        workers: Workers,
        *,
        interval_seconds: int = 60,
        page_limit: int = 1000,
        scheduler: SyncScheduler | None = None,
    ) -> None:
        super().__init__()
        self.account = account
        self.workers = workers
        self.engine = SyncEngine(
            account.api, account.store, page_limit=page_limit, on_progress=self._on_engine_progress
        )
        self.scheduler = scheduler or SyncScheduler(interval=float(interval_seconds))
        self.state: Connectivity = self.scheduler.state
        self.next_plan: Plan | None = None
        """What the timer will do next (for the status bar's tooltip and for tests)."""
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._stopped = False
        self._problems_lock = asyncio.Lock()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)

    def _on_engine_progress(self, pulled: int, _pages: int) -> None:
        self.progress.emit(pulled)

    def start(self) -> None:
        """Show what the cache remembers, then sync at once."""
        last = self.account.store.get_meta(LAST_SYNC)
        pending = self.account.store.outbox_size()
        self._set_state(
            self.scheduler.restore(datetime.fromisoformat(last) if last else None, pending)
        )
        # Refusals a previous run stored but never showed (it crashed, or quit first).
        spawn(self._emit_problems())
        self.request_sync()

    def stop(self) -> None:
        self._stopped = True
        self._timer.stop()
        if self._task is not None:
            self._task.cancel()

    async def wait_idle(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def request_sync(self) -> None:
        """Sync now (or right after the round or probe in progress)."""
        if self._stopped:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._timer.stop()
        self._task = asyncio.ensure_future(self._run())

    def _on_timer_timeout(self) -> None:
        if self._stopped:
            return
        if self.next_plan is not None and self.next_plan.step is Step.PROBE:
            if self._task is None or self._task.done():
                self._task = asyncio.ensure_future(self._probe())
            return
        self.request_sync()

    def _schedule(self, plan: Plan) -> None:
        if self._again:
            # Someone asked while we were busy: go now, whatever the plan said.
            self._again = False
            plan = Plan(Step.SYNC, 0.0)
        self.next_plan = plan
        if not self._stopped:
            self._timer.start(max(0, int(plan.delay * 1000)))

    def _set_state(self, state: Connectivity) -> None:
        self.state = state
        self.connectivity_changed.emit(state)

    async def _ensure_signed_in(self) -> None:
        """Renew the sign-in with the refresh token (no password is kept after login)."""
        if not self.account.api.refresh_token:
            raise AuthError("登录已失效，请重新登录")
        result = await self.workers.on_net(self.account.api.refresh)
        if result.user.id != self.account.user.id:
            raise AuthError("服务器上的账号已变更，请重新登录")
        self.account.offline = False

    async def _probe(self) -> None:
        """A cheap look at the server while it cannot be reached."""
        try:
            await self.workers.on_net(self.account.api.health, PROBE_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except SyncError as exc:
            plan = self.scheduler.probe_failed(exc)
            self._set_state(self.scheduler.state)
        except Exception as exc:
            log.exception("health probe failed unexpectedly")
            plan = self.scheduler.round_crashed(_crash_text(exc))
            self._set_state(self.scheduler.state)
        else:
            log.info("server reachable again; syncing now")
            plan = self.scheduler.probe_succeeded()
        self._schedule(plan)

    async def _run(self) -> None:
        self._set_state(self.scheduler.round_started())
        report = SyncReport()
        try:
            if self.account.offline or not self.account.api.token:
                await self._ensure_signed_in()
            try:
                await self.engine.sync(self.workers.db, self.workers.net, report)
            except AuthError:
                await self._ensure_signed_in()
                await self.engine.sync(self.workers.db, self.workers.net, report)
        except asyncio.CancelledError:
            raise
        except SyncError as exc:
            plan = self.scheduler.round_failed(exc)
            self._set_state(self.scheduler.state)
            log.info("sync failed (%s); next: %s in %.1f s", exc.message, plan.step, plan.delay)
            if isinstance(exc, AuthError | Forbidden):
                self.sync_failed.emit(exc.message)
        except Exception as exc:
            log.exception("sync failed unexpectedly")
            plan = self.scheduler.round_crashed(_crash_text(exc))
            self._set_state(self.scheduler.state)
        else:
            pending = await self.workers.on_db(self.account.store.outbox_size)
            plan = self.scheduler.round_succeeded(datetime.now(), pending)
            self._set_state(self.scheduler.state)
        # What the round did before it stopped (a pushed note, some pages) is shown
        # even when it failed half-way.
        self._report(report)
        self._schedule(plan)

    def _report(self, report: SyncReport) -> None:
        if report.changes:
            self.data_changed.emit(report.changes)
        if "problem" in report.changes.kinds:
            spawn(self._emit_problems())

    async def _emit_problems(self) -> None:
        # One at a time: two overlapping calls would both read, and show, the same ones.
        async with self._problems_lock:
            problems = await self.workers.on_db(self.account.store.open_problems)
            if problems:
                self.problems_found.emit(problems)
                await self.workers.on_db(
                    self.account.store.mark_problems_seen, [p.id for p in problems]
                )

    async def local_change(self) -> None:
        """After a local action: refresh the pending count and push soon."""
        pending = await self.workers.on_db(self.account.store.outbox_size)
        self._set_state(self.scheduler.set_pending(pending))
        self.request_sync()


def _crash_text(exc: Exception) -> str:
    """What the person reads when a round failed for a reason that is not the network's
    (the details, often in English, go to the log)."""
    if isinstance(exc, OperationalError):
        return "本地缓存暂时无法写入（磁盘已满或文件被占用），稍后自动重试"
    return "同步时出现内部错误，稍后自动重试（详情已记入日志）"
