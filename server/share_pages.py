"""The caller's join pages (``/j`` and ``/j/<code>``), DESIGN.md §6.

Plain HTML in Chinese, made for a phone browser: no JavaScript, no external assets,
one inline style sheet (allowed by its hash in the Content-Security-Policy). The
caller types or follows a join code, sees who is helping them and the check phrase,
and agrees with one button; only then are they sent on to the provider's room.

The consent form is protected by a double-submit token: the page sets a random
cookie and repeats it in a hidden field, and the POST must carry both (a page on
another site can neither read nor set the cookie). A POST whose ``Origin`` names
another site is refused as well. Wrong codes are rate-limited per client address.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import re
import secrets
from functools import cache, lru_cache
from string import Template
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from core.resources import resource_path
from server import models as m
from server.config import ServerSettings
from server.services import share
from server.services import share_providers as providers

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

TEMPLATES = resource_path("join")
COOKIE = "bangban_join"
COOKIE_MAX_AGE = 4 * 3600
MAX_FORM_BYTES = 4096
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")


# -- rendering ---------------------------------------------------------------------------


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / f"{name}.html").read_text("utf-8"))


@lru_cache(maxsize=1)
def _style() -> tuple[str, str]:
    """The style sheet and its CSP hash source."""
    css = (TEMPLATES / "style.css").read_text("utf-8")
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    return css, f"'sha256-{digest}'"


def _fill(name: str, **values: Any) -> str:
    """Fill a template; values are escaped unless their key ends in ``_html``."""
    safe = {
        k: (str(v) if k.endswith("_html") else html.escape(str(v), quote=True))
        for k, v in values.items()
    }
    return _template(name).substitute(safe)


def _page(
    title: str,
    content_html: str,
    *,
    status: int = 200,
    form_targets: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    css, css_hash = _style()
    body = _template("layout").substitute(
        title=html.escape(title), style=css, content_html=content_html
    )
    policy = (
        "default-src 'none'; "
        f"style-src {css_hash}; "
        "img-src 'self' data:; "
        f"form-action 'self'{(' ' + form_targets) if form_targets else ''}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response = HTMLResponse(body, status_code=status)
    response.headers.update(
        {
            "Content-Security-Policy": policy,
            "Cache-Control": "no-store",
            # The join code is in the address: never hand it to the provider as a referrer.
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
        }
    )
    if headers:
        response.headers.update(headers)
    return response


def _notice(
    title: str,
    heading: str,
    message: str,
    *,
    status: int,
    mark: str = "!",
    mark_class: str = "",
    bad: bool = False,
    action_html: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    content = _fill(
        "notice",
        tone="bad" if bad else "",
        mark=mark,
        mark_class=mark_class,
        heading=heading,
        message=message,
        action_html=action_html,
    )
    return _page(title, content, status=status, headers=headers)


RETYPE_HTML = '<a class="button" href="/j">重新输入共享码</a>'


def unknown_page() -> HTMLResponse:
    return _notice(
        "共享码无效",
        "共享码无效",
        "没有找到这个共享码。请核对工作人员告诉您的数字后重新输入。",
        status=404,
        mark="?",
        action_html=RETYPE_HTML,
    )


def expired_page() -> HTMLResponse:
    return _notice(
        "共享码已过期",
        "共享码已过期",
        "这个屏幕共享已经过了有效时间，不能再进入。如仍需帮助，请联系工作人员重新发起。",
        status=410,
        mark="",
        mark_class="clock",
    )


def revoked_page() -> HTMLResponse:
    return _notice(
        "共享已撤销",
        "共享已被工作人员撤销",
        "这个屏幕共享已经结束，不能再进入。如仍需帮助，请联系工作人员重新发起。",
        status=410,
        mark="×",
    )


def limited_page() -> HTMLResponse:
    minutes = int(share.WRONG_CODE_WINDOW.total_seconds() // 60)
    return _notice(
        "尝试次数过多",
        "尝试次数过多",
        f"输入错误的共享码次数太多，为保护群众安全，请 {minutes} 分钟后再试，"
        "或请工作人员把链接发到您的手机上。",
        status=429,
        bad=True,
        headers={"Retry-After": str(int(share.WRONG_CODE_WINDOW.total_seconds()))},
    )


def refused_page(code: str) -> HTMLResponse:
    return _notice(
        "页面已失效",
        "页面已失效，请重新打开",
        "为了您的安全，这次提交没有被接受（页面过期、被其他网站转发，或浏览器禁用了 Cookie）。"
        "请重新打开工作人员发给您的链接再试。",
        status=403,
        bad=True,
        action_html=f'<a class="button" href="/j/{html.escape(code)}">重新打开</a>',
    )


def unavailable_page() -> HTMLResponse:
    return _notice(
        "服务暂不可用",
        "屏幕共享服务暂不可用",
        "服务器的屏幕共享设置有误，暂时无法进入房间。请告知工作人员。",
        status=503,
        bad=True,
    )


# -- requests ------------------------------------------------------------------------------


def _address(request: Request) -> str:
    # Behind a reverse proxy uvicorn has already replaced this with the forwarded address
    # (--forwarded-allow-ips); rate limits then count callers, not the proxy.
    return request.client.host if request.client else "unknown"


def _browser(request: Request) -> str:
    return (request.headers.get("user-agent") or "")[:300]


def _same_origin(request: Request, settings: ServerSettings) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True  # nothing to compare; the double-submit token decides
    own = {f"{request.url.scheme}://{request.url.netloc}"}
    if settings.public_base_url:
        parts = urlsplit(settings.public_base_url)
        own.add(f"{parts.scheme}://{parts.netloc}")
    return origin.rstrip("/") in own


def _form_token(request: Request) -> str:
    """This browser's form token: the one it already has (two tabs keep working), or a
    new one when it has none or sends something that we never made."""
    token = request.cookies.get(COOKIE) or ""
    if TOKEN_SHAPE.fullmatch(token):
        return token
    return secrets.token_urlsafe(24)


def _set_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/j",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


# -- routes ----------------------------------------------------------------------------------


@router.get("/j")
def enter_code(request: Request, code: str | None = None) -> Response:
    """The page where the caller types the code; its form comes back here with ``code``."""
    if code is None:
        return _page("输入共享码", _fill("enter", error_html="", typed=""))
    normalized = share.normalize_code(code)
    if not normalized:
        error = '<p class="error">共享码应为 6 到 8 位数字，请核对后重新输入。</p>'
        return _page("输入共享码", _fill("enter", error_html=error, typed=code[:16]), status=400)
    return RedirectResponse(f"/j/{normalized}", status_code=303)


@router.get("/j/{raw_code}")
def show_link(raw_code: str, request: Request) -> Response:
    """The join page of one code: who is helping, the check phrase, the consent button."""
    settings: ServerSettings = request.app.state.settings
    address, browser = _address(request), _browser(request)
    token = _form_token(request)
    with request.app.state.db() as db:
        found = _resolve(db, raw_code, address)
        if isinstance(found, Response):
            db.commit()
            return found
        link = found
        if share.expire_if_due(db, link):
            db.commit()
            request.app.state.events.notify()
            return expired_page()
        changed = share.mark_opened(db, link, address=address, browser=browser)
        content = _link_content(db, link, token)
        db.commit()
        if changed:
            request.app.state.events.notify()
    response = _page(
        "确认工作人员",
        content,
        form_targets=providers.provider_origin(settings, link.provider),
    )
    _set_cookie(response, request, token)
    return response


def _resolve(db: Any, raw_code: str, address: str) -> Response | m.ShareLink:
    """The live link behind a code, or the page that says why there is none.
    Wrong codes count against the address; a blocked address gets nothing."""
    if share.is_blocked(db, address):
        return limited_page()
    code = share.normalize_code(raw_code)
    link = share.find_by_code(db, code) if code else None
    share.note_attempt(db, address, ok=link is not None)
    if link is None:
        return unknown_page()
    if link.state == share.REVOKED:
        return revoked_page()
    if link.state == share.EXPIRED:
        return expired_page()
    return link


def _link_content(db: Any, link: m.ShareLink, token: str) -> str:
    helper = share.helper_of(db, link)
    session = db.get(m.Session, link.session_id)
    matter = db.get(m.MatterGuide, session.matter_code) if session and session.matter_code else None
    if matter is not None:
        purpose = f"工作人员看着您的屏幕，指导您在网上办理“{matter.name}”。"
    else:
        purpose = "工作人员看着您的屏幕，一步步指导您在网上办理业务。"
    words = "".join(f"<span>{html.escape(w)}</span>" for w in link.check_phrase.split())
    again = link.state == share.CONSENTED
    notice = (
        '<p class="note">您已同意过共享。如果刚才退出了房间，可以再次进入。</p>' if again else ""
    )
    return _fill(
        "link",
        code=link.code,
        expires_at=f"{link.expires_at:%H:%M}",
        helper_name=helper.name or "（未登记）",
        helper_number=helper.staff_number or "（未登记）",
        helper_office=" ".join(x for x in (helper.office, helper.team) if x) or "（未登记）",
        words_html=words,
        purpose=purpose,
        notice_html=notice,
        token=token,
        button="再次进入共享房间" if again else "暗语一致，同意共享屏幕",
    )


@router.post("/j/{raw_code}")
async def consent(raw_code: str, request: Request) -> Response:
    """The caller agreed: record it in the timeline and send them to the room."""
    body = await request.body()
    form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    sent = (form.get("token") or [""])[0]
    return await run_in_threadpool(_consent, raw_code, request, sent)


def _consent(raw_code: str, request: Request, sent_token: str) -> Response:
    settings: ServerSettings = request.app.state.settings
    address, browser = _address(request), _browser(request)
    cookie = request.cookies.get(COOKIE) or ""
    with request.app.state.db() as db:
        found = _resolve(db, raw_code, address)
        if isinstance(found, Response):
            db.commit()
            return found
        link = found
        token_ok = bool(cookie) and secrets.compare_digest(cookie, sent_token)
        if not token_ok or not _same_origin(request, settings):
            db.commit()
            log.info("join consent refused: bad form token or origin")
            return refused_page(link.code)
        try:
            target = share.caller_room_url(settings, link)
        except providers.ProviderNotConfigured:
            db.commit()
            log.error("join consent: the share provider is not configured")
            return unavailable_page()
        helper = share.helper_of(db, link)
        agreed = (
            f"同意向工作人员{helper.name}（工号{helper.staff_number or '未登记'}）"
            "共享屏幕画面，用于远程帮办"
        )
        if not share.record_consent(db, link, address=address, browser=browser, agreed=agreed):
            db.commit()
            request.app.state.events.notify()
            return revoked_page() if link.state == share.REVOKED else expired_page()
        db.commit()
    request.app.state.events.notify()
    response = RedirectResponse(target, status_code=303)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
