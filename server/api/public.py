"""The caller's conversation API (no account: a token bound to the browser's cookie) and
the staff routes around it (rating links, attachments, the matter → team mapping).

Public (``server.limits.ROUTES`` lists them with small caps):
* ``POST /api/v1/public/conversations`` ``{matter_code, text, name?, phone?, consent}``
  → ``{token, url, callback}`` (sets the ``bangban_caller`` cookie the token is bound to);
* ``GET /api/v1/public/conversations/{token}/messages?after=&wait=`` (long poll);
* ``POST /api/v1/public/conversations/{token}/messages`` ``{text}`` or a multipart
  ``photo``; ``POST …/{token}/evaluation`` ``{score, comment}``; the same under
  ``/api/v1/public/ratings/{token}`` for a rating link (no cookie: the link is the key).
Writes with the cookie need the ``X-CSRF-Token`` header (the pages' form token).

Staff: ``POST /api/v1/sessions/{id}/rating-link`` → ``{url, sms_text}`` (the assignee;
audited), ``GET /api/v1/attachments/{id}`` (who may see the session),
``GET/PUT /api/v1/admin/matter-teams`` (admins).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession
from starlette.concurrency import run_in_threadpool

from core.enums import Role
from server import models as m
from server.api.deps import get_db
from server.audit import client_ip, record_audit
from server.auth import CurrentUser, current_user, require_role
from server.caller_pages import (
    BROWSER_COOKIE,
    address,
    browser_id,
    csrf_for,
    csrf_ok,
    same_origin,
    set_browser_cookie,
)
from server.errors import ApiError
from server.services import conversations as conv
from server.services.session_ops import EvaluationRefused, record_caller_evaluation
from server.services.visibility import session_visible

router = APIRouter(tags=["conversations"])

CALLER_RECHECK = 5.0
"""A waiting caller poll re-reads on its own at most this often. Every write of a message
wakes it at once (``events.wake_at_commit``, across processes by NOTIFY); hundreds of
phones re-reading every second (the staff polls' pace without a listener) would be
the server's main load."""


class StartIn(BaseModel):
    matter_code: str = Field(..., max_length=64)
    text: str = Field(..., max_length=4000)
    name: str = Field("", max_length=40)
    phone: str = Field("", max_length=20)
    consent: bool = False


class StartOut(BaseModel):
    token: str
    url: str
    callback: bool
    csrf: str
    back_at: str


class MessageIn(BaseModel):
    text: str = Field(..., max_length=8000)


class EvaluationIn(BaseModel):
    score: int = Field(..., ge=1, le=5)
    comment: str = Field("", max_length=2000)


class MessageOut(BaseModel):
    seq: int
    id: str
    from_: str = Field(..., alias="from")
    name: str
    text: str
    photos: list[str]
    at: str
    links: list[str] = []
    """This session's screen-share link, when the message carries it (a button to tap)."""


class HelperOut(BaseModel):
    name: str
    staff_number: str


class ViewOut(BaseModel):
    messages: list[dict[str, Any]]
    last: int
    state: str
    closed: bool
    callback: bool
    helper: HelperOut | None
    rated: bool


class SentOut(BaseModel):
    id: str
    seq: int


class RatedOut(BaseModel):
    ok: bool


class RatingLinkOut(BaseModel):
    url: str
    sms_text: str


class MatterTeamsIn(BaseModel):
    teams: dict[str, str] = Field(..., description="事项编码 → 班组编号；空字符串表示取消")


class MatterTeamsOut(BaseModel):
    teams: dict[str, str]


def _refusal(exc: conv.PublicRefusal) -> ApiError:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return ApiError(exc.status, exc.code, exc.message, headers=headers)


def _base_url(request: Request) -> str:
    public = request.app.state.settings.public_base_url
    return (public or str(request.base_url)).rstrip("/")


def _check_write(request: Request) -> None:
    if not same_origin(request):
        raise ApiError(403, "cross_site", "请求来自其他网站，已拒绝")
    if not csrf_ok(request, request.headers.get("x-csrf-token", "")):
        raise ApiError(403, "csrf", "页面已失效（缺少或不符的安全令牌），请刷新页面后重试")


# -- public -------------------------------------------------------------------------------


@router.post("/public/conversations", status_code=201, response_model=StartOut)
def start(body: StartIn, request: Request, response: Response) -> Any:
    """Start a conversation (or, out of hours, a callback request)."""
    if not same_origin(request):
        raise ApiError(403, "cross_site", "请求来自其他网站，已拒绝")
    browser, new = browser_id(request)
    with request.app.state.db() as db:
        try:
            started = conv.start_conversation(
                db,
                matter_code=body.matter_code,
                text=body.text,
                name=body.name,
                phone=body.phone,
                consent=body.consent,
                address=address(request),
                now=datetime.now(),
            )
        except conv.PublicRefusal as exc:
            db.rollback()
            raise _refusal(exc) from None
        row = db.get(m.CallerToken, conv.digest(started.token))
        assert row is not None
        row.cookie_hash = conv.digest(browser)
        db.commit()
    set_browser_cookie(response, request, browser)
    del new
    return {
        "token": started.token,
        "url": f"{_base_url(request)}/c/{started.token}",
        "callback": started.callback,
        "csrf": csrf_for(browser),
        "back_at": started.back_words,
    }


def _session_of(request: Request, token: str) -> m.Session:
    with request.app.state.db() as db:
        session = conv.conversation(
            db, token, request.cookies.get(BROWSER_COOKIE), now=datetime.now()
        )
    if session is None:
        raise ApiError(404, "not_found", "咨询链接无效或已过期（或不是在发起咨询的浏览器上打开）")
    return session


@router.get("/public/conversations/{token}/messages", response_model=ViewOut)
async def messages(
    token: str,
    request: Request,
    after: int = Query(0, ge=0, le=2**31 - 1),
    wait: float = Query(0, ge=0, le=30),
) -> Any:
    """The conversation after message ``after``, waiting up to ``wait`` s for news."""
    session = await run_in_threadpool(_session_of, request, token)
    bus = request.app.state.events
    keys = [f"c:{session.id}"]
    deadline = time.monotonic() + wait

    def read() -> dict[str, Any]:
        with request.app.state.db() as db:
            row = db.get(m.Session, session.id)
            assert row is not None
            return conv.caller_view(db, row, after=after)

    def delivered() -> None:
        # Polling after message ``after`` says the page has everything up to it: those
        # staff messages are read. Marked here, before the wait, so that writing it never
        # delays the delivery of the next message.
        with request.app.state.db() as db:
            row = db.get(m.Session, session.id)
            if row is not None and conv.mark_read(db, row, upto=after, now=datetime.now()):
                db.commit()

    if after:
        await run_in_threadpool(delivered)
    state = session.state
    while True:
        mark = bus.mark(keys)
        view = await run_in_threadpool(read)
        remaining = deadline - time.monotonic()
        changed = view["messages"] or view["state"] != state
        if changed or remaining <= 0 or bus.closed or await request.is_disconnected():
            return view
        recheck = max(bus.recheck_seconds(), CALLER_RECHECK)
        await bus.wait(min(remaining, recheck), keys, since=mark)


@router.post("/public/conversations/{token}/messages", status_code=201, response_model=SentOut)
async def send(token: str, request: Request) -> Any:
    """A text ``{text}`` (JSON) or a photo (multipart field ``photo``)."""
    _check_write(request)
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    text, image = "", None
    if media == "multipart/form-data":
        limit = int(request.app.state.settings.chat_image_max_bytes)
        try:
            async with request.form(max_files=1, max_fields=4) as form:
                upload = form.get("photo")
                if upload is None or isinstance(upload, str):
                    raise ApiError(422, "invalid", "请选择要发送的照片（字段 photo）")
                image = await upload.read(limit + 1)
        except ApiError:
            raise
        except Exception:
            raise ApiError(400, "bad_upload", "照片没有上传成功，请重新选择") from None
        if len(image) > limit:
            raise ApiError(413, "too_large", f"照片太大（最大 {limit // (1024 * 1024)} MB）")
    else:
        try:
            raw = await request.json()
            text = MessageIn.model_validate(raw).text
        except Exception:
            raise ApiError(422, "invalid", '消息格式有误：应为 {"text": "…"}') from None

    def work() -> dict[str, Any]:
        session = _session_of(request, token)
        with request.app.state.db() as db:
            row = db.get(m.Session, session.id)
            assert row is not None
            try:
                message = conv.caller_message(
                    db, row, text=text, address=address(request), now=datetime.now(), image=image
                )
            except conv.PublicRefusal as exc:
                db.rollback()
                raise _refusal(exc) from None
            out = {"id": message.id, "seq": message.seq}
            db.commit()
            return out

    return await run_in_threadpool(work)


def _evaluate(request: Request, session: m.Session, body: EvaluationIn) -> dict[str, Any]:
    comment = body.comment.strip()
    if len(comment) > conv.COMMENT_MAX_LEN:
        raise ApiError(422, "too_long", f"意见最多 {conv.COMMENT_MAX_LEN} 字")
    with request.app.state.db() as db:
        row = db.get(m.Session, session.id)
        assert row is not None
        try:
            record_caller_evaluation(
                db, row, score=body.score, comment=comment, via="api", now=datetime.now()
            )
            db.commit()
        except EvaluationRefused as exc:
            db.rollback()
            raise ApiError(409, "refused", exc.message) from None
        except IntegrityError:
            db.rollback()
            raise ApiError(409, "refused", "这次服务已经评价过了，每次服务只能评价一次") from None
    return {"ok": True}


@router.post("/public/conversations/{token}/evaluation", response_model=RatedOut)
def evaluate_conversation(token: str, body: EvaluationIn, request: Request) -> Any:
    _check_write(request)
    return _evaluate(request, _session_of(request, token), body)


def _rating_of(request: Request, token: str) -> m.Session:
    with request.app.state.db() as db:
        session = conv.rating_session(db, token, now=datetime.now())
    if session is None:
        raise ApiError(404, "not_found", "评价链接无效或已过期")
    return session


@router.get("/public/ratings/{token}/messages", response_model=ViewOut)
def rating_view(token: str, request: Request) -> Any:
    """What the rating page shows (no messages: only the state and the helper)."""
    session = _rating_of(request, token)
    with request.app.state.db() as db:
        row = db.get(m.Session, session.id)
        assert row is not None
        return conv.caller_view(db, row, after=2**31 - 1)


@router.post("/public/ratings/{token}/evaluation", response_model=RatedOut)
def evaluate_rating(token: str, body: EvaluationIn, request: Request) -> Any:
    if not same_origin(request):
        raise ApiError(403, "cross_site", "请求来自其他网站，已拒绝")
    return _evaluate(request, _rating_of(request, token), body)


# -- staff --------------------------------------------------------------------------------


@router.post("/sessions/{session_id}/rating-link", status_code=201, response_model=RatingLinkOut)
def rating_link(
    session_id: str,
    request: Request,
    user: CurrentUser = Depends(current_user),
    db: DbSession = Depends(get_db),
) -> Any:
    """A rating link for the caller of a (phone) session: the assignee only."""
    session = db.get(m.Session, session_id[:64])
    if session is None or not session_visible(session, user):
        raise ApiError(404, "not_found", "该会话不存在或您无权查看")
    if session.assignee_id != user.id:
        raise ApiError(403, "not_assignee", "只有该会话的承办人可以生成评价链接")
    now = datetime.now()
    token = conv.create_rating_link(db, session, user, now=now)
    record_audit(
        db,
        actor_id=user.id,
        action="session.rating_link",
        target_kind="session",
        target_id=session.id,
        detail={},
        source_ip=client_ip(request),
    )
    db.commit()
    url = f"{_base_url(request)}/r/{token}"
    sms = f"【政务服务】感谢您的来电。请对本次服务作出评价（非常满意至非常不满意）：{url}"
    return {"url": url, "sms_text": sms}


@router.get("/attachments/{attachment_id}", responses={200: {"content": {"image/jpeg": {}}}})
def attachment(
    attachment_id: str,
    user: CurrentUser = Depends(current_user),
    db: DbSession = Depends(get_db),
) -> Response:
    """A photo a caller sent, for whoever may see its session."""
    row = db.get(m.Attachment, attachment_id[:64])
    session = db.get(m.Session, row.session_id) if row is not None else None
    if row is None or session is None or not session_visible(session, user):
        raise ApiError(404, "not_found", "附件不存在或您无权查看")
    return Response(row.data, media_type=row.content_type, headers={"Cache-Control": "private"})


@router.get("/admin/matter-teams", response_model=MatterTeamsOut)
def matter_teams(
    _admin: CurrentUser = Depends(require_role(Role.ADMIN)),
    db: DbSession = Depends(get_db),
) -> Any:
    rows = db.scalars(select(m.MatterTeam).order_by(m.MatterTeam.matter_code))
    return {"teams": {r.matter_code: r.team_id for r in rows}}


@router.put("/admin/matter-teams", response_model=MatterTeamsOut)
def set_matter_teams(
    body: MatterTeamsIn,
    request: Request,
    admin: CurrentUser = Depends(require_role(Role.ADMIN)),
    db: DbSession = Depends(get_db),
) -> Any:
    """Set (or, with an empty team, remove) the team of each matter named."""
    if len(body.teams) > 2000:
        raise ApiError(422, "too_many", "一次最多设置 2000 个事项")
    for code, team_id in body.teams.items():
        if len(code) > 64 or len(team_id) > 64:
            raise ApiError(422, "invalid", "事项编码或班组编号过长")
        if db.get(m.MatterGuide, code) is None:
            raise ApiError(422, "unknown_matter", f"事项（{code}）不存在")
        if team_id and db.get(m.Team, team_id) is None:
            raise ApiError(422, "unknown_team", f"班组（{team_id}）不存在")
    for code, team_id in body.teams.items():
        db.execute(delete(m.MatterTeam).where(m.MatterTeam.matter_code == code))
        if team_id:
            db.add(m.MatterTeam(matter_code=code, team_id=team_id))
    record_audit(
        db,
        actor_id=admin.id,
        action="matter_teams.update",
        target_kind="matter_teams",
        target_id="-",
        detail={"count": len(body.teams)},
        source_ip=client_ip(request),
    )
    db.commit()
    rows = db.scalars(select(m.MatterTeam).order_by(m.MatterTeam.matter_code))
    return {"teams": {r.matter_code: r.team_id for r in rows}}


__all__ = ["JSONResponse", "router"]
