"""Demo data for the lead's board: what the real flows would have written for the
seeded sessions (a "1515" escalation record, a rectification for each rating of 1-2).

Called by :func:`server.seed.seed_demo` right after the demo sessions are created.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from core.calendar import WorkCalendar, YearSchedule, escalation_deadline
from core.enums import SessionState
from server import models as m
from server.changes import Audience, record
from server.services.sessions import add_event, log_session


def _calendar(db: DbSession) -> WorkCalendar:
    rows = list(db.scalars(select(m.CalendarYear)))
    if not rows:
        return WorkCalendar.builtin()
    return WorkCalendar.from_schedules(
        YearSchedule.from_wire({"year": r.year, "holidays": r.holidays, "workdays": r.workdays})
        for r in rows
    )


def enrich_demo_sessions(
    db: DbSession, escalations: dict[str, dict[str, str]], *, rectification_days: int = 5
) -> None:
    """Give seeded escalated sessions their "1515" record, and open a rectification
    for every seeded rating of 1-2.

    Args:
        escalations: session id to the demo escalation (department, reason, complexity).
    """
    calendar = _calendar(db)
    for session_id, esc in escalations.items():
        session = db.get(m.Session, session_id)
        if session is None or session.escalation:
            continue
        start = session.accepted_at or session.created_at
        complexity = (
            esc.get("complexity") if esc.get("complexity") in ("simple", "complex") else "simple"
        )
        contact = calendar.add_working_days(start, 1)
        answer = escalation_deadline(calendar, start, complexity)
        data = {
            "department": esc.get("department", ""),
            "reason": esc.get("reason", ""),
            "complexity": complexity,
            "contact_due_at": contact.at_end_of_day().isoformat(),
            "due_at": answer.at_end_of_day().isoformat(),
            "provisional": answer.provisional or contact.provisional,
            "escalated_at": start.replace(microsecond=0).isoformat(),
        }
        if session.state == SessionState.CLOSED.value and session.closed_at is not None:
            data["answered_at"] = session.closed_at.isoformat()
        session.escalation = data
        if session.state == SessionState.ESCALATED.value:
            session.due_at = answer.at_end_of_day()
        log_session(db, session)
    have = set(db.scalars(select(m.Rectification.evaluation_id)))
    for evaluation in db.scalars(select(m.Evaluation).where(m.Evaluation.score <= 2)):
        if evaluation.id in have:
            continue
        session = db.get(m.Session, evaluation.session_id)
        if session is None:
            continue
        opened = evaluation.created_at or datetime.now()
        deadline = calendar.add_working_days(opened.date(), rectification_days)
        row = m.Rectification(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/rectification/{evaluation.id}")),
            session_id=session.id,
            evaluation_id=evaluation.id,
            team_id=session.team_id,
            assignee_id=None,
            state="open",
            deadline=deadline.day,
            deadline_provisional=deadline.provisional,
            created_at=opened,
        )
        db.add(row)
        add_event(
            db,
            session,
            "rectification_opened",
            at=opened,
            deadline=deadline.day.isoformat(),
            working_days=rectification_days,
            rectification_id=row.id,
        )
        record(db, "rectification", row.id, audience=Audience(team_id=session.team_id))
        log_session(db, session)
