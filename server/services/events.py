"""Live events for the long-poll stream, and the bus that wakes waiting polls.

Events are rows written in the same transaction as the change they announce;
after the commit, :meth:`EventBus.notify` wakes every waiting poll of this process.
A poll also re-reads the table every second, so events written by another server
process (several workers on PostgreSQL) arrive within a second as well.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session as DbSession

from core.enums import Role
from server import models as m
from server.auth import CurrentUser


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
    """Queue an event for some users, a team, or a team's leads (same transaction)."""
    now = datetime.now()
    for user_id in {u for u in user_ids if u is not None}:
        db.add(m.Event(at=now, kind=kind, user_id=user_id, payload=payload))
    if team_id is not None and (for_team or for_leads):
        db.add(
            m.Event(
                at=now,
                kind=kind,
                team_id=team_id,
                for_team=for_team,
                for_leads=for_leads,
                payload=payload,
            )
        )


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
    return int(db.scalar(select(func.max(m.Event.id))) or 0)


class EventBus:
    """Wakes waiting long polls; ``notify`` may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
        self.closed = False
        """Set when the server shuts down: waiting polls answer at once."""

    def close(self) -> None:
        """Answer every waiting poll now; uvicorn waits for open requests on shutdown."""
        self.closed = True
        self.notify()

    def notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, future in waiters:
            loop.call_soon_threadsafe(_wake, future)

    async def wait(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (loop, future)
        with self._lock:
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(entry)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def event_wire(event: m.Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "kind": event.kind,
        "payload": event.payload,
    }
