"""Live events for the long-poll stream, and the bus that wakes waiting polls.

Events are written in the transaction of the change they announce, but numbered
only at its commit: a hook before the commit flushes the transaction's other work,
takes the ``event_seq`` counter row (its update locks the row until the commit, so
the next numbering transaction waits) and gives the events the next numbers. Event
ids therefore commit in order, and a poller that has seen id N never misses an
event numbered below N that commits later (the change log works the same way, see
``server/changes.py``). The counter is always the last lock a transaction takes,
so it adds no deadlock.

Who gets woken:
- in this process, the commit hook wakes exactly the polls the events concern
  (:meth:`EventBus.notify` with the events' audience keys);
- on PostgreSQL the same hook sends ``NOTIFY bangban_events`` inside the
  transaction; PostgreSQL delivers it at the commit to every server process, whose
  :class:`PgListener` thread wakes its own polls. Polls then re-read the table only
  as a slow safety check (:meth:`EventBus.recheck_seconds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import SessionTransaction

from core.enums import Role
from server import metrics
from server import models as m
from server.auth import CurrentUser

log = logging.getLogger(__name__)

EVENT_SEQ = "event_seq"
CHANNEL = "bangban_events"
NOTIFY_LIMIT = 7000
"""PostgreSQL refuses payloads of 8000 bytes; past this the notice wakes every poll."""

_PENDING = "bangban_pending_events"
_WAKE = "bangban_wake_keys"
_HOOKED = "bangban_events_hooked"
_EXTRA = "bangban_extra_wake_keys"
BUS_INFO = "events"
"""``Session.info`` key of the process's :class:`EventBus` (set by ``create_app``)."""


def publish(
    db: DbSession,
    kind: str,
    payload: dict[str, Any],
    *,
    user_ids: Iterable[int | None] = (),
    team_id: str | None = None,
    for_team: bool = False,
    for_leads: bool = False,
) -> None:
    """Queue an event for some users, a team, or a team's leads (same transaction).

    The event is numbered and written when ``db`` commits; a rollback drops it.
    """
    now = datetime.now()
    rows: list[m.Event] = [
        m.Event(at=now, kind=kind, user_id=user_id, payload=payload)
        for user_id in sorted({u for u in user_ids if u is not None})
    ]
    if team_id is not None and (for_team or for_leads):
        rows.append(
            m.Event(
                at=now,
                kind=kind,
                team_id=team_id,
                for_team=for_team,
                for_leads=for_leads,
                payload=payload,
            )
        )
    if not rows:
        return
    _hook(db)
    # Begin the transaction now, so that a rollback (its end) drops these events.
    db.connection()
    db.info.setdefault(_PENDING, []).extend(rows)


def _hook(db: DbSession) -> None:
    if db.info.get(_HOOKED):
        return
    db.info[_HOOKED] = True
    event.listen(db, "before_commit", _number_pending)
    event.listen(db, "after_commit", _wake_after_commit)
    event.listen(db, "after_transaction_end", _forget_on_end)


def wake_at_commit(db: DbSession, keys: Iterable[str]) -> None:
    """Wake the polls listening for ``keys`` when ``db`` commits, in every process, with
    no event row (the caller's conversation page listens for ``c:<session id>``)."""
    _hook(db)
    db.info.setdefault(_EXTRA, set()).update(keys)


def _number_pending(db: DbSession) -> None:
    pending: list[m.Event] | None = db.info.pop(_PENDING, None)
    extra: set[str] = db.info.pop(_EXTRA, None) or set()
    if not pending:
        if extra:
            _announce(db, sorted(extra), last=None)
        return
    # Everything else first: once the counter row is locked, the transaction takes
    # no other row lock, so no other writer can be waiting for us while we wait.
    db.flush()
    last = _allocate(db, len(pending))
    first = last - len(pending) + 1
    for offset, row in enumerate(pending):
        row.id = first + offset
    db.add_all(pending)
    db.flush()
    keys = sorted(set().union(extra, *(event_keys(row) for row in pending)))
    metrics.events_published.inc(len(pending))
    _announce(db, keys, last=last)


def _announce(db: DbSession, keys: list[str], *, last: int | None) -> None:
    db.info[_WAKE] = keys
    if db.get_bind().dialect.name == "postgresql":
        body = json.dumps({"last": last, "keys": keys}, separators=(",", ":"))
        if len(body) > NOTIFY_LIMIT:
            body = json.dumps({"last": last, "keys": None})
        # Delivered at the commit, to every listening process, in commit order.
        db.execute(select(func.pg_notify(CHANNEL, body)))


def _allocate(db: DbSession, count: int) -> int:
    """Take ``count`` event numbers under the counter's row lock; returns the last."""
    value = db.execute(
        update(m.Counter)
        .where(m.Counter.name == EVENT_SEQ)
        .values(value=m.Counter.value + count)
        .returning(m.Counter.value)
    ).scalar_one_or_none()
    if value is not None:
        return int(value)
    # A database made without revision 0007's counter row (it is migrated in).
    start = int(db.scalar(select(func.max(m.Event.id))) or 0)
    db.add(m.Counter(name=EVENT_SEQ, value=start + count))
    db.flush()
    return start + count


def _wake_after_commit(db: DbSession) -> None:
    keys = db.info.pop(_WAKE, None)
    bus = db.info.get(BUS_INFO)
    if keys is not None and isinstance(bus, EventBus):
        bus.notify(keys)


