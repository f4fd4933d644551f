"""The Qt adapter of the live event stream: runs :class:`sync.events.EventListener` on
the qasync loop, asks the sync controller for a round whenever an event arrives (or
the link comes back), and reports the events by signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from PySide6.QtCore import QObject, Signal

from sync.account import Account
from sync.events import EventListener, LiveEvent
from ui.sync_controller import SyncController

log = logging.getLogger(__name__)


class LiveEvents(QObject):
    """Keeps one long poll open for the account while the window is open."""

    events_received = Signal(list)
    """A batch of :class:`sync.events.LiveEvent`, after a sync was requested for it."""
    connected = Signal()
    disconnected = Signal(str)

    def __init__(
        self,
        account: Account,
        sync: SyncController,
        *,
        wait: float = 25.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.sync = sync
        self.listener = EventListener(
            account.api,
            on_events=self._on_listener_events,
            on_connected=self._on_listener_connected,
            on_failure=self._on_listener_failure,
            wait=wait,
        )
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.restarts = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._stopping = False
            self._task = asyncio.ensure_future(self.listener.run())
            self._task.add_done_callback(self._on_task_done)

    def stop(self) -> None:
        self._stopping = True
        self.listener.close()
        if self._task is not None:
            self._task.cancel()

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        """The loop never ends by itself: if it did (a bug), say so and start it again."""
        if self._stopping or task.cancelled():
            return
        exc = task.exception()
        log.error("live event loop ended unexpectedly; restarting it", exc_info=exc)
        self.restarts += 1
        self.disconnected.emit("实时通知中断，正在重新连接")
        self.sync.check_link()
        loop = asyncio.get_event_loop()
        loop.call_later(1.0, self._restart)

    def _restart(self) -> None:
        if not self._stopping:
            self.start()

    async def wait_stopped(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_listener_events(self, events: list[LiveEvent]) -> None:
        # Fetch what the events announce first, so that the screen shows it at once.
        self.sync.request_sync()
        self.events_received.emit(events)

    def _on_listener_connected(self) -> None:
        # The link is (back) up: push what waited in the outbox, pull what was missed.
        self.sync.request_sync()
        self.connected.emit()

    def _on_listener_failure(self, message: str) -> None:
        # The stream broke: look at the link now rather than at the next heartbeat.
        self.sync.check_link()
        self.disconnected.emit(message)
