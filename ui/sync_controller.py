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
from sync.client import PROBE_TIMEOUT, ApiClient
from sync.connectivity import Connectivity, ConnState
from sync.engine import SyncEngine, SyncReport
from sync.errors import AuthError, Forbidden, ServerUnreachable, SyncError
from sync.events import run_in_daemon
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

    A watch timer (every ``heartbeat_seconds``) keeps it honest: while the link is
    thought up it sends a heartbeat (a short health check on its own thread and
    connection, so a round stuck on a dead link cannot hide it) and turns the state
    offline as soon as the server cannot be reached; and it restarts the loop if a
    round died without planning the next one (never a green status over a dead loop).
    """

    connectivity_changed = Signal(object)
    data_changed = Signal(object)
    """A :class:`core.localstore.changes.Changes` of what the round touched."""
    sync_failed = Signal(str)
    problems_found = Signal(list)
    progress = Signal(int)
    person_sync_failed = Signal(str)
    """A round the person asked for (``request_sync(by_person=True)``) did not get through."""
    loop_restarted = Signal(str)
    """The watch found the loop dead and started it again (the reason, for the status bar)."""

    def __init__(
        self,
        account: Account,
        workers: Workers,
        *,
        interval_seconds: int = 60,
        page_limit: int = 1000,
        scheduler: SyncScheduler | None = None,
        heartbeat_seconds: float = 4.0,
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
        self._asked_by_person = False
        self._round_waiters: list[asyncio.Future[bool]] = []
        self._beat: asyncio.Task[None] | None = None
        self._beat_api = ApiClient(account.api.base_url, timeout=PROBE_TIMEOUT)
        self.restarts = 0
        self._watch = QTimer(self)
        self._watch.setInterval(max(200, int(heartbeat_seconds * 1000)))
        self._watch.timeout.connect(self._on_watch_timeout)

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
        spawn(self._emit_problems(), owner=self)
        self.request_sync()
        self._watch.start()

    def stop(self) -> None:
        self._stopped = True
        self._timer.stop()
        self._watch.stop()
        if self._task is not None:
            self._task.cancel()
        if self._beat is not None:
            self._beat.cancel()
        self._beat_api.close()
        self._settle_waiters(self._round_waiters, False)
        self._round_waiters = []

    @staticmethod
    def _settle_waiters(waiters: list[asyncio.Future[bool]], ok: bool) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(ok)

    async def sync_and_wait(self) -> bool:
        """A round that starts now or right after the one in progress, awaited; True when
        it went through (the person asked: a failure is told too)."""
        if self._stopped:
            return False
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._round_waiters.append(waiter)
        self.request_sync(by_person=True)
        return await waiter

    @property
    def busy(self) -> bool:
        """A round or probe is running."""
        return self._task is not None and not self._task.done()

    async def wait_idle(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def request_sync(self, by_person: bool = False) -> None:
        """Sync now (or right after the round or probe in progress); ``by_person``: the
        person asked (F5, 同步), so a failure is told (``person_sync_failed``)."""
        if self._stopped:
            return
        if by_person:
            self._asked_by_person = True
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._timer.stop()
        self._task = self._start(self._run())

    def _start(self, coro):  # type: ignore[no-untyped-def]
        task = asyncio.ensure_future(coro)
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopped:
            return
        exc = task.exception()
        if exc is not None:
            # A bug past every handler: say so, and plan the next try (never a dead loop).
            log.error("sync loop failed", exc_info=exc)
            plan = self.scheduler.round_crashed(_crash_text(exc))
            self._set_state(self.scheduler.state)
            if not self._timer.isActive():
                self._schedule(plan)

    # -- the watch: heartbeat and dead-loop check ---------------------------------------

    def check_link(self) -> None:
        """Look at the link now (the event stream just failed, say)."""
        if not self._stopped and (self._beat is None or self._beat.done()):
            self._beat = spawn(self._heartbeat(), owner=self)

    def _on_watch_timeout(self) -> None:
        if self._stopped:
            return
        if not self.busy and not self._timer.isActive():
            self.restarts += 1
            log.warning("sync loop found idle with nothing planned; restarting it")
            self.loop_restarted.emit("同步已自动重新开始")
            self.request_sync()
            return
        if self.state.state is not ConnState.OFFLINE:
            self.check_link()

    async def _heartbeat(self) -> None:
        try:
            await run_in_daemon(self._beat_api.health, PROBE_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except ServerUnreachable as exc:
            if self._stopped or self.state.state is ConnState.OFFLINE:
                return
            log.info("heartbeat: server unreachable (%s); offline", exc.message)
            plan = self.scheduler.link_lost(exc)
            self._set_state(self.scheduler.state)
            if not self.busy:
                self._timer.stop()
                self._schedule(plan)
        except SyncError:
            return  # it answers, though not well: the rounds deal with that
        else:
            if self.scheduler.link_ok() and not self._stopped and not self.busy:
                self.request_sync()

    def _on_timer_timeout(self) -> None:
        if self._stopped:
            return
        if self.next_plan is not None and self.next_plan.step is Step.PROBE:
            if self._task is None or self._task.done():
                self._task = self._start(self._probe())
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
        if state.state is not self.state.state:
            log.info("connectivity: %s (pending %d)", state.state.value, state.pending)
        self.state = state
        self.connectivity_changed.emit(state)

    async def _ensure_signed_in(self) -> None:
        """Renew the sign-in with the refresh token (no password is kept after login)."""
        if not self.account.api.refresh_token:
            raise AuthError("登录已失效，请重新登录")
        result = await self.workers.on_net(self.account.api.refresh)
        if result.user.id != self.account.user.id:
            raise AuthError("服务器上的账号已变更，请重新登录")
        if self.account.server_id and result.server_id != self.account.server_id:
            # Another server now answers at this address: its data must not mix with ours.
            raise AuthError("该地址上的服务器已不是上次登录的服务器，请重新登录")
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
        by_person, self._asked_by_person = self._asked_by_person, False
        waiters, self._round_waiters = self._round_waiters, []
        try:
            failure = await self._round(by_person)
        except BaseException:
            self._settle_waiters(waiters, False)
            raise
        self._settle_waiters(waiters, not failure)

    async def _round(self, by_person: bool) -> str:
        """One round; returns what went wrong ("" when it went through)."""
        self._set_state(self.scheduler.round_started())
        report = SyncReport()
        failure = ""
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
            failure = exc.message
            plan = self.scheduler.round_failed(exc)
            self._set_state(self.scheduler.state)
            log.info("sync failed (%s); next: %s in %.1f s", exc.message, plan.step, plan.delay)
            if isinstance(exc, AuthError | Forbidden):
                self.sync_failed.emit(exc.message)
        except Exception as exc:
            log.exception("sync failed unexpectedly")
            failure = _crash_text(exc)
            plan = self.scheduler.round_crashed(failure)
            self._set_state(self.scheduler.state)
        else:
            pending = await self.workers.on_db(self.account.store.outbox_size)
            plan = self.scheduler.round_succeeded(datetime.now(), pending)
            self._set_state(self.scheduler.state)
        # What the round did before it stopped (a pushed note, some pages) is shown
        # even when it failed half-way.
        self._report(report)
        self._schedule(plan)
        if by_person and failure:
            self.person_sync_failed.emit(failure)
        return failure

    def _report(self, report: SyncReport) -> None:
        if report.changes:
            self.data_changed.emit(report.changes)
        if "problem" in report.changes.kinds:
            spawn(self._emit_problems(), owner=self)

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
