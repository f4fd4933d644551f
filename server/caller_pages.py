"""The caller's online-consultation pages (issue 13): ``/c``, ``/c/<token>``, ``/r/<token>``.

Rendered with Jinja2 (autoescaping on) from ``resources/templates/`` with one base
layout; readable without JavaScript (plain forms, a refresh link), better with the
small inline script that long-polls for new messages. Large type and high contrast
are one tap away (``/c/mode``, remembered in a cookie).

Every browser gets a random ``bangban_caller`` cookie; a conversation token is bound
to its digest, and every form carries a CSRF token derived from it (double submit: a
page on another site can neither read the cookie nor make the token).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from core.enums import EVALUATION_LABELS
from core.protocol import MESSAGE_MAX_LEN
from core.search.pinyin import initials
from server import models as m
from server.pages import MODE_COOKIE, modes, render_page
from server.services import conversations as conv
from server.services.session_ops import EvaluationRefused, record_caller_evaluation

router = APIRouter(include_in_schema=False)

BROWSER_COOKIE = "bangban_caller"
COOKIE_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")
LEVELS = [(s, EVALUATION_LABELS[s]) for s in (5, 4, 3, 2, 1)]


# -- cookies and CSRF ---------------------------------------------------------------------


def browser_id(request: Request) -> tuple[str, bool]:
    """This browser's id (its cookie), or a new one (``True``: set it on the answer)."""
    value = request.cookies.get(BROWSER_COOKIE) or ""
    if COOKIE_SHAPE.fullmatch(value):
        return value, False
    return secrets.token_urlsafe(24), True


def csrf_for(browser: str) -> str:
    return hmac.new(browser.encode(), b"bangban-csrf", hashlib.sha256).hexdigest()[:32]


def csrf_ok(request: Request, sent: str) -> bool:
    browser = request.cookies.get(BROWSER_COOKIE) or ""
    if not COOKIE_SHAPE.fullmatch(browser) or not sent:
        return False
    return secrets.compare_digest(csrf_for(browser), sent[:64])


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True
    own = f"{request.url.scheme}://{request.url.netloc}"
    public = getattr(request.app.state.settings, "public_base_url", "") or ""
    return origin.rstrip("/") in {own, public.rstrip("/")}


