"""Team routes for leads: the board, the figures and the members.

Every route here is for leads (and admins); anyone else gets 403 with a message in
words. A lead sees their own team only; an admin may name a team.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from core.enums import Role, SessionState
from core.figures import Period
from server import models as m
from server.api.deps import get_db
from server.auth import CurrentUser, require_role
from server.errors import bad_request, forbidden
from server.services import team_board
from server.services.dispatch import connected_users

router = APIRouter(prefix="/team", tags=["team"])
lead_only = require_role(Role.LEAD, Role.ADMIN)


def team_of(user: CurrentUser, team_id: str | None, db: DbSession) -> str:
    """The team a lead may look at: their own; an admin may name any team."""
    if user.role is Role.ADMIN:
        chosen = team_id or user.team_id
        if chosen is None or db.get(m.Team, chosen) is None:
            raise bad_request("请指定要查看的班组", "no_team")
        return chosen
    if user.team_id is None:
        raise forbidden("您不属于任何班组，无法查看班组数据")
    if team_id and team_id != user.team_id:
        raise forbidden("班组长只能查看本班组的数据")
    return user.team_id


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


@router.get("/board")
def board(
    request: Request,
    team_id: str | None = Query(None, description="admins only: the team to show"),
    user: CurrentUser = Depends(lead_only),
    db: DbSession = Depends(get_db),
) -> dict[str, Any]:
    """班组看板: agents with presence and load, open sessions, the queue."""
    settings = request.app.state.settings
    chosen = team_of(user, team_id, db)
    result = team_board.board(
        db,
        chosen,
        now=datetime.now(),
        first_response_seconds=settings.first_response_seconds,
        presence_timeout_seconds=settings.presence_timeout_seconds,
        connected=connected_users(request.app),
    )
    return result.to_wire()


@router.get("/figures")
def figures(
    request: Request,
    period: str = Query("day", description="day, week or month"),
    day: str | None = Query(None, alias="date", description="a day of the period (YYYY-MM-DD)"),
    target_seconds: int | None = Query(None, ge=1, le=86400),
    team_id: str | None = Query(None, description="admins only: the team to show"),
    user: CurrentUser = Depends(lead_only),
    db: DbSession = Depends(get_db),
) -> dict[str, Any]:
    """班组统计 for a day, a week or a month, for the team and per agent."""
    try:
        chosen_period = Period(period)
    except ValueError:
        raise bad_request(
            "统计周期应为 day（日）、week（周）或 month（月）", "bad_period"
        ) from None
    try:
        chosen_day = date.fromisoformat(day) if day else date.today()
    except ValueError:
        raise bad_request("日期格式应为 YYYY-MM-DD", "bad_date") from None
    chosen = team_of(user, team_id, db)
    target = target_seconds or request.app.state.settings.first_response_seconds
    result = team_board.figures(
        db, chosen, period=chosen_period, day=chosen_day, now=datetime.now(), target_seconds=target
    )
    team = db.get(m.Team, chosen)
    return {**result.to_wire(), "team_id": chosen, "team_name": team.name if team else chosen}
