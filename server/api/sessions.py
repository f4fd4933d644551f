"""Session routes beside the mutation endpoint: the teams to transfer to, and a lead's
direct reassignment (the desktop client sends ``session`` / ``reassign`` through its
outbox instead; both run the same code)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from core.enums import Role
from core.protocol import Op, ProtocolError, RecordKind, SessionReassign, parse_payload
from server import models as m
from server.api.deps import get_db
from server.audit import client_ip
from server.auth import CurrentUser, current_user, require_role
from server.errors import ApiError, not_found
from server.services.mutations import Rejected
from server.services.pull import records_for
from server.services.session_ops import reassign_session, reveal_numbers

router = APIRouter(tags=["sessions"])
lead_only = require_role(Role.LEAD, Role.ADMIN)


@router.get("/teams")
def teams(
    _user: CurrentUser = Depends(current_user), db: DbSession = Depends(get_db)
) -> list[dict[str, Any]]:
    """Every team (for 转交 to another team's queue)."""
    rows = db.scalars(select(m.Team).order_by(m.Team.id))
    return [{"id": t.id, "name": t.name, "office": t.office} for t in rows]


MAX_ID = 2**53
"""Larger ids cannot exist (and would overflow the database's integers)."""


class ReassignIn(BaseModel):
    to_agent_id: int = Field(ge=1, le=MAX_ID)
    expected_assignee_id: int | None = Field(
        ge=1,
        le=MAX_ID,
        description="the assignee the lead saw; the reassignment fails if it changed",
    )
    reason: str = Field(min_length=1, max_length=500)


@router.post("/sessions/{session_id}/reassign")
def reassign(
    session_id: str,
    body: ReassignIn,
    request: Request,
    user: CurrentUser = Depends(lead_only),
    db: DbSession = Depends(get_db),
) -> dict[str, Any]:
    """改派 a session of the lead's team (a compare-and-set on the assignee)."""
    session = db.get(m.Session, session_id, with_for_update=True)
    if session is None:
        raise not_found("该会话不存在")
    try:
        payload = parse_payload(
            RecordKind.SESSION, Op.REASSIGN, {**body.model_dump(), "session_id": session_id}
        )
    except ProtocolError as exc:
        raise ApiError(422, "bad_request", exc.reason) from None
    assert isinstance(payload, SessionReassign)
    try:
        reassign_session(db, user, session, payload, now=datetime.now())
    except Rejected as exc:
        db.rollback()
        raise ApiError(409, "rejected", exc.reason) from None
    db.commit()  # the commit wakes the polls its events concern (services/events.py)
    return records_for(db, user, [("session", session_id)])[0]


class RevealIn(BaseModel):
    field: Literal["phone", "id_number", "all"] = "all"
    reason: str = Field(
        "", max_length=200, description="why the full number is needed (kept in the audit log)"
    )


class RevealOut(BaseModel):
    session_id: str
    field: str
    phone: str = Field(description="the caller's full phone number ('' when not asked)")
    id_number: str = Field(description="the caller's full ID number ('' when not asked)")


@router.post(
    "/sessions/{session_id}/reveal",
    response_model=RevealOut,
    responses={403: {"description": "not the session's assignee"}},
)
def reveal(
    session_id: str,
    request: Request,
    body: RevealIn | None = None,
    user: CurrentUser = Depends(current_user),
    db: DbSession = Depends(get_db),
) -> RevealOut:
    """显示完整号码: the caller's full numbers for the session's assignee, audited."""
    answer = reveal_numbers(
        db,
        user,
        session_id,
        body.field if body else "all",
        source_ip=client_ip(request),
        reason=body.reason.strip() if body else "",
    )
    db.commit()
    request.app.state.events.notify()
    return RevealOut(**answer)
