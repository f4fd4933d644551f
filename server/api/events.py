"""The long-poll event stream: ``GET /api/v1/events?after=&wait=``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from server import metrics
from server import models as m
from server.auth import CurrentUser, current_user
from server.services.events import event_wire, events_after, last_event_id, user_keys

router = APIRouter(tags=["events"])

MAX_ID = 2**53
"""Larger ids cannot exist (and would overflow the database's integers)."""


def _poll(request: Request, user: CurrentUser, after: int) -> tuple[list[dict[str, Any]], int]:
    with request.app.state.db() as db:
        if after < 0:
            return [], last_event_id(db)
        rows = events_after(db, user, after)
        return [event_wire(e) for e in rows], (rows[-1].id if rows else after)


def _heartbeat(request: Request, user: CurrentUser) -> None:
    """A poll is a heartbeat: the user is present."""
    hook = getattr(request.app.state, "on_heartbeat", None)
    if hook is not None:
        hook(user)
        return
    with request.app.state.db() as db:
        row = db.get(m.User, user.id)
        if row is not None:
            row.last_seen_at = datetime.now()
            db.commit()


@router.get("/events")
async def events(
    request: Request,
    after: int = Query(
        -1,
        ge=-1,
        le=MAX_ID,
        description="the last event id seen; -1 asks only for the position",
    ),
    wait: float = Query(25.0, ge=0, le=60),
    user: CurrentUser = Depends(current_user),
) -> dict[str, Any]:
    """Events that concern the user after ``after``, waiting up to ``wait`` seconds.

    A waiting poll is woken by the commit of an event for the user (in this process,
    or in another one through PostgreSQL's NOTIFY); it re-reads the table on its own
    only as a safety check (every 30 s while notices arrive, every second otherwise).
    """
    if after < 0:
        # The position first: events the heartbeat causes (sessions dispatched to a
        # user who just came online) then come after it and reach the user.
        found, last = await run_in_threadpool(_poll, request, user, after)
        await run_in_threadpool(_heartbeat, request, user)
        return {"events": found, "last": last}
    tracker = getattr(request.app.state, "presence", None)
    if tracker is None:
        await run_in_threadpool(_heartbeat, request, user)
    else:
        # While the poll is open its user is on the line (the board says 在线).
        await run_in_threadpool(tracker.poll_opened, user)
    try:
        deadline = time.monotonic() + wait
        bus = request.app.state.events
        keys = user_keys(user)
        with metrics.open_polls.track_inprogress():
            while True:
                mark = bus.mark(keys)
                found, last = await run_in_threadpool(_poll, request, user, after)
                remaining = deadline - time.monotonic()
                if found or remaining <= 0 or bus.closed or await request.is_disconnected():
                    return {"events": found, "last": last}
                await bus.wait(min(remaining, bus.recheck_seconds()), keys, since=mark)
    finally:
        if tracker is not None:
            tracker.poll_closed(user)
            # The user was on the line until now: a heartbeat for the other processes.
            await run_in_threadpool(tracker.heartbeat, user)
