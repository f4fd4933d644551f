"""The lead's board and the team's figures, read from the server's tables.

Both are assembled by pure functions of ``core`` (:func:`core.board.build_board`,
:func:`core.figures.compute_figures`) from plain records read here. Walkthrough runs
and share links are read defensively: a row those features wrote in a shape this
code does not know is skipped, never an error on the board.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import selectinload

from core.board import AgentFacts, Board, build_board
from core.enums import Role, SessionState
from core.figures import (
    Period,
    RectificationFacts,
    SessionFacts,
    TeamFigures,
    compute_figures,
    period_range,
)
from server import models as m
from server import serialize

log = logging.getLogger(__name__)


def team_members(db: DbSession, team_id: str) -> list[m.User]:
    """Active members of the team who can carry sessions (agents and leads)."""
    return list(
        db.scalars(
            select(m.User)
            .where(
                m.User.team_id == team_id,
                m.User.active.is_(True),
                m.User.role != Role.ADMIN.value,
            )
            .order_by(m.User.role.desc(), m.User.id)
        )
    )


def _runs(db: DbSession, session_ids: list[str]) -> list[dict[str, Any]]:
    if not session_ids:
        return []
    try:
        from server.services.walkthrough_runs import serialize as run_wire

        rows = db.scalars(
            select(m.WalkthroughRun).where(m.WalkthroughRun.session_id.in_(session_ids))
        )
        return [run_wire(r) for r in rows]
    except Exception:  # a feature built in parallel: never let it break the board
        log.exception("walkthrough runs unreadable for the board")
        return []


def _titles(db: DbSession, runs: Iterable[dict[str, Any]]) -> dict[str, tuple[str, dict[str, str]]]:
    keys = {f"{r.get('walkthrough_id')}@{r.get('version')}" for r in runs}
    if not keys:
        return {}
    result: dict[str, tuple[str, dict[str, str]]] = {}
    try:
        from server.services.walkthroughs import parse_source

        for row in db.scalars(select(m.Walkthrough).where(m.Walkthrough.key.in_(keys))):
            steps: dict[str, str] = {}
            try:
                script = parse_source(row.source)
                steps = {s.id: s.title for s in script.steps if s.title}
            except Exception:
                log.warning("walkthrough %s does not parse; step ids shown", row.key)
            result[row.key] = (row.title, steps)
    except Exception:
        log.exception("walkthrough titles unreadable for the board")
    return result


def _links(db: DbSession, session_ids: list[str], now: datetime) -> list[dict[str, Any]]:
    if not session_ids:
        return []
    try:
        from server.services.share import effective_state

        rows = db.scalars(select(m.ShareLink).where(m.ShareLink.session_id.in_(session_ids)))
        return [
            {
                "session_id": r.session_id,
                "state": effective_state(r, now),
                "created_at": r.created_at.isoformat(),
            }
            for r in rows
        ]
    except Exception:
        log.exception("share links unreadable for the board")
        return []


def board(
    db: DbSession,
    team_id: str,
    *,
    now: datetime,
    first_response_seconds: int,
    presence_timeout_seconds: float,
    connected: frozenset[int] = frozenset(),
) -> Board:
    """The team's board as it is now; ``connected``: who has an event poll open now."""
    sessions = list(
        db.scalars(
            select(m.Session)
            .options(selectinload(m.Session.events))
            .where(m.Session.team_id == team_id, m.Session.state != SessionState.CLOSED.value)
            .order_by(m.Session.created_at)
        )
    )
    wire_sessions = [serialize.session(s) for s in sessions]
    ids = [s.id for s in sessions]
    runs = _runs(db, ids)
    agents = [
        AgentFacts(
            id=u.id,
            display_name=u.display_name,
            role=u.role,
            staff_number=u.staff_number,
            presence=u.presence,
            capacity=u.capacity,
            last_seen_at=u.last_seen_at,
            active=u.active,
            connected=u.id in connected,
        )
        for u in team_members(db, team_id)
    ]
    return build_board(
        team_id=team_id,
        agents=agents,
        sessions=wire_sessions,
        runs=runs,
        links=_links(db, ids, now),
        walkthrough_titles=_titles(db, runs),
        now=now,
        first_response_seconds=first_response_seconds,
        presence_timeout_seconds=presence_timeout_seconds,
    )


def figures(
    db: DbSession,
    team_id: str,
    *,
    period: Period,
    day: date,
    now: datetime,
    target_seconds: int,
) -> TeamFigures:
    """The team's figures for the period of ``day``, computed on the server's data."""
    from server.services.rectifications import team_views, wire
    from server.services.session_ops import work_calendar

    start, end = period_range(period, day)
    rows = list(
        db.scalars(
            select(m.Session).where(
                m.Session.team_id == team_id,
                m.Session.created_at >= start,
                m.Session.created_at < end,
            )
        )
    )
    ids = [s.id for s in rows]
    kinds: dict[str, set[str]] = {}
    suggested: dict[str, int] = {}
    scores: dict[str, int] = {}
    if ids:
        for sid, kind in db.execute(
            select(m.SessionEvent.session_id, m.SessionEvent.kind).where(
                m.SessionEvent.session_id.in_(ids)
            )
        ):
            kinds.setdefault(sid, set()).add(kind)
            if kind == "suggestion_sent":
                suggested[sid] = suggested.get(sid, 0) + 1
        # One rating per session; should there be more, the newest one counts.
        for sid, score in db.execute(
            select(m.Evaluation.session_id, m.Evaluation.score)
            .where(m.Evaluation.session_id.in_(ids))
            .order_by(m.Evaluation.created_at)
        ):
            scores[sid] = int(score)
    facts = [
        SessionFacts(
            id=s.id,
            service_type=s.service_type,
            channel=s.channel,
            state=s.state,
            created_at=s.created_at,
            assignee_id=s.assignee_id,
            accepted_at=s.accepted_at,
            closed_at=s.closed_at,
            outcome=s.outcome,
            escalation=dict(s.escalation) if s.escalation else None,
            callback_due_at=s.callback_due_at,
            timeline_kinds=frozenset(kinds.get(s.id, ())),
            first_response_at=s.first_response_at,
            suggestions_sent=suggested.get(s.id, 0),
        )
        for s in rows
    ]
    members = team_members(db, team_id)
    names = {u.id: u.display_name for u in members if u.role == Role.AGENT.value}
    # A lead who took sessions in the period gets a row too.
    carried = {s.assignee_id for s in rows if s.assignee_id is not None}
    names.update({u.id: u.display_name for u in members if u.id in carried})
    rects = []
    for view in team_views(db, team_id):
        try:
            rects.append(RectificationFacts.from_wire(wire(view)))
        except (TypeError, ValueError):
            log.warning("rectification %s unreadable for the figures", view.row.id)
    return compute_figures(
        period=period,
        day=day,
        sessions=facts,
        scores=scores,
        rectifications=rects,
        agents=names,
        calendar=work_calendar(db),
        target_seconds=target_seconds,
        now=now,
        member_names={u.id: u.display_name for u in members},
    )
