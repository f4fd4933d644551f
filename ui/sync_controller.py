"""The Qt adapter of the sync engine: runs it on a schedule and reports by signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal

from core.localstore.store import LAST_SYNC
from sync.account import Account
from sync.backoff import Backoff
from sync.connectivity import Connectivity
from sync.engine import SyncEngine, SyncReport
from sync.errors import AuthError, Forbidden, SyncError
from ui.tasks import spawn
from ui.worker import Workers

log = logging.getLogger(__name__)


class SyncController(QObject):
    """Background sync for one account: on a timer, on demand (F5), and after failures
    with exponential backoff; never on the GUI thread."""

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
    ) -> None:
        super().__init__()
        self.account = account
        self.workers = workers
        self.engine = SyncEngine(
            account.api, account.store, page_limit=page_limit, on_progress=self._on_engine_progress
        )
        self.state = Connectivity()
        self.backoff = Backoff(base=2.0, cap=60.0)
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._stopped = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.request_sync)
        self.interval_ms = interval_seconds * 1000

    def _on_engine_progress(self, pulled: int, _pages: int) -> None:
        self.progress.emit(pulled)

    def start(self) -> None:
        last = self.account.store.get_meta(LAST_SYNC)
        if last:
            self.state = Connectivity(last_sync=datetime.fromisoformat(last))
        self.connectivity_changed.emit(self.state)
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
        """Sync now (or right after the round in progress)."""
        if self._stopped:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._timer.stop()
        self._task = asyncio.ensure_future(self._run())

    def _set_state(self, state: Connectivity) -> None:
        self.state = state
        self.connectivity_changed.emit(state)

    async def _ensure_signed_in(self) -> None:
        password = self.account.password_for_renewal
        if not password:
            raise AuthError("登录已失效，请重新登录")
        result = await self.workers.on_net(
            self.account.api.login, self.account.user.username, password
        )
        if result.user.id != self.account.user.id:
            raise AuthError("服务器上的账号已变更，请重新登录")
        self.account.offline = False

    async def _run(self) -> None:
        self._set_state(self.state.syncing())
        delay_ms = self.interval_ms
        try:
            if self.account.offline or not self.account.api.token:
                await self._ensure_signed_in()
            try:
                report = await self.engine.sync(self.workers.db, self.workers.net)
            except AuthError:
                await self._ensure_signed_in()
                report = await self.engine.sync(self.workers.db, self.workers.net)
        except asyncio.CancelledError:
            raise
        except (AuthError, Forbidden) as exc:
            self._set_state(self.state.failed(exc.message, reachable=True))
            self.sync_failed.emit(exc.message)
            delay_ms = self.interval_ms
        except SyncError as exc:
            reachable = exc.status is not None
            self._set_state(self.state.failed(exc.message, reachable=reachable))
            retry_after = getattr(exc, "retry_after", None)
            delay_ms = int(self.backoff.next_delay(retry_after) * 1000)
            log.info("sync failed (%s); next try in %.1f s", exc.message, delay_ms / 1000)
        except Exception as exc:
            log.exception("sync failed unexpectedly")
            self._set_state(self.state.failed(f"同步出错：{exc}", reachable=True))
            delay_ms = int(self.backoff.next_delay() * 1000)
        else:
            self.backoff.reset()
            pending = await self.workers.on_db(self.account.store.outbox_size)
            self._set_state(self.state.succeeded(datetime.now(), pending))
            self._report(report)
        finally:
            if self._again and not self._stopped:
                self._again = False
                delay_ms = 0
            if not self._stopped:
                self._timer.start(max(0, delay_ms))

    def _report(self, report: SyncReport) -> None:
        if report.changes:
            self.data_changed.emit(report.changes)
        if report.changes.kinds & {"problem"}:
            spawn(self._emit_problems())

    async def _emit_problems(self) -> None:
        problems = await self.workers.on_db(self.account.store.open_problems)
        if problems:
            self.problems_found.emit(problems)
            await self.workers.on_db(
                self.account.store.mark_problems_seen, [p.id for p in problems]
            )

    async def local_change(self) -> None:
        """After a local action: refresh the pending count and push soon."""
        pending = await self.workers.on_db(self.account.store.outbox_size)
        from dataclasses import replace

        self._set_state(replace(self.state, pending=pending))
        self.request_sync()