def set_browser_cookie(response: Response, request: Request, browser: str) -> None:
    response.set_cookie(
        BROWSER_COOKIE,
        browser,
        max_age=30 * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- rendering ----------------------------------------------------------------------------


def render(
    request: Request,
    name: str,
    *,
    title: str,
    status: int = 200,
    script: bool = False,
    browser: tuple[str, bool] | None = None,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """A consultation page; every form on it carries this browser's CSRF token."""
    browser = browser or browser_id(request)
    response = render_page(
        request,
        name,
        title=title,
        brand="政务服务 · 线上咨询",
        brand_short="线上咨询",
        subtitle="工作人员在线为您解答办事问题",
        status=status,
        script=script,
        headers=headers,
        csrf=csrf_for(browser[0]),
        **values,
    )
    if browser[1]:
        set_browser_cookie(response, request, browser[0])
    return response


def notice(
    request: Request, heading: str, message: str, *, status: int, **values: Any
) -> HTMLResponse:
    values.setdefault("mark", "!" if status >= 400 else "✓")
    values.setdefault("tone", "bad" if status >= 400 else "")
    return render(
        request,
        "notice.html",
        title=heading,
        heading=heading,
        message=message,
        status=status,
        **values,
    )


def not_found(request: Request) -> HTMLResponse:
    return notice(
        request,
        "链接无效或已过期",
        "这个咨询链接不能使用：可能已过有效期，或不是在这部手机的浏览器上发起的。"
        "如仍需帮助，请重新发起咨询。",
        status=404,
        mark="?",
        action_href="/c",
        action_label="重新发起咨询",
    )


def refused(request: Request, back: str) -> HTMLResponse:
    return notice(
        request,
        "页面已失效",
        "为了您的安全，这次提交没有被接受（页面过期、被其他网站转发，或浏览器禁用了 Cookie）。"
        "请返回重新操作。",
        status=403,
        action_href=back,
        action_label="返回",
    )


async def read_form(request: Request) -> dict[str, str]:
    body = await request.body()  # server.limits caps it
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in form.items()}


# -- the start page -----------------------------------------------------------------------


def matter_choices(db: Any, q: str, limit: int = 12) -> list[dict[str, str]]:
    """Matters whose name or department contains ``q``, or whose pinyin initials start
    with (or contain) it; the first ``limit`` when ``q`` is empty."""
    rows = list(db.scalars(select(m.MatterGuide).where(m.MatterGuide.deleted.is_(False))))
    rows.sort(key=lambda r: r.code)
    query = q.strip().lower()
    found = []
    for row in rows:
        if query:
            letters = initials(row.name).lower()
            if not (
                query in row.name.lower()
                or query in row.department.lower()
                or (query.isascii() and query in letters)
            ):
                continue
        found.append({"code": row.code, "name": row.name, "department": row.department})
    return found[:limit]


def _start_page(
    request: Request,
    *,
    q: str = "",
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with request.app.state.db() as db:
        hours = conv.opening_state(db, datetime.now())
        matters = matter_choices(db, q)
        chosen = (form or {}).get("matter_code")
        if chosen and chosen not in {x["code"] for x in matters}:
            guide = db.get(m.MatterGuide, chosen)
            if guide is not None and not guide.deleted:
                matters.insert(
                    0, {"code": guide.code, "name": guide.name, "department": guide.department}
                )
    return render(
        request,
        "chat_start.html",
        title="线上咨询",
        hours=hours,
        matters=matters,
        q=q[:40],
        form=form or {},
        errors=errors or {},
        question_max=conv.QUESTION_MAX_LEN,
        status=status,
    )


@router.get("/c")
async def start_page(request: Request, q: str = "") -> Response:
    return await run_in_threadpool(lambda: _start_page(request, q=q[:40]))


@router.post("/c")
async def start_post(request: Request) -> Response:
    form = await read_form(request)
    if not csrf_ok(request, form.get("csrf", "")) or not same_origin(request):
        return refused(request, "/c")
    values = {
        "matter_code": form.get("matter_code", "")[:64],
        "text": form.get("text", ""),
        "name": form.get("name", "")[:40],
        "phone": form.get("phone", "")[:20],
        "consent": form.get("consent") == "1",
    }

    def work() -> Response:
        errors = conv.check_start(
            values["matter_code"],
            values["text"],
            values["name"],
            values["phone"],
            values["consent"],
        )
        if errors:
            return _start_page(request, form=values, errors=errors, status=422)
        browser = request.cookies.get(BROWSER_COOKIE) or ""
        with request.app.state.db() as db:
            try:
                started = conv.start_conversation(
                    db, address=address(request), now=datetime.now(), **values
                )
            except conv.PublicRefusal as exc:
                db.rollback()
                if exc.status == 429:
                    return notice(
                        request,
                        "请稍后再试",
                        exc.message,
                        status=429,
                        headers={"Retry-After": str(exc.retry_after or 60)},
                    )
                return _start_page(
                    request, form=values, errors={"all": exc.message}, status=exc.status
                )
            # Bind the token to this browser's cookie (the form proved it has one).
            token_row = db.get(m.CallerToken, conv.digest(started.token))
            assert token_row is not None
            token_row.cookie_hash = conv.digest(browser)
            db.commit()
        return RedirectResponse(f"/c/{started.token}", status_code=303)

    return await run_in_threadpool(work)


@router.get("/c/mode")
def mode(
    request: Request, back: str = "/c", large: int | None = None, contrast: int | None = None
) -> Response:
    """Switch large type or high contrast (a cookie remembers it) and go back."""
    now_large, now_contrast = modes(request)
    if large is not None:
        now_large = bool(large)
    if contrast is not None:
        now_contrast = bool(contrast)
    target = back if re.fullmatch(r"/(c|r|j)(/[A-Za-z0-9_-]{1,64})?", back or "") else "/c"
    response = RedirectResponse(target, status_code=303)
    value = ",".join(x for x, on in (("large", now_large), ("contrast", now_contrast)) if on)
    response.set_cookie(
        MODE_COOKIE,
        value or "normal",
        max_age=365 * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


# -- the conversation page ----------------------------------------------------------------


def _conversation_page(
    request: Request, token: str, *, error: str = "", status: int = 200
) -> Response:
    with request.app.state.db() as db:
        session = conv.conversation(
            db, token, request.cookies.get(BROWSER_COOKIE), now=datetime.now()
        )
        if session is None:
            return not_found(request)
        view = conv.caller_view(db, session)
        if conv.mark_read(db, session, upto=view["last"], now=datetime.now()):
            db.commit()
        guide = db.get(m.MatterGuide, session.matter_code) if session.matter_code else None
    page = f"/c/{token}"
    return render(
        request,
        "chat_conversation.html",
        title="线上咨询",
        view=view,
        page=page,
        api=f"/api/v1/public/conversations/{token}/messages",
        matter_name=guide.name if guide else "",
        message_max=MESSAGE_MAX_LEN,
        comment_max=conv.COMMENT_MAX_LEN,
        levels=LEVELS,
        rate_action=f"{page}/rate",
        error=error,
        status=status,
        script=not view["closed"],
    )


@router.get("/c/{token}")
async def conversation_page(token: str, request: Request) -> Response:
    return await run_in_threadpool(_conversation_page, request, token)


def _send(request: Request, token: str, text: str, image: bytes | None) -> Response:
    with request.app.state.db() as db:
        session = conv.conversation(
            db, token, request.cookies.get(BROWSER_COOKIE), now=datetime.now()
        )
        if session is None:
            return not_found(request)
        try:
            conv.caller_message(
                db, session, text=text, address=address(request), now=datetime.now(), image=image
            )
        except conv.PublicRefusal as exc:
            db.rollback()
            return _conversation_page(request, token, error=exc.message, status=exc.status)
        db.commit()
    return RedirectResponse(f"/c/{token}", status_code=303)


@router.post("/c/{token}/send")
async def send_text(token: str, request: Request) -> Response:
    form = await read_form(request)
    if not csrf_ok(request, form.get("csrf", "")) or not same_origin(request):
        return refused(request, f"/c/{token}")
    return await run_in_threadpool(_send, request, token, form.get("text", ""), None)


@router.post("/c/{token}/photo")
async def send_photo(token: str, request: Request) -> Response:
    limit = int(getattr(request.app.state.settings, "chat_image_max_bytes", 3 * 1024 * 1024))
    problem, status, data = "", 200, b""
    try:
        async with request.form(max_files=1, max_fields=4) as form:
            sent = form.get("csrf")
            if not isinstance(sent, str) or not csrf_ok(request, sent) or not same_origin(request):
                return refused(request, f"/c/{token}")
            upload = form.get("photo")
            if upload is None or isinstance(upload, str):
                problem, status = "请选择要发送的照片", 422
            else:
                data = await upload.read(limit + 1)
    except Exception:
        problem, status = "照片没有上传成功，请重新选择", 400
    if not problem and len(data) > limit:
        megabytes = limit // (1024 * 1024)
        problem, status = f"照片太大（最大 {megabytes} MB），请截图或压缩后再发送", 413
    if problem:
        return await run_in_threadpool(
            lambda: _conversation_page(request, token, error=problem, status=status)
        )
    return await run_in_threadpool(_send, request, token, "", data)


@router.get("/c/{token}/notice/{message_id}")
def caller_notice(token: str, message_id: str, request: Request) -> Response:
    """A 一次性告知 staff sent in the conversation, as a page to print or save."""
    with request.app.state.db() as db:
        session = conv.conversation(
            db, token, request.cookies.get(BROWSER_COOKIE), now=datetime.now()
        )
        message = db.scalar(select(m.Message).where(m.Message.id == message_id[:64]))
        if (
            session is None
            or message is None
            or message.session_id != session.id
            or message.kind != "notice"
        ):
            return not_found(request)
        guide = db.get(m.MatterGuide, session.matter_code) if session.matter_code else None
        lines = message.text.splitlines()
        helper = message.author_name or "工作人员"
        at = f"{message.created_at:%Y-%m-%d %H:%M}"
        matter_name = guide.name if guide else ""
    return render(
        request,
        "chat_notice.html",
        title="一次性告知",
        script=True,
        lines=lines,
        helper=helper,
        at=at,
        matter_name=matter_name,
        back=f"/c/{token}",
    )


@router.get("/c/{token}/photo/{attachment_id}")
def caller_photo(token: str, attachment_id: str, request: Request) -> Response:
    with request.app.state.db() as db:
        session = conv.conversation(
            db, token, request.cookies.get(BROWSER_COOKIE), now=datetime.now()
        )
        attachment = db.get(m.Attachment, attachment_id[:64])
        if session is None or attachment is None or attachment.session_id != session.id:
            return not_found(request)
        return Response(
            attachment.data,
            media_type=attachment.content_type,
            headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )


def _rate(request: Request, session: m.Session | None, form: dict[str, str]) -> str | None:
    """Record the caller's rating; None when kept, else the Chinese reason."""
    try:
        score = int(form.get("score", "0"))
    except ValueError:
        score = 0
    comment = form.get("comment", "").strip()
    if len(comment) > conv.COMMENT_MAX_LEN:
        return f"意见最多 {conv.COMMENT_MAX_LEN} 字"
    with request.app.state.db() as db:
        if session is None:
            return ""
        session = db.get(m.Session, session.id)
        assert session is not None
        try:
            record_caller_evaluation(
                db, session, score=score, comment=comment, via="page", now=datetime.now()
            )
            db.commit()
        except EvaluationRefused as exc:
            db.rollback()
            return exc.message
        except IntegrityError:
            db.rollback()
            return "这次服务已经评价过了，每次服务只能评价一次"
    return None


@router.post("/c/{token}/rate")
async def rate_conversation(token: str, request: Request) -> Response:
    form = await read_form(request)
    if not csrf_ok(request, form.get("csrf", "")) or not same_origin(request):
        return refused(request, f"/c/{token}")

    def work() -> Response:
        with request.app.state.db() as db:
            session = conv.conversation(
                db, token, request.cookies.get(BROWSER_COOKIE), now=datetime.now()
            )
        if session is None:
            return not_found(request)
        problem = _rate(request, session, form)
        if problem:
            return _conversation_page(request, token, error=problem, status=409)
        return RedirectResponse(f"/c/{token}", status_code=303)

    return await run_in_threadpool(work)


# -- the rating link ----------------------------------------------------------------------


def _rating_page(request: Request, token: str, *, error: str = "", status: int = 200) -> Response:
    with request.app.state.db() as db:
        session = conv.rating_session(db, token, now=datetime.now())
        if session is None:
            return not_found(request)
        view = conv.caller_view(db, session, after=2**31 - 1)
        guide = db.get(m.MatterGuide, session.matter_code) if session.matter_code else None
        helper = None
        if session.assignee_id is not None:
            user = db.get(m.User, session.assignee_id)
            if user is not None:
                helper = {"name": user.display_name, "staff_number": user.staff_number}
    return render(
        request,
        "rate.html",
        title="服务评价",
        helper=helper,
        matter_name=guide.name if guide else "",
        rated=view["rated"],
        closed=view["closed"],
        levels=LEVELS,
        comment_max=conv.COMMENT_MAX_LEN,
        rate_action=f"/r/{token}",
        error=error,
        status=status,
    )


@router.get("/r/{token}")
async def rating_page(token: str, request: Request) -> Response:
    return await run_in_threadpool(_rating_page, request, token)


@router.post("/r/{token}")
async def rating_post(token: str, request: Request) -> Response:
    form = await read_form(request)
    if not csrf_ok(request, form.get("csrf", "")) or not same_origin(request):
        return refused(request, f"/r/{token}")

    def work() -> Response:
        with request.app.state.db() as db:
            session = conv.rating_session(db, token, now=datetime.now())
        if session is None:
            return not_found(request)
        problem = _rate(request, session, form)
        if problem:
            return _rating_page(request, token, error=problem, status=409)
        return RedirectResponse(f"/r/{token}", status_code=303)

    return await run_in_threadpool(work)
