"""Screen-share link routes for staff (the caller's pages are in ``server.share_pages``).

* ``POST /api/v1/sessions/{id}/share``: the session's assignee creates its live link
  (the previous one is revoked); ``{"minutes": n}`` is optional.
* ``GET /api/v1/sessions/{id}/share``: the session's newest link.
* ``DELETE /api/v1/share/{link_id}``: revoke.
* ``GET /api/v1/share/{link_id}/room``: the staff member's way into the room.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session as DbSession

from core.session_rules import leads_team
from server import models as m
from server.api.deps import get_db, get_settings
from server.auth import CurrentUser, current_user
from server.config import ServerSettings
from server.errors import ApiError
from server.services import share
from server.services.visibility import session_visible

router = APIRouter(tags=["share"])


class ShareIn(BaseModel):
    minutes: int | None = Field(None, description="有效期（分钟）；不填用服务器设置")


def _fail(exc: share.ShareError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def _answer(request: Request, db: DbSession, link: m.ShareLink) -> dict[str, Any]:
    """Commit, wake the event stream, and answer with the link's record."""
    data = share.wire(link, share.helper_of(db, link))
    db.commit()
    request.app.state.events.notify()
    return data


@router.post("/sessions/{session_id}/share", status_code=201)
def create_share(
    session_id: str,
    request: Request,
    body: ShareIn | None = None,
    user: CurrentUser = Depends(current_user),
    db: DbSession = Depends(get_db),
    settings: ServerSettings = Depends(get_settings),
) -> dict[str, Any]:
    """Create the session's screen-share link (its assignee only)."""
    try:
        link = share.create_link(
            db,
            settings,
            session_id,
            user.id,
            base_url=str(request.base_url),
            minutes=body.minutes if body else None,
        )
    except share.ShareError as exc:
        db.rollback()
        raise _fail(exc) from exc
    return _answer(request, db, link)


@router.get("/sessions/{session_id}/share")
def get_share(
    session_id: str,
    request: Request,
    user: CurrentUser = Depends(current_user),
    db: DbSession = Depends(get_db),
) -> dict[str, Any]:
    """The session's newest link (404 when it never had one)."""
    session = db.get(m.Session, session_id)
    if session is None or not session_visible(session, user):
        raise ApiError(404, "not_found", "找不到该会话")
    link = share.current_link(db, session_id)
    if link is None:
        raise ApiError(404, "no_share", "该会话还没有发起过屏幕共享")
    return _answer(request, db, link)


@router.delete("/share/{link_id}")
def revoke_share(
    link_id: str,
    request: Request,
    user: CurrentUser = Depends(current_user),
    db: DbSession = Depends(get_db),
) -> dict[str, Any]:
    """Revoke a link; the join code stops working at once."""
    try:
        link = share.revoke_link(
            db,
            link_id,
            user.id,
            is_lead_of_team=lambda team_id: leads_team(user.actor, team_id),
        )
    except share.ShareError as exc:
        db.rollback()
        raise _fail(exc) from exc
    return _answer(request, db, link)


@router.get("/share/{link_id}/room")
def staff_room(
    link_id: str,
    request: Request,
    user: CurrentUser = Depends(current_user),
    db: DbSession = Depends(get_db),
    settings: ServerSettings = Depends(get_settings),
) -> dict[str, Any]:
    """The URL that takes the staff member into the link's room."""
    link = db.get(m.ShareLink, link_id)
    session = db.get(m.Session, link.session_id) if link is not None else None
    if link is None or session is None or not session_visible(session, user):
        raise ApiError(404, "not_found", "找不到该屏幕共享链接")
    try:
        url = share.staff_room_url(db, settings, link, user.id)
    except share.ShareError as exc:
        db.commit()  # a lazy expiry found on the way is kept
        request.app.state.events.notify()
        raise _fail(exc) from exc
    db.commit()
    return {"url": url, "link_id": link.id, "expires_at": link.expires_at.isoformat()}
