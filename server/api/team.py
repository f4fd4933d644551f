"""Team routes for leads (the board grows here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from core.enums import Role, SessionState
from server import models as m
from server.api.deps import get_db
from server.auth import CurrentUser, require_role

router = APIRouter(prefix="/team", tags=["team"])
lead_only = require_role(Role.LEAD, Role.ADMIN)


@router.get("/agents")
def team_agents(
    user: CurrentUser = Depends(lead_only), db: DbSession = Depends(get_db)
) -> list[dict[str, Any]]:
    """The lead's team with presence and open sessions against capacity."""
    open_counts = dict(
        db.execute(
            select(m.Session.assignee_id, func.count())
            .where(m.Session.team_id == user.team_id, m.Session.state != SessionState.CLOSED.value)
            .group_by(m.Session.assignee_id)
        ).all()
    )
    rows = db.scalars(select(m.User).where(m.User.team_id == user.team_id).order_by(m.User.id))
    return [
        {
            "id": u.id,
            "display_name": u.display_name,
            "role": u.role,
            "presence": u.presence,
            "capacity": u.capacity,
            "open_sessions": int(open_counts.get(u.id, 0)),
        }
        for u in rows
    ]
