"""The live event stream (``GET /api/v1/events``): a long-poll loop with backoff.

The loop asks the server for the events after the last one it saw, waiting up to
``wait`` seconds for one to happen. Each poll runs on its own daemon thread: a poll
can hang for ``wait`` seconds, and neither closing the app nor stopping the loop
should wait for it. Failures back off exponentially with jitter (``Retry-After``
honoured); the first answer after a failure reports that the link is back, which
is when the outbox should be pushed.

No Qt here: ``ui/live_events.py`` adapts this loop to signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sync.backoff import Backoff
from sync.client import ApiClient
from sync.errors import AuthError, SyncError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class LiveEvent:
    """One event of the stream."""

    id: int
    kind: str
    at: str
    payload: dict[str, Any]

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> LiveEvent | None:
        try:
            return cls(
                int(data["id"]),
                str(data["kind"]),
                str(data.get("at") or ""),
                dict(data.get("payload") or {}),
            )
        except (KeyError, TypeError, ValueError):
            return None


async def run_in_daemon(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking call on a fresh daemon thread and await its result.

    The thread holds only weak references to the loop and the future: a poll may
    outlive the loop that started it (a window closed mid-poll), and the last
    reference to a loop must never be dropped on a foreign thread (qasync's loop owns
    Qt timers, which must die on the GUI thread).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    loop_ref = weakref.ref(loop)
    future_ref = weakref.ref(future)

    def work() -> None:
        try:
            result: Any = fn(*args)
            failed = False
        except BaseException as exc:  # handed to the awaiting coroutine
            result, failed = exc, True
        target_loop = loop_ref()
        if target_loop is None:
            return
        # Park the strong reference where only the loop's own thread releases it.
        with _held_lock:
            _held.append(target_loop)
        try:
            target_loop.call_soon_threadsafe(_deliver, future_ref, result, failed, id(target_loop))
        except RuntimeError:
            pass  # the loop closed meanwhile: nobody wants the answer (it stays parked)
        finally:
            del target_loop

    threading.Thread(target=work, name="bangban-events", daemon=True).start()
    del loop
    return await future


_held: list[asyncio.AbstractEventLoop] = []
_held_lock = threading.Lock()


def _deliver(
    future_ref: weakref.ref[asyncio.Future[Any]], result: Any, failed: bool, loop_key: int
) -> None:
    """On the loop's thread: release the parked loop reference, then hand over the result."""
    with _held_lock:
        for i, held in enumerate(_held):
            if id(held) == loop_key:
                released = _held.pop(i)
                break
        else:
            released = None
    del released  # dropped here, on the loop's own thread
    future = future_ref()
    if future is None or future.done():
        return
    if failed:
        future.set_exception(result)
    else:
        future.set_result(result)


class EventListener:
    """Long-polls for the signed-in user's events and hands them to callbacks.

    Args:
        source: the account's API client; its current token is used for every poll
            (it changes when the sync controller signs in again).
        on_events: called on the event loop with each non-empty batch.
        on_connected: called when a poll succeeds first after start or after failures.
        on_failure: called with the error message when a poll fails.
        wait: seconds the server may hold a poll open.
    """

    def __init__(
        self,
        source: ApiClient,
        *,
        on_events: Callable[[list[LiveEvent]], None],
        on_connected: Callable[[], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        wait: float = 25.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.source = source
        self.api = ApiClient(source.base_url, timeout=source.timeout)
        self.on_events = on_events
        self.on_connected = on_connected
        self.on_failure = on_failure
        self.wait = wait
        # Capped at a few seconds: the return of the link must be noticed quickly.
        self.backoff = backoff or Backoff(base=0.5, cap=5.0)
        self.last_id = -1
        self.connected = False
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)

    async def poll_once(self) -> list[LiveEvent]:
        """One long poll (raises SyncError); remembers the position."""
        self.api.token = self.source.token
        if not self.api.token:
            raise AuthError("尚未登录")
        wait = 0.0 if self.last_id < 0 else self.wait
        answer = await run_in_daemon(self.api.events, self.last_id, wait)
        events = [e for e in (LiveEvent.from_wire(d) for d in answer.get("events") or []) if e]
        try:
            last = int(answer.get("last", self.last_id))
        except (TypeError, ValueError):
            last = self.last_id
        self.last_id = max(self.last_id, last, *(e.id for e in events)) if events else last
        return events

    async def run(self) -> None:
        """Poll until :meth:`stop`; never raises for network trouble."""
        while not self.stopped:
            try:
                events = await self.poll_once()
            except asyncio.CancelledError:
                raise
            except SyncError as exc:
                self.connected = False
                if self.on_failure is not None:
                    self.on_failure(exc.message)
                delay = self.backoff.next_delay(getattr(exc, "retry_after", None))
                log.debug("event poll failed (%s); next in %.1f s", exc.message, delay)
                await self._sleep(delay)
                continue
            except Exception:
                log.exception("event poll failed unexpectedly")
                self.connected = False
                await self._sleep(self.backoff.next_delay())
                continue
            if self.stopped:
                return
            self.backoff.reset()
            if not self.connected:
                self.connected = True
                if self.on_connected is not None:
                    self.on_connected()
            if events:
                self.on_events(events)

    def close(self) -> None:
        self.stop()
        self.api.close()
