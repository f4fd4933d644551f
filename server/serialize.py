"""Turning the server's rows into the wire shapes of ``core.entities``."""

from __future__ import annotations

from typing import Any

from core import entities as wire
from core.masking import mask_id_number, mask_phone
from server import models as m


def knowledge_entry(row: m.KnowledgeEntry) -> dict[str, Any]:
    return wire.KnowledgeEntry(
        id=row.id,
        title=row.title,
        answer=row.answer,
        category=row.category,
        issuing_unit=row.issuing_unit,
        kind=row.kind,
        keywords=list(row.keywords or []),
        scope=row.scope,
        region=row.region,
        matter_code=row.matter_code,
        department=row.department,
        service_type=row.service_type,
        effective_date=row.effective_date,
        expiry_date=row.expiry_date,
        version=row.version,
        review_state=row.review_state,
        source=row.source,
    ).to_wire()


def matter_guide(row: m.MatterGuide) -> dict[str, Any]:
    data = dict(row.data or {})
    data.update(code=row.code, name=row.name, department=row.department, version=row.version)
    return wire.MatterGuide.from_wire(data).to_wire()


def calendar_year(row: m.CalendarYear) -> dict[str, Any]:
    return {
        "year": row.year,
        "source": row.source,
        "holidays": list(row.holidays),
        "workdays": list(row.workdays),
    }


def agent(row: m.User) -> dict[str, Any]:
    return wire.Agent(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        team_id=row.team_id,
        staff_number=row.staff_number,
        office=row.team.office if row.team else "",
        capacity=row.capacity,
        presence=row.presence,
    ).to_wire()


def timeline_event(row: m.SessionEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "actor_id": row.actor_id,
        "actor_name": row.actor_name,
        "kind": row.kind,
        "detail": dict(row.detail or {}),
    }


def session(row: m.Session) -> dict[str, Any]:
    return wire.Session(
        id=row.id,
        team_id=row.team_id,
        state=row.state,
        service_type=row.service_type,
        channel=row.channel,
        created_at=row.created_at,
        assignee_id=row.assignee_id,
        caller_name=row.caller_name,
        # Masked on the wire: the full numbers leave only through the audited reveal.
        caller_phone=mask_phone(row.caller_phone),
        caller_id_number=mask_id_number(row.caller_id_number),
        matter_code=row.matter_code,
        summary=row.summary,
        accepted_at=row.accepted_at,
        closed_at=row.closed_at,
        due_at=row.due_at,
        outcome=row.outcome,
        close_summary=row.close_summary,
        updated_at=row.updated_at,
        timeline=[timeline_event(e) for e in row.events],
        assigned_at=row.assigned_at,
        escalation=dict(row.escalation) if row.escalation else None,
        callback_due_at=row.callback_due_at,
    ).to_wire()


def session_note(row: m.SessionNote) -> dict[str, Any]:
    return wire.SessionNote(
        id=row.id,
        session_id=row.session_id,
        author_id=row.author_id,
        author_name=row.author_name,
        text=row.text,
        created_at=row.created_at,
    ).to_wire()


def evaluation(row: m.Evaluation) -> dict[str, Any]:
    return wire.Evaluation(
        id=row.id,
        session_id=row.session_id,
        score=row.score,
        comment=row.comment,
        created_at=row.created_at,
    ).to_wire()
