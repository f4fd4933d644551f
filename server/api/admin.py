"""Admin routes: the working-day calendar, users, and the knowledge feedback list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from core.calendar import YearSchedule
from core.enums import Role
from server import models as m
from server.api.deps import get_db
from server.audit import client_ip, record_audit
from server.auth import CurrentUser, require_role
from server.errors import bad_request
from server.services import catalog

router = APIRouter(prefix="/admin", tags=["admin"])
admin_only = require_role(Role.ADMIN)


class CalendarYearIn(BaseModel):
    source: str = Field("", max_length=256)
    holidays: list[str]
    workdays: list[str] = []


@router.get("/calendar")
def list_calendar(
    _user: CurrentUser = Depends(admin_only), db: DbSession = Depends(get_db)
) -> list[dict[str, Any]]:
    rows = db.scalars(select(m.CalendarYear).order_by(m.CalendarYear.year))
    return [
        {"year": r.year, "source": r.source, "holidays": r.holidays, "workdays": r.workdays}
        for r in rows
    ]


@router.put("/calendar/{year}")
def put_calendar_year(
    body: CalendarYearIn,
    request: Request,
    year: int = Path(ge=1949, le=2200, description="公历年份"),
    user: CurrentUser = Depends(admin_only),
    db: DbSession = Depends(get_db),
) -> dict[str, Any]:
    """Replace one year's holidays and 调休 working days (published by the State Council)."""
    try:
        schedule = YearSchedule.from_wire({"year": year, **body.model_dump()})
    except ValueError as exc:
        raise bad_request(f"日期有误：{exc}", "bad_calendar") from exc
    before = db.get(m.CalendarYear, year)
    detail: dict[str, Any] = {
        "source": body.source,
        "holidays": len(schedule.holidays),
        "workdays": len(schedule.workdays),
    }
    if before is not None:
        detail["before"] = {"holidays": len(before.holidays), "workdays": len(before.workdays)}
    catalog.upsert_calendar_year(db, schedule)
    record_audit(
        db,
        actor_id=user.id,
        action="calendar.update" if before is not None else "calendar.create",
        target_kind="calendar",
        target_id=year,
        detail=detail,
        source_ip=client_ip(request),
    )
    db.commit()
    return schedule.to_wire()


@router.get("/users")
def list_users(
    _user: CurrentUser = Depends(admin_only), db: DbSession = Depends(get_db)
) -> list[dict[str, Any]]:
    rows = db.scalars(select(m.User).order_by(m.User.id))
    return [
        {
            "id": u.id,
            "username": u.username,
            "display_name": u.display_name,
            "role": u.role,
            "team_id": u.team_id,
            "staff_number": u.staff_number,
            "active": u.active,
        }
        for u in rows
    ]


@router.get("/knowledge-feedback")
def list_feedback(
    _user: CurrentUser = Depends(admin_only), db: DbSession = Depends(get_db)
) -> list[dict[str, Any]]:
    """The review list of 纠错 / 新问题 reports sent by staff."""
    rows = db.scalars(select(m.KnowledgeFeedback).order_by(m.KnowledgeFeedback.created_at.desc()))
    return [
        {
            "id": f.id,
            "entry_id": f.entry_id,
            "kind": f.kind,
            "text": f.text,
            "author_id": f.author_id,
            "created_at": f.created_at.isoformat(),
            "status": f.status,
        }
        for f in rows
    ]
