"""The audit log's read side (admins only): ``GET /api/v1/admin/audit``.

Filters: ``actor`` (a user id or a username), ``action`` (exact, or a prefix such as
``session`` for every ``session.*``), ``since`` / ``until`` (server local time, like
the rows), newest first with ``limit`` / ``offset``. ``format=csv`` answers the whole
filtered set (up to ``CSV_MAX`` rows) as a file in the shape of ``core.audit.audit_csv``;
the export is itself audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session as DbSession

from core.audit import AuditRow, audit_csv
from core.enums import Role
from server import models as m
from server.api.deps import get_db
from server.audit import client_ip, record_audit
from server.auth import CurrentUser, require_role
from server.errors import bad_request

router = APIRouter(prefix="/admin", tags=["admin"])
admin_only = require_role(Role.ADMIN)

CSV_MAX = 100_000


class AuditRowOut(BaseModel):
    id: int
    at: str
    actor_id: int | None
    actor_name: str
    action: str
    action_label: str
    target_kind: str
    target_id: str
    source_ip: str | None
    reason: str | None
    detail: dict[str, Any]


class AuditPageOut(BaseModel):
    rows: list[AuditRowOut]
    total: int
    limit: int
    offset: int


def _filters(
    db: DbSession,
    actor: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if actor:
        text = actor.strip()
        if text.isdigit():
            where.append(m.AuditLog.actor_id == int(text))
        else:
            uid = db.scalar(select(m.User.id).where(m.User.username == text))
            where.append(m.AuditLog.actor_id == (uid if uid is not None else -1))
    if action:
        name = action.strip().rstrip(".*")
        pattern = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(
            or_(
                m.AuditLog.action == name,
                m.AuditLog.action.like(f"{pattern}.%", escape="\\"),
            )
        )
    # Rows keep naive local times; an aware bound is compared by its wall clock.
    if since is not None:
        where.append(m.AuditLog.at >= since.replace(tzinfo=None))
    if until is not None:
        where.append(m.AuditLog.at <= until.replace(tzinfo=None))
    return where


def _rows(
    db: DbSession, where: list[ColumnElement[bool]], limit: int, offset: int
) -> list[AuditRow]:
    query = (
        select(m.AuditLog, m.User.display_name)
        .outerjoin(m.User, m.User.id == m.AuditLog.actor_id)
        .where(*where)
        .order_by(m.AuditLog.at.desc(), m.AuditLog.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        AuditRow(
            id=row.id,
            at=row.at,
            actor_id=row.actor_id,
            actor_name=name or "",
            action=row.action,
            target_kind=row.target_kind,
            target_id=row.target_id,
            source_ip=row.source_ip,
            reason=row.reason,
            detail=dict(row.detail or {}),
        )
        for row, name in db.execute(query).all()
    ]


@router.get(
    "/audit",
    response_model=AuditPageOut,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def read_audit(
    request: Request,
    actor: str | None = Query(None, max_length=64, description="用户编号或用户名"),
    action: str | None = Query(None, max_length=48, description="操作代码，或其前缀"),
    since: datetime | None = Query(None, description="起始时间（含）"),
    until: datetime | None = Query(None, description="截止时间（含）"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
    format: Literal["json", "csv"] = Query("json"),
    user: CurrentUser = Depends(admin_only),
    db: DbSession = Depends(get_db),
) -> Any:
    """The audit log, newest first; ``format=csv`` for the export (审计日志导出)."""
    if (
        since is not None
        and until is not None
        and since.replace(tzinfo=None) > until.replace(tzinfo=None)
    ):
        raise bad_request("起始时间不能晚于截止时间", "bad_range")
    where = _filters(db, actor, action, since, until)
    if format == "csv":
        rows = _rows(db, where, CSV_MAX, 0)
        record_audit(
            db,
            actor_id=user.id,
            action="audit.export",
            target_kind="audit_log",
            target_id="",
            detail={
                "rows": len(rows),
                "filters": {
                    k: v
                    for k, v in {
                        "actor": actor,
                        "action": action,
                        "since": since.isoformat() if since else None,
                        "until": until.isoformat() if until else None,
                    }.items()
                    if v
                },
            },
            source_ip=client_ip(request),
        )
        db.commit()
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return Response(
            audit_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
        )
    total = db.scalar(select(func.count()).select_from(m.AuditLog).where(*where)) or 0
    rows = _rows(db, where, limit, offset)
    return AuditPageOut(
        rows=[AuditRowOut(**r.to_wire()) for r in rows], total=total, limit=limit, offset=offset
    )
