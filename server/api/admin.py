"""Admin routes: users, the working-day calendar, and the knowledge feedback review list.

Admins only (403 in words for anyone else). Every change leaves an audit row
(``server.audit.record_audit``) and, where clients keep a copy, a change row:
a user's record reaches their team (``agent``), a calendar year reaches everyone
(``calendar``). Input is checked with the rules of ``core.accounts`` and
``core.calendar``, the same the admin page checks before sending; a refusal is a
422 that names the problem in Chinese. Passwords are hashed with argon2 and are
never echoed, logged or audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from core.accounts import (
    MAX_CAPACITY,
    NewUser,
    UserEdit,
    check_password,
)
from core.calendar import YearSchedule, check_year_schedule
from core.enums import Presence, Role
from server import models as m
from server.api.deps import get_db
from server.audit import client_ip, record_audit
from server.auth import CurrentUser, hash_password, require_role, revoke_user_tokens
from server.changes import Audience, record
from server.errors import ApiError, not_found
from server.services import catalog
from server.services.dispatch import dispatch_team

router = APIRouter(prefix="/admin", tags=["admin"])
admin_only = require_role(Role.ADMIN)

Admin = Annotated[CurrentUser, Depends(admin_only)]
Db = Annotated[DbSession, Depends(get_db)]


def invalid(message: str, code: str = "invalid") -> ApiError:
    return ApiError(422, code, message)


Year = Annotated[int, Path(ge=1949, le=2200, description="公历年份")]
"""A calendar year in a route; a larger number is a 422, not a database overflow."""
UserId = Annotated[int, Path(ge=1, le=2**31 - 1, description="用户编号")]
"""A user's number in a route: past the column's range is a 422, not an overflow."""


def _source_ip(request: Request) -> str | None:
    return client_ip(request)  # X-Forwarded-For only from a trusted proxy


def _notify(request: Request) -> None:
    request.app.state.events.notify()


# -- the calendar ---------------------------------------------------------------------------


class CalendarYearIn(BaseModel):
    source: str = Field("", max_length=256)
    holidays: list[str] = Field(default_factory=list, max_length=366)
    workdays: list[str] = Field(default_factory=list, max_length=366)


class CalendarYearOut(BaseModel):
    year: int
    source: str
    holidays: list[str]
    workdays: list[str]
    published: bool = True
    """False: the server has no schedule for the year (weekends only, deadlines provisional)."""


def _year_out(row: m.CalendarYear) -> CalendarYearOut:
    return CalendarYearOut(
        year=row.year,
        source=row.source,
        holidays=sorted(row.holidays or []),
        workdays=sorted(row.workdays or []),
    )


@router.get("/calendar", response_model=list[CalendarYearOut])
def list_calendar(_user: Admin, db: Db) -> list[CalendarYearOut]:
    rows = db.scalars(select(m.CalendarYear).order_by(m.CalendarYear.year))
    return [_year_out(r) for r in rows]


@router.get("/calendar/{year}", response_model=CalendarYearOut)
def get_calendar_year(year: Year, _user: Admin, db: Db) -> CalendarYearOut:
    """One year; a year the server has no schedule for comes back empty, unpublished."""
    row = db.get(m.CalendarYear, year)
    if row is None:
        return CalendarYearOut(year=year, source="", holidays=[], workdays=[], published=False)
    return _year_out(row)


@router.put("/calendar/{year}", response_model=CalendarYearOut)
def put_calendar_year(
    year: Year, body: CalendarYearIn, request: Request, user: Admin, db: Db
) -> CalendarYearOut:
    """Replace one year's holidays and 调休 working days (as the State Council publishes
    them); every client pulls the year with its next sync."""
    problems = check_year_schedule(year, body.holidays, body.workdays)
    if problems:
        raise invalid("日历有误：" + "；".join(problems[:5]), "bad_calendar")
    schedule = YearSchedule.from_wire({"year": year, **body.model_dump()})
    row = db.get(m.CalendarYear, year)
    before_h = set(row.holidays or []) if row else set()
    before_w = set(row.workdays or []) if row else set()
    wire = schedule.to_wire()
    after_h, after_w = set(wire["holidays"]), set(wire["workdays"])
    row = catalog.upsert_calendar_year(db, schedule)  # with its change row
    record_audit(
        db,
        actor_id=user.id,
        action="calendar.update",
        target_kind="calendar",
        target_id=year,
        detail={
            "holidays_added": sorted(after_h - before_h),
            "holidays_removed": sorted(before_h - after_h),
            "workdays_added": sorted(after_w - before_w),
            "workdays_removed": sorted(before_w - after_w),
        },
        source_ip=_source_ip(request),
    )
    db.commit()
    _notify(request)
    return _year_out(row)


# -- users ------------------------------------------------------------------------------------


class AdminUserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    team_id: str | None
    staff_number: str
    capacity: int
    active: bool
    presence: str
    last_seen_at: str | None = Field(None, description="本地时间，ISO 8601（不带时区）")


class UserCreateIn(BaseModel):
    username: str = Field(max_length=64)
    display_name: str = Field(max_length=256)
    role: str = Field(max_length=16)
    team_id: str | None = Field(None, max_length=64)
    staff_number: str = Field("", max_length=256)
    capacity: int = Field(4, ge=-1000, le=1000)
    password: str = Field(max_length=1024)


class UserPatchIn(BaseModel):
    display_name: str | None = Field(None, max_length=256)
    role: str | None = Field(None, max_length=16)
    team_id: str | None = Field(None, max_length=64)
    """An empty string takes the user out of every team (admins only)."""
    staff_number: str | None = Field(None, max_length=256)
    capacity: int | None = Field(None, ge=-1000, le=1000)
    active: bool | None = None


class PasswordIn(BaseModel):
    password: str = Field(max_length=1024)


class PasswordOut(BaseModel):
    id: int
    tokens_revoked: int


def _user_out(u: m.User) -> AdminUserOut:
    return AdminUserOut(
        id=u.id,
        username=u.username,
        display_name=u.display_name,
        role=u.role,
        team_id=u.team_id,
        staff_number=u.staff_number,
        capacity=u.capacity,
        active=u.active,
        presence=u.presence,
        last_seen_at=u.last_seen_at.isoformat() if u.last_seen_at else None,
    )


def _refuse(problems: list[tuple[str, str]], code: str = "bad_user") -> None:
    if problems:
        raise invalid("；".join(message for _, message in problems), code)


def _check_team(db: DbSession, team_id: str | None) -> None:
    if team_id and db.get(m.Team, team_id) is None:
        raise invalid(f"班组“{team_id}”不存在", "no_team")


def _log_agent(db: DbSession, user: m.User, old_team: str | None = None) -> None:
    """The user's record for their team's caches (a tombstone once deactivated); the
    team they left hears of it too."""
    for team in {user.team_id, old_team} - {None}:
        record(
            db,
            "agent",
            user.id,
            deleted=not user.active or team != user.team_id,
            audience=Audience(team_id=team, user_a=user.id),
        )


@router.get("/users", response_model=list[AdminUserOut])
def list_users(_user: Admin, db: Db) -> list[AdminUserOut]:
    return [_user_out(u) for u in db.scalars(select(m.User).order_by(m.User.id))]


@router.post("/users", response_model=AdminUserOut, status_code=201)
def create_user(body: UserCreateIn, request: Request, user: Admin, db: Db) -> AdminUserOut:
    """Create an account; the password is hashed (argon2) and never sent back."""
    team_id = body.team_id or None
    new = NewUser(
        username=body.username.strip(),
        display_name=body.display_name.strip(),
        role=body.role,
        team_id=team_id,
        staff_number=body.staff_number.strip(),
        capacity=body.capacity,
        password=body.password,
    )
    _refuse(new.problems())
    _check_team(db, team_id)
    if catalog.existing_user(db, new.username) is not None:
        raise ApiError(409, "username_taken", f"用户名“{new.username}”已被使用")
    row = m.User(
        username=new.username,
        display_name=new.display_name,
        password_hash=hash_password(new.password),
        role=new.role,
        team_id=team_id,
        staff_number=new.staff_number,
        capacity=new.capacity,
        skills=[],
        active=True,
        presence=Presence.OFFLINE.value,
    )
    db.add(row)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise ApiError(409, "username_taken", f"用户名“{new.username}”已被使用") from None
    _log_agent(db, row)
    record_audit(
        db,
        actor_id=user.id,
        action="user.create",
        target_kind="user",
        target_id=row.id,
        detail={
            "username": row.username,
            "role": row.role,
            "team_id": row.team_id,
            "capacity": row.capacity,
        },
        source_ip=_source_ip(request),
    )
    db.commit()
    _notify(request)
    return _user_out(row)


@router.patch("/users/{user_id}", response_model=AdminUserOut)
def update_user(
    user_id: UserId, body: UserPatchIn, request: Request, user: Admin, db: Db
) -> AdminUserOut:
    """Change a user's name, role, team, staff number, capacity or whether they may sign
    in. Deactivating signs them out everywhere at once."""
    row = db.get(m.User, user_id)
    if row is None:
        raise not_found("找不到该用户")
    sent = body.model_dump(exclude_unset=True)
    clear_team = "team_id" in sent and not sent["team_id"]
    edit = UserEdit(
        display_name=body.display_name.strip() if body.display_name is not None else None,
        role=body.role,
        team_id=body.team_id or None,
        clear_team=clear_team,
        staff_number=body.staff_number.strip() if body.staff_number is not None else None,
        capacity=body.capacity,
        active=body.active,
    )
    _refuse(edit.problems(row.role, row.team_id))
    if row.id == user.id and (
        body.active is False or (body.role is not None and body.role != Role.ADMIN.value)
    ):
        raise invalid("不能停用自己的账号或取消自己的管理员角色", "self_lockout")
    if "team_id" in sent and not clear_team:
        _check_team(db, edit.team_id)
    before = {
        "display_name": row.display_name,
        "role": row.role,
        "team_id": row.team_id,
        "staff_number": row.staff_number,
        "capacity": row.capacity,
        "active": row.active,
    }
    old_team = row.team_id
    if edit.display_name is not None:
        row.display_name = edit.display_name
    if edit.role is not None:
        row.role = edit.role
    if "team_id" in sent:
        row.team_id = None if clear_team else edit.team_id
    if edit.staff_number is not None:
        row.staff_number = edit.staff_number
    if edit.capacity is not None:
        row.capacity = edit.capacity
    if edit.active is not None:
        row.active = edit.active
    after = {key: getattr(row, key) for key in before}
    changed = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    revoked = 0
    if not changed:
        return _user_out(row)
    if before["active"] and not row.active:
        revoked = revoke_user_tokens(db, row.id)
        row.presence = Presence.OFFLINE.value
    _log_agent(db, row, old_team if old_team != row.team_id else None)
    action = "user.deactivate" if changed.get("active") == [True, False] else "user.update"
    record_audit(
        db,
        actor_id=user.id,
        action=action,
        target_kind="user",
        target_id=row.id,
        detail={"username": row.username, "changed": changed, "tokens_revoked": revoked},
        source_ip=_source_ip(request),
    )
    if row.capacity != before["capacity"] or row.active != before["active"]:
        dispatch_team(db, row.team_id)  # freed capacity may take a waiting caller
    db.commit()
    _notify(request)
    return _user_out(row)


@router.post("/users/{user_id}/password", response_model=PasswordOut)
def reset_password(
    user_id: UserId, body: PasswordIn, request: Request, user: Admin, db: Db
) -> PasswordOut:
    """Set a new password; the user is signed out everywhere and signs in with it."""
    row = db.get(m.User, user_id)
    if row is None:
        raise not_found("找不到该用户")
    _refuse(check_password(body.password), "bad_password")
    row.password_hash = hash_password(body.password)
    revoked = revoke_user_tokens(db, row.id)
    record_audit(
        db,
        actor_id=user.id,
        action="user.password_reset",
        target_kind="user",
        target_id=row.id,
        detail={"username": row.username, "tokens_revoked": revoked},
        source_ip=_source_ip(request),
    )
    db.commit()
    return PasswordOut(id=row.id, tokens_revoked=revoked)


# -- knowledge feedback -----------------------------------------------------------------------


class FeedbackOut(BaseModel):
    id: str
    entry_id: str | None
    entry_title: str = ""
    kind: str
    text: str
    author_id: int | None
    author_name: str = ""
    created_at: str = Field(description="本地时间，ISO 8601（不带时区）")
    status: str
    """open, accepted or rejected."""
    resolution_note: str = ""
    resolved_by: int | None = None
    resolved_by_name: str = ""
    resolved_at: str | None = Field(None, description="本地时间，ISO 8601（不带时区）")


class ResolveIn(BaseModel):
    resolution: Literal["accepted", "rejected"]
    note: str = Field("", max_length=500)


def _feedback_out(db: DbSession, rows: list[m.KnowledgeFeedback]) -> list[FeedbackOut]:
    user_ids = {r.author_id for r in rows} | {r.resolved_by for r in rows}
    names = {
        u.id: u.display_name
        for u in db.scalars(select(m.User).where(m.User.id.in_(user_ids - {None})))
    }
    entry_ids = {r.entry_id for r in rows if r.entry_id}
    titles = (
        dict(
            db.execute(
                select(m.KnowledgeEntry.id, m.KnowledgeEntry.title).where(
                    m.KnowledgeEntry.id.in_(entry_ids)
                )
            ).all()
        )
        if entry_ids
        else {}
    )
    return [
        FeedbackOut(
            id=r.id,
            entry_id=r.entry_id,
            entry_title=titles.get(r.entry_id, "") if r.entry_id else "",
            kind=r.kind,
            text=r.text,
            author_id=r.author_id,
            author_name=names.get(r.author_id, "") if r.author_id else "",
            created_at=r.created_at.isoformat(),
            status=r.status,
            resolution_note=r.resolution_note or "",
            resolved_by=r.resolved_by,
            resolved_by_name=names.get(r.resolved_by, "") if r.resolved_by else "",
            resolved_at=r.resolved_at.isoformat() if r.resolved_at else None,
        )
        for r in rows
    ]


@router.get("/knowledge-feedback", response_model=list[FeedbackOut])
def list_feedback(
    _user: Admin,
    db: Db,
    status: Literal["all", "open", "resolved"] = Query("all"),
) -> list[FeedbackOut]:
    """The review list of 纠错 / 新问题 reports sent by staff, newest first."""
    query = select(m.KnowledgeFeedback).order_by(m.KnowledgeFeedback.created_at.desc())
    if status == "open":
        query = query.where(m.KnowledgeFeedback.status == "open")
    elif status == "resolved":
        query = query.where(m.KnowledgeFeedback.status != "open")
    return _feedback_out(db, list(db.scalars(query)))


@router.post("/knowledge-feedback/{feedback_id}/resolve", response_model=FeedbackOut)
def resolve_feedback(
    feedback_id: str, body: ResolveIn, request: Request, user: Admin, db: Db
) -> FeedbackOut:
    """Accept (采纳) or reject (不采纳) a report, once: the first admin to answer wins."""
    row = db.get(m.KnowledgeFeedback, feedback_id)
    if row is None:
        raise not_found("找不到该反馈")
    note = body.note.strip()
    if body.resolution == "rejected" and not note:
        raise invalid("不采纳时请写明原因，提交人会看到", "note_required")
    now = datetime.now()
    won = db.execute(
        update(m.KnowledgeFeedback)
        .where(m.KnowledgeFeedback.id == feedback_id, m.KnowledgeFeedback.status == "open")
        .values(status=body.resolution, resolution_note=note, resolved_by=user.id, resolved_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        db.rollback()
        db.refresh(row)
        who = db.get(m.User, row.resolved_by) if row.resolved_by else None
        raise ApiError(
            409,
            "already_resolved",
            f"该反馈已由 {who.display_name if who else '其他管理员'} 处理",
        )
    record_audit(
        db,
        actor_id=user.id,
        action="knowledge_feedback.resolve",
        target_kind="knowledge_feedback",
        target_id=feedback_id,
        detail={"resolution": body.resolution, "entry_id": row.entry_id, "kind": row.kind},
        source_ip=_source_ip(request),
    )
    db.commit()
    db.refresh(row)
    return _feedback_out(db, [row])[0]


__all__ = ["MAX_CAPACITY", "router"]
