"""Auto-assignment of waiting sessions, and agents' presence from their heartbeats.

A waiting session goes to the least-loaded online agent of its team who is below
their capacity. Dispatch runs in the transaction of whatever may have changed the
picture: a session created or put back in a queue, an agent who freed capacity, an
agent who came online. Each assignment is a compare-and-set on the waiting row, so
two dispatches racing for one session never both win.

Presence comes from the event long-polls: every poll is a heartbeat when it opens and
when it ends, and while it is open its user is connected right now (the board counts
them as seen at this moment, and the sweep leaves them alone). An agent who has not
polled for ``presence_timeout_seconds`` is marked offline (swept lazily, from the
heartbeats of whoever is still connected).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from core.enums import Presence, Role, SessionState
from server import models as m
from server.auth import CurrentUser
from server.services.catalog import touch_agent
from server.services.events import publish
from server.services.service_settings import setting
from server.services.sessions import add_event, log_session

log = logging.getLogger(__name__)

LOAD_STATES = (SessionState.ASSIGNED.value, SessionState.ACTIVE.value, SessionState.ON_HOLD.value)
"""States in which a session takes an agent's attention (escalated and callback
sessions wait for someone else)."""


def session_brief(session: m.Session) -> dict[str, Any]:
    """The part of a session a live event carries (never the caller's numbers)."""
    return {
        "session_id": session.id,
        "summary": (session.summary or "")[:80],
        "channel": session.channel,
        "service_type": session.service_type,
        "team_id": session.team_id,
    }


def agent_loads(db: DbSession, user_ids: list[int]) -> dict[int, int]:
    rows = db.execute(
        select(m.Session.assignee_id, func.count())
        .where(m.Session.assignee_id.in_(user_ids), m.Session.state.in_(LOAD_STATES))
        .group_by(m.Session.assignee_id)
    ).all()
    loads = dict.fromkeys(user_ids, 0)
    loads.update({int(uid): int(n) for uid, n in rows})
    return loads


def online_agents(db: DbSession, team_id: str, now: datetime) -> list[m.User]:
    cutoff = now - timedelta(seconds=setting(db, "presence_timeout_seconds"))
    return list(
        db.scalars(
            select(m.User)
            .where(
                m.User.team_id == team_id,
                m.User.role == Role.AGENT.value,
                m.User.active.is_(True),
                m.User.presence == Presence.ONLINE.value,
                m.User.last_seen_at >= cutoff,
            )
            .order_by(m.User.id)
        )
    )


def dispatch_team(db: DbSession, team_id: str | None, *, now: datetime | None = None) -> int:
    """Assign the team's waiting sessions, oldest first; returns how many were assigned."""
    if team_id is None or not setting(db, "auto_assign"):
        return 0
    now = now or datetime.now()
    db.flush()
    waiting = list(
        db.scalars(
            select(m.Session)
            .where(
                m.Session.team_id == team_id,
                m.Session.state == SessionState.WAITING.value,
                m.Session.assignee_id.is_(None),
            )
            .order_by(m.Session.created_at)
        )
    )
    if not waiting:
        return 0
    agents = online_agents(db, team_id, now)
    if not agents:
        return 0
    default_capacity = setting(db, "agent_capacity_default")
    loads = agent_loads(db, [a.id for a in agents])
    assigned = 0
    for session in waiting:
        free = [a for a in agents if loads[a.id] < (a.capacity or default_capacity)]
        if not free:
            break
        agent = min(free, key=lambda a: (loads[a.id], a.id))
        won = db.execute(
            update(m.Session)
            .where(
                m.Session.id == session.id,
                m.Session.state == SessionState.WAITING.value,
                m.Session.assignee_id.is_(None),
            )
            .values(state=SessionState.ASSIGNED.value, assignee_id=agent.id, assigned_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not won:
            continue
        session.state = SessionState.ASSIGNED.value
        session.assignee_id = agent.id
        session.assigned_at = now
        add_event(db, session, "assigned", at=now, to_id=agent.id, to=agent.display_name, auto=True)
        log_session(db, session, was_waiting=True, now=now)
        publish(
            db,
            "session_assigned",
            {**session_brief(session), "to_id": agent.id, "to": agent.display_name, "by": "系统"},
            user_ids=[agent.id],
        )
        loads[agent.id] += 1
        assigned += 1
    if assigned:
        publish(db, "queue_changed", {"team_id": team_id}, team_id=team_id, for_team=True)
        publish(db, "session_updated", {"team_id": team_id}, team_id=team_id, for_leads=True)
    return assigned


class PresenceTracker:
    """``app.state.presence``: marks users online on their polls, offline after silence.

    The stored presence (``users.presence``, ``users.last_seen_at``) is the truth that
    every server process shares; this object only throttles its own writes: a user's
    ``last_seen_at`` is written at most every few seconds by each process, so fifty
    agents long-polling do not turn every poll into a write. Coming online and going
    offline are conditional updates checked by row count, so when two processes see
    the same change only one announces it (and dispatches).
    So that a connected user never reads as 离开 between two written times (a poll
    stays open up to its ``wait``), the tracker also counts the polls open in this
    process (:meth:`poll_opened` / :meth:`poll_closed`): :meth:`connected` is who is on
    the line now; the heartbeat written when a poll ends keeps other processes' view fresh.
    """

    SWEEP_EVERY = 5.0

    def __init__(self, sessions: sessionmaker[DbSession], timeout_seconds: float) -> None:
        self._sessions = sessions
        self._timeout = float(timeout_seconds)
        self._write_every = max(0.5, min(10.0, self._timeout / 6))
        self._lock = threading.Lock()
        self._written: dict[int, float] = {}
        self._open: dict[int, int] = {}
        self._last_sweep = 0.0

    def poll_opened(self, user: CurrentUser) -> None:
        """An event poll of ``user`` starts waiting (a heartbeat)."""
        with self._lock:
            self._open[user.id] = self._open.get(user.id, 0) + 1
        self.heartbeat(user)

    def poll_closed(self, user: CurrentUser) -> None:
        """The poll is answered or given up. No database work here, so it is safe in a
        ``finally``; the caller then records the heartbeat (the user was there until
        now) with :meth:`heartbeat`."""
        with self._lock:
            left = self._open.get(user.id, 0) - 1
            if left > 0:
                self._open[user.id] = left
            else:
                self._open.pop(user.id, None)

    def connected(self) -> frozenset[int]:
        """Users with an event poll open in this process right now."""
        with self._lock:
            return frozenset(self._open)

    def heartbeat(self, user: CurrentUser) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._written.get(user.id)
            due = last is None or now - last >= self._write_every
            sweep = now - self._last_sweep >= self.SWEEP_EVERY
            if sweep:
                self._last_sweep = now
        if due:
            try:
                self._touch(user.id)
            except Exception:
                log.exception("heartbeat of user %s not recorded", user.id)
                return
            with self._lock:
                self._written[user.id] = now
        if sweep:
            try:
                self.sweep()
            except Exception:
                log.exception("presence sweep failed")

    def _touch(self, user_id: int) -> None:
        with self._sessions() as db:
            now = datetime.now()
            came_online = db.execute(
                update(m.User)
                .where(m.User.id == user_id, m.User.presence != Presence.ONLINE.value)
                .values(presence=Presence.ONLINE.value, last_seen_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not came_online:
                db.execute(
                    update(m.User)
                    .where(m.User.id == user_id)
                    .values(last_seen_at=now)
                    .execution_options(synchronize_session=False)
                )
                db.commit()
                return
            row = db.get(m.User, user_id)
            if row is not None:
                touch_agent(db, row)
                publish(
                    db,
                    "presence_changed",
                    {"user_id": row.id, "presence": Presence.ONLINE.value},
                    team_id=row.team_id,
                    for_leads=True,
                )
                if row.role == Role.AGENT.value:
                    dispatch_team(db, row.team_id, now=now)
            db.commit()

    def sweep(self, now: datetime | None = None) -> int:
        """Mark users offline whose last heartbeat is older than the timeout."""
        now = now or datetime.now()
        cutoff = now - timedelta(seconds=self._timeout)
        connected = self.connected()
        silent = (m.User.last_seen_at < cutoff) | m.User.last_seen_at.is_(None)
        swept = 0
        with self._sessions() as db:
            candidates = list(
                db.scalars(
                    select(m.User.id).where(m.User.presence != Presence.OFFLINE.value, silent)
                )
            )
            for user_id in candidates:
                if user_id in connected:
                    continue  # on the line now, whatever the written time says
                # Another process may have swept this user, or a heartbeat may have
                # just come in: only the update that still finds the user silent counts.
                won = db.execute(
                    update(m.User)
                    .where(m.User.id == user_id, m.User.presence != Presence.OFFLINE.value, silent)
                    .values(presence=Presence.OFFLINE.value)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if not won:
                    continue
                row = db.get(m.User, user_id)
                if row is None:
                    continue
                touch_agent(db, row)
                publish(
                    db,
                    "presence_changed",
                    {"user_id": row.id, "presence": Presence.OFFLINE.value},
                    team_id=row.team_id,
                    for_leads=True,
                )
                with self._lock:
                    self._written.pop(row.id, None)
                swept += 1
            db.commit()
        return swept


def install(app: Any) -> None:
    """Let the event polls of ``app`` count as heartbeats."""
    settings = app.state.settings
    app.state.presence = PresenceTracker(app.state.db, settings.presence_timeout_seconds)
    app.state.on_heartbeat = app.state.presence.heartbeat


def connected_users(app: Any) -> frozenset[int]:
    """Who has an event poll open on ``app`` now (empty without a tracker)."""
    tracker = getattr(app.state, "presence", None)
    return tracker.connected() if tracker is not None else frozenset()