def _forget_on_end(db: DbSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # a rollback of the whole transaction drops its events
        db.info.pop(_PENDING, None)
        db.info.pop(_WAKE, None)
        db.info.pop(_EXTRA, None)


def event_keys(row: m.Event) -> set[str]:
    """The audience keys of an event: ``u:<user>``, ``t:<team>``, ``l:<team>``."""
    keys = set()
    if row.user_id is not None:
        keys.add(f"u:{row.user_id}")
    if row.team_id is not None and row.for_team:
        keys.add(f"t:{row.team_id}")
    if row.team_id is not None and row.for_leads:
        keys.add(f"l:{row.team_id}")
    return keys


def user_keys(user: CurrentUser) -> frozenset[str]:
    """The audience keys whose events reach ``user`` (mirrors :func:`events_after`)."""
    keys = {f"u:{user.id}"}
    if user.team_id is not None:
        keys.add(f"t:{user.team_id}")
        if user.role in (Role.LEAD, Role.ADMIN):
            keys.add(f"l:{user.team_id}")
    return frozenset(keys)


def events_after(db: DbSession, user: CurrentUser, after: int, limit: int = 200) -> list[m.Event]:
    conditions = [m.Event.user_id == user.id]
    if user.team_id is not None:
        conditions.append(and_(m.Event.team_id == user.team_id, m.Event.for_team.is_(True)))
        if user.role in (Role.LEAD, Role.ADMIN):
            conditions.append(and_(m.Event.team_id == user.team_id, m.Event.for_leads.is_(True)))
    return list(
        db.scalars(
            select(m.Event)
            .where(m.Event.id > after, or_(*conditions))
            .order_by(m.Event.id)
            .limit(limit)
        )
    )


def last_event_id(db: DbSession) -> int:
    """The highest committed event number (every lower one has committed too)."""
    value = db.scalar(select(m.Counter.value).where(m.Counter.name == EVENT_SEQ))
    if value is not None:
        return int(value)
    return int(db.scalar(select(func.max(m.Event.id))) or 0)


class EventBus:
    """Wakes waiting long polls; ``notify`` may be called from any thread.

    A waiter names the audience keys it listens for; ``notify(keys)`` wakes the
    waiters sharing a key, ``notify()`` wakes every one. :meth:`mark` and the
    ``since`` of :meth:`wait` close the gap between a poll's read and its wait: a
    notice that arrives in between makes the wait return at once.
    """

    RECHECK_LISTENING = 30.0
    """Safety re-read of the table while cross-process notices arrive."""
    RECHECK_ALONE = 1.0
    """Re-read while nothing else would tell this process of other writers' events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[None]], frozenset[str] | None
        ] = {}
        self._counts: dict[str, int] = {}
        self._everyone = 0
        self.closed = False
        """Set when the server shuts down: waiting polls answer at once."""
        self.listening = False
        """True while a :class:`PgListener` is connected and listening."""

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters)

    def recheck_seconds(self) -> float:
        return self.RECHECK_LISTENING if self.listening else self.RECHECK_ALONE

    def close(self) -> None:
        """Answer every waiting poll now; uvicorn waits for open requests on shutdown."""
        self.closed = True
        self.notify()

    def mark(self, keys: Iterable[str] | None) -> int:
        """A number that changes whenever a notice for one of ``keys`` arrives."""
        with self._lock:
            if keys is None:
                return self._everyone + sum(self._counts.values())
            return self._everyone + sum(self._counts.get(k, 0) for k in keys)

    def notify(self, keys: Iterable[str] | None = None) -> None:
        """Wake the waiters for ``keys`` (every waiter when ``keys`` is None)."""
        wanted = None if keys is None else set(keys)
        with self._lock:
            if wanted is None:
                self._everyone += 1
                waiters = list(self._waiters)
            else:
                for key in wanted:
                    self._counts[key] = self._counts.get(key, 0) + 1
                waiters = [
                    entry
                    for entry, listens in self._waiters.items()
                    if listens is None or not wanted.isdisjoint(listens)
                ]
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(_wake, future)

    async def wait(
        self, timeout: float, keys: Iterable[str] | None = None, since: int | None = None
    ) -> None:
        """Wait up to ``timeout`` s for a notice for ``keys`` (after ``since``, a mark)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (loop, future)
        listens = None if keys is None else frozenset(keys)
        with self._lock:
            self._waiters[entry] = listens
        try:
            if since is not None and self.mark(listens) != since:
                return
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.pop(entry, None)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class PgListener:
    """A thread that LISTENs on PostgreSQL and wakes this process's polls.

    While connected it sets ``bus.listening`` (polls then re-read the table only every
    30 s); on every (re)connection it wakes every poll once, since notices sent while
    it was away are lost.
    """

    def __init__(self, database_url: str, bus: EventBus) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._bus = bus
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listener", daemon=True)
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            try:
                self._listen()
                delay = 0.2
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.warning("event listener lost PostgreSQL (%s); retrying in %.1f s", exc, delay)
            finally:
                self._bus.listening = False
                self.connected.clear()
            self._stop.wait(delay)
            delay = min(delay * 2, 10.0)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._bus.listening = True
            self.connected.set()
            self._bus.notify()  # whatever committed while we were not listening
            checked = time.monotonic()
            while not self._stop.is_set():
                for notice in conn.notifies(timeout=0.5):
                    self._bus.notify(_notice_keys(notice.payload))
                if time.monotonic() - checked > 15:
                    conn.execute("SELECT 1")  # a dead link raises here, not in silence
                    checked = time.monotonic()


def _notice_keys(payload: str) -> list[str] | None:
    try:
        keys = json.loads(payload).get("keys")
    except (ValueError, AttributeError):
        return None
    if not isinstance(keys, list):
        return None
    return [str(k) for k in keys]


def event_wire(row: m.Event) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "kind": row.kind,
        "payload": row.payload,
    }
