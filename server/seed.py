"""The demo seed: teams, users, matters, knowledge, the calendar and a day of sessions.

Idempotent: users and sessions are created once; catalog data is upserted only when
it differs. Demo accounts exist only through this seed.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from core.calendar import builtin_schedules
from core.enums import SessionState
from core.resources import resources_root
from server import models as m
from server.auth import hash_password
from server.changes import record
from server.services import catalog, knowledge_edit
from server.services.sessions import add_event, add_note, audience_of, log_session
from server.services.team_seed import enrich_demo_sessions
from server.services.walkthroughs import seed_walkthroughs

RESOURCES = resources_root()
DEMO = RESOURCES / "demo"
DEMO_PASSWORD = "bangban-demo"  # demo data only: every demo account uses it
SESSIONS_MARKER = "demo_sessions_seeded_at"


def _load(name: str) -> Any:
    return json.loads((DEMO / name).read_text("utf-8"))


def knowledge_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted((DEMO / "knowledge").glob("*.json")):
        records.extend(json.loads(path.read_text("utf-8")))
    return records


def seed_demo(db: DbSession, *, now: datetime | None = None) -> dict[str, int]:
    """Load the demo data; returns how many rows of each kind were created or updated."""
    now = now or datetime.now()
    counts = {"teams": 0, "users": 0, "matters": 0, "knowledge": 0, "calendar": 0, "sessions": 0}
    org = _load("org.json")
    for team in org["teams"]:
        if db.get(m.Team, team["id"]) is None:
            db.add(m.Team(id=team["id"], name=team["name"], office=team.get("office", "")))
            counts["teams"] += 1
    db.flush()
    password_hash = None
    for u in org["users"]:
        if catalog.existing_user(db, u["username"]) is not None:
            continue
        password_hash = password_hash or hash_password(DEMO_PASSWORD)
        user = m.User(
            username=u["username"],
            display_name=u["display_name"],
            password_hash=password_hash,
            role=u["role"],
            team_id=u.get("team_id"),
            staff_number=u.get("staff_number", ""),
            capacity=int(u.get("capacity", 4)),
            skills=list(u.get("skills", [])),
        )
        db.add(user)
        db.flush()
        catalog.touch_agent(db, user)
        counts["users"] += 1

    for schedule in builtin_schedules():
        row = db.get(m.CalendarYear, schedule.year)
        if row is None or row.holidays != schedule.to_wire()["holidays"]:
            catalog.upsert_calendar_year(db, schedule)
            counts["calendar"] += 1

    for matter in _load("matters.json"):
        row = db.get(m.MatterGuide, matter["code"])
        if row is None:
            catalog.upsert_matter(db, matter)
            counts["matters"] += 1

    existing = set(db.scalars(select(m.KnowledgeEntry.id)))
    drafted = set(db.scalars(select(m.KnowledgeDraft.entry_id)))
    for entry in knowledge_records():
        if entry["id"] in existing or entry["id"] in drafted:
            continue
        if entry.get("review_state", "published") != "published":
            # Not yet approved: a draft under review, which agents do not pull.
            knowledge_edit.seed_review_draft(db, entry, now=now)
        else:
            catalog.upsert_knowledge(db, entry, now=now)
        counts["knowledge"] += 1
    counts["synonyms"] = knowledge_edit.seed_synonyms(db)
    db.flush()
    # The sample scripts cite the knowledge entries above, so they come after them.
    counts["walkthroughs"] = seed_walkthroughs(db, now=now)

    if db.get(m.Meta, SESSIONS_MARKER) is None:
        counts["sessions"] = _seed_sessions(db, now)
        # What the real flows would have added: "1515" records, rectifications of 1-2.
        enrich_demo_sessions(
            db,
            {
                str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{s['ref']}")): s["escalation"]
                for s in _load("sessions.json")
                if s.get("escalation")
            },
        )
        db.add(m.Meta(key=SESSIONS_MARKER, value=now.isoformat()))
    db.commit()
    return counts


def _seed_sessions(db: DbSession, now: datetime) -> int:
    users = {u.username: u for u in db.scalars(select(m.User))}

    def ago(minutes: int | None) -> datetime | None:
        return None if minutes is None else now - timedelta(minutes=minutes)

    count = 0
    for s in _load("sessions.json"):
        assignee = users.get(s["assignee"]) if s.get("assignee") else None
        created = ago(s["created_minutes_ago"]) or now
        session = m.Session(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{s['ref']}")),
            team_id=s["team_id"],
            assignee_id=assignee.id if assignee else None,
            state=s["state"],
            service_type=s["service_type"],
            channel=s["channel"],
            caller_name=s.get("caller_name") or "",
            caller_phone=s.get("caller_phone") or "",
            caller_id_number=s.get("caller_id_number") or "",
            matter_code=s.get("matter_code"),
            summary=s.get("summary") or "",
            created_at=created,
            accepted_at=ago(s.get("accepted_minutes_ago")),
            closed_at=ago(s.get("closed_minutes_ago")),
            outcome=s.get("outcome"),
            close_summary=s.get("close_summary") or "",
        )
        if assignee is not None:
            session.assigned_at = session.accepted_at or created
        db.add(session)
        db.flush()
        add_event(db, session, "created", at=created, channel=s["channel"], summary=session.summary)
        if assignee is not None:
            add_event(db, session, "assigned", at=session.assigned_at, to=assignee.display_name)
        if session.accepted_at is not None and assignee is not None:
            add_event(db, session, "accepted", actor=assignee, at=session.accepted_at)
        escalation = s.get("escalation")
        if s["state"] == SessionState.ESCALATED.value and escalation:
            add_event(
                db,
                session,
                "escalated",
                actor=assignee,
                at=session.accepted_at,
                department=escalation.get("department"),
                reason=escalation.get("reason"),
            )
        for i, note in enumerate(s.get("notes") or []):
            author = users.get(note["author"])
            note_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{s['ref']}/note/{i}"))
            add_note(db, session, note_id, note["text"], author, at=ago(note["minutes_ago"]))
        if session.closed_at is not None:
            add_event(
                db,
                session,
                "closed",
                actor=assignee,
                at=session.closed_at,
                outcome=session.outcome,
                summary=session.close_summary,
            )
        evaluation = s.get("evaluation")
        if evaluation:
            eval_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{s['ref']}/evaluation"))
            db.add(
                m.Evaluation(
                    id=eval_id,
                    session_id=session.id,
                    score=int(evaluation["score"]),
                    comment=evaluation.get("comment") or "",
                    created_at=session.closed_at or now,
                    recorded_by=assignee.id if assignee else None,
                )
            )
            add_event(
                db,
                session,
                "evaluated",
                actor=assignee,
                at=session.closed_at,
                score=int(evaluation["score"]),
            )
            record(db, "evaluation", eval_id, audience=audience_of(session))
        db.flush()
        log_session(db, session, now=now)
        count += 1
    return count
