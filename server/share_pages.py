"""The caller's join pages (``/j`` and ``/j/<code>``), DESIGN.md §6.

Plain HTML in Chinese, made for a phone browser: no JavaScript, no external assets,
one inline style sheet (allowed by its hash in the Content-Security-Policy). The
caller types or follows a join code, sees who is helping them and the check phrase,
and agrees with one button; only then are they sent on to the provider's room.

The consent form is protected by a double-submit token: the page sets a random
cookie and repeats it in a hidden field, and the POST must carry both (a page on
another site can neither read nor set the cookie). A POST whose ``Origin`` names
another site is refused as well.

Guessing codes (``share.join_gate``): an unknown, expired or revoked code gets the same
page and counts as a wrong guess; an address past its free wrong guesses has every
answer held a little (the right code still gets in); past the hourly cap across all
addresses no code is checked. "Opened" is marked only when a person's browser comes
from our own code form (``Sec-Fetch-Site: same-origin``) or agrees: a link-preview bot
fetching the SMS link marks nothing.

Phones and tablets (:func:`device_of`, from the User-Agent) cannot share their screen
from a browser (no ``getDisplayMedia``; jitsi-meet issue #14336). Their consent page says
so and names the Jitsi Meet app; after consent they get a page with a button that opens
the room in the app and a link into the web room (a video call only), where a computer
is sent straight into the room. Both answers come from the same checked consent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from core.enums import Channel
from core.share_link import group_code
from server import models as m
from server.config import ServerSettings
from server.pages import render_page
from server.services import share
from server.services import share_providers as providers

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

COOKIE = "bangban_join"
COOKIE_MAX_AGE = 4 * 3600
MAX_FORM_BYTES = 4096
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")
TABLET = "tablet"
"""The ``device`` value of the tablet link and form field (:func:`device_of`'s ``touch``)."""


# -- the caller's device -------------------------------------------------------------------

COMPUTER = "computer"
ANDROID = "android"
IOS = "ios"
OTHER_PHONE = "phone"
"""A phone or tablet that is neither Android nor Apple (HarmonyOS NEXT, KaiOS, …)."""

STORES = {
    ANDROID: "在应用商店搜索“Jitsi Meet”（安卓应用的包名是 org.jitsi.meet）",
    IOS: "在 App Store 搜索“Jitsi Meet”",
    OTHER_PHONE: "安卓设备在应用商店、苹果设备在 App Store 搜索“Jitsi Meet”",
}
"""Where the caller finds the Jitsi Meet app (its official ids)."""

_HARMONY = re.compile(r"HarmonyOS|OpenHarmony")
_APPLE_MOBILE = re.compile(r"iPhone|iPad|iPod")
_MOBILE = re.compile(r"\bMobile\b")


def device_of(user_agent: str, *, touch: bool = False) -> str:
    """What a browser runs on, from its User-Agent: :data:`COMPUTER`, or a phone or
    tablet (:data:`ANDROID`, :data:`IOS`, :data:`OTHER_PHONE`), whose browser cannot
    share the screen.

    HarmonyOS 2–4 says "Android" too and runs Android apps, so it counts as Android;
    HarmonyOS NEXT does not. Some tablets cannot be seen: iPadOS Safari sends a Mac's
    User-Agent ("Macintosh") by default, and Android's "desktop site" a Linux one.
    ``touch`` says the person has told us that the device has a touch screen (the tablet
    link on the join page, shown to coarse pointers only); then a "Macintosh" is an iPad
    (Macs have no touch screen) and a Linux that is not ChromeOS is Android. Windows and
    ChromeOS stay computers: their browsers can share the screen, touch or not.
    """
    ua = user_agent or ""
    if "Android" in ua:
        return ANDROID
    if _APPLE_MOBILE.search(ua):
        return IOS
    if _HARMONY.search(ua) or _MOBILE.search(ua):
        return OTHER_PHONE
    if touch and "Macintosh" in ua:
        return IOS
    if touch and "Linux" in ua and "CrOS" not in ua:
        return ANDROID
    return COMPUTER


# -- rendering (``server/pages.py``, templates ``resources/templates/join_*.html``) -------


def _page(
    request: Request | None,
    name: str,
    title: str,
    *,
    status: int = 200,
    form_targets: str = "",
    headers: dict[str, str] | None = None,
    show_modes: bool = False,
    **values: Any,
) -> HTMLResponse:
    return render_page(
        request,
        name,
        title=title,
        brand="政务服务 · 远程帮办",
        brand_short="远程帮办",
        subtitle="工作人员经您同意后，看着您的屏幕指导办事",
        status=status,
        form_targets=form_targets,
        headers=headers,
        show_modes=show_modes and request is not None,
        **values,
    )


def _notice(
    request: Request | None,
    title: str,
    heading: str,
    message: str,
    *,
    status: int,
    mark: str = "!",
    mark_class: str = "",
    bad: bool = False,
    action: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page that ends the way: no form, at most one link (a dead end on purpose)."""
    return _page(
        request,
        "notice.html",
        title,
        status=status,
        headers=headers,
        tone="bad" if bad else "",
        mark=mark,
        mark_class=mark_class,
        heading=heading,
        message=message,
        action_href=action[0] if action else "",
        action_label=action[1] if action else "",
    )


RETYPE = ("/j", "重新输入共享码")


def unusable_page(request: Request | None = None) -> HTMLResponse:
    """One page for an unknown, an expired and a revoked code alike: the answer must not
    tell a guesser which codes were ever given out."""
    return _notice(
        request,
        "共享码无效或已结束",
        "共享码无效或已结束",
        "这个共享码现在不能使用：可能是数字有误，也可能这次屏幕共享已经结束。"
        "请核对工作人员告诉您的数字；如仍需帮助，请联系工作人员重新发起。",
        status=404,
        mark="?",
        action=RETYPE,
    )


def ended_page(request: Request | None = None) -> HTMLResponse:
    """For the browser that was shown this link while it was live (it proves so with the
    form's ``seen`` mark): the link is over, in plain words."""
    return _notice(
        request,
        "屏幕共享已结束",
        "这次屏幕共享已经结束",
        "工作人员一方已经结束了这次屏幕共享（会话已办结或转交他人，或已过有效时间），"
        "不能再进入。如仍需帮助，请联系工作人员重新发起。",
        status=410,
        mark="×",
    )


def limited_page(retry_after: int, request: Request | None = None) -> HTMLResponse:
    return _notice(
        request,
        "尝试次数过多",
        "尝试次数过多",
        f"从您的网络输入错误共享码的次数太多，请 {retry_after} 秒后再试，"
        "或请工作人员把链接发到您的手机上。",
        status=429,
        bad=True,
        headers={"Retry-After": str(retry_after)},
    )


def busy_page(retry_after: int, request: Request | None = None) -> HTMLResponse:
    minutes = max(1, retry_after // 60)
    return _notice(
        request,
        "暂时无法验证",
        "暂时无法验证共享码",
        f"近期输入错误共享码的请求过多，为保护群众安全，暂停验证。请 {minutes} 分钟后再试。",
        status=429,
        bad=True,
        headers={"Retry-After": str(retry_after)},
    )


def refused_page(code: str, request: Request | None = None) -> HTMLResponse:
    return _notice(
        request,
        "页面已失效",
        "页面已失效，请重新打开",
        "为了您的安全，这次提交没有被接受（页面过期、被其他网站转发，或浏览器禁用了 Cookie）。"
        "请重新打开工作人员发给您的链接再试。",
        status=403,
        bad=True,
        action=(f"/j/{code}", "重新打开"),
    )


def unavailable_page(request: Request | None = None) -> HTMLResponse:
    return _notice(
        request,
        "服务暂不可用",
        "屏幕共享服务暂不可用",
        "服务器的屏幕共享设置有误，暂时无法进入房间。请告知工作人员。",
        status=503,
        bad=True,
    )


# -- requests ------------------------------------------------------------------------------


def _address(request: Request) -> str:
    # server.limits has already named the caller (X-Forwarded-For only from a trusted
    # proxy, BANGBAN_TRUSTED_PROXIES): limits count callers, not the proxy.
    return request.client.host if request.client else "unknown"


def _browser(request: Request) -> str:
    return (request.headers.get("user-agent") or "")[:300]


def _seen_mark(token: str, link: m.ShareLink) -> str:
    """What the join page puts in its form: proof that this browser (its form token) was
    shown this link while it was live. The room name is never shown to the caller, so
    nobody who has not seen the page can make the mark."""
    return hashlib.sha256(f"{token}:{link.room}".encode()).hexdigest()[:32]


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
        return _page(request, "join_enter.html", "输入共享码", error="", typed="", show_modes=True)
    normalized = share.normalize_code(code)
    if not normalized:
        low, high = share.ACCEPTED_DIGITS
        error = f"共享码应为 {low} 到 {high} 位数字，请核对后重新输入。"
        return _page(
            request,
            "join_enter.html",
            "输入共享码",
            status=400,
            error=error,
            typed=code[:16],
            show_modes=True,
        )
    return RedirectResponse(f"/j/{normalized}", status_code=303)


async def _guarded(request: Request, work: Callable[[], Response]) -> Response:
    """Run ``work`` (which checks a code) within the limits of ``share.join_gate``: closed
    to everyone past the hourly cap; held a while for an address that guessed wrong."""
    address = _address(request)

    def gate() -> share.Gate:
        with request.app.state.db() as db:
            return share.join_gate(db, address)

    found = await run_in_threadpool(gate)
    if found.closed:
        return busy_page(found.retry_after, request)
    if found.hold_seconds > 0:
        factory = request.app.state.db
        slot = await run_in_threadpool(share.take_hold, factory, address, found.hold_seconds)
        if slot is None:
            return limited_page(found.retry_after, request)
        try:
            await asyncio.sleep(found.hold_seconds)
        finally:
            await run_in_threadpool(share.release_hold, factory, address, slot)
    return await run_in_threadpool(work)


@router.get("/j/{raw_code}")
async def show_link(raw_code: str, request: Request) -> Response:
    """The join page of one code: who is helping, the check phrase, the consent button."""
    return await _guarded(request, lambda: _show(raw_code, request))


def _show(raw_code: str, request: Request) -> Response:
    settings: ServerSettings = request.app.state.settings
    address, browser = _address(request), _browser(request)
    token = _form_token(request)
    tablet = request.query_params.get("device") == TABLET
    # A person's browser coming from our own code form says so; a link-preview bot
    # fetching the SMS link does not, and must not mark the link opened.
    from_our_form = request.headers.get("sec-fetch-site") == "same-origin"
    with request.app.state.db() as db:
        link = share.usable_link(db, share.normalize_code(raw_code))
        share.note_attempt(db, address, ok=link is not None)
        if link is None:
            db.commit()
            request.app.state.events.notify()  # a lazy expiry may have been written
            return unusable_page(request)
        changed = from_our_form and share.mark_opened(db, link, address=address, browser=browser)
        content = _link_content(db, link, token, browser, tablet=tablet)
        db.commit()
        if changed:
            request.app.state.events.notify()
    response = _page(
        request,
        "join_link.html",
        "确认工作人员",
        form_targets=providers.provider_origin(settings, link.provider),
        show_modes=True,
        **content,
    )
    _set_cookie(response, request, token)
    return response


def _device_content(
    session: m.Session | None, link: m.ShareLink, browser: str, *, tablet: bool
) -> dict[str, Any]:
    """What the consent page and the page after it say about the caller's device."""
    device = device_of(browser, touch=tablet)
    # Android tablets do not say "Mobile"; an iPad in desktop mode came by the tablet link.
    is_tablet = tablet or "iPad" in browser or (device == ANDROID and "Mobile" not in browser)
    word = "平板" if is_tablet else "手机"
    has_chat = session is not None and session.channel == Channel.WEB_CHAT.value
    return dict(
        phone=device != COMPUTER,
        platform=device,
        tablet=tablet,
        # Offered only where it can change the answer, and shown to touch screens only.
        tablet_hint=device == COMPUTER and device_of(browser, touch=True) != COMPUTER,
        jitsi=link.provider == providers.JITSI,
        device_word=word,
        store=STORES.get(device, STORES[OTHER_PHONE]),
        fallback=(
            f"把{word}屏幕的截图发到您和工作人员的在线咨询对话里，"
            "或者在电话里向工作人员描述您看到的内容。"
            if has_chat
            else "在电话里向工作人员描述您看到的内容。"
        ),
        in_wechat="MicroMessenger" in browser,
        has_chat=has_chat,
    )


def _link_content(
    db: Any, link: m.ShareLink, token: str, browser: str, *, tablet: bool
) -> dict[str, Any]:
    helper = share.helper_of(db, link)
    session = db.get(m.Session, link.session_id)
    matter = db.get(m.MatterGuide, session.matter_code) if session and session.matter_code else None
    if matter is not None:
        purpose = f"工作人员看着您的屏幕，指导您在网上办理“{matter.name}”。"
    else:
        purpose = "工作人员看着您的屏幕，一步步指导您在网上办理业务。"
    again = link.state == share.CONSENTED
    return dict(
        code=link.code,
        code_spoken=group_code(link.code),
        expires_at=f"{link.expires_at:%H:%M}",
        helper_name=helper.name or "（未登记）",
        helper_number=helper.staff_number or "（未登记）",
        helper_office=" ".join(x for x in (helper.office, helper.team) if x) or "（未登记）",
        words=link.check_phrase.split(),
        purpose=purpose,
        again=again,
        token=token,
        seen=_seen_mark(token, link),
        button="再次进入共享房间" if again else "暗语一致，同意共享屏幕",
        **_device_content(session, link, browser, tablet=tablet),
    )


@router.post("/j/{raw_code}")
async def consent(raw_code: str, request: Request) -> Response:
    """The caller agreed: record it in the timeline and send them to the room."""
    body = await request.body()  # at most a few KB: server.limits refuses more
    form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    sent = (form.get("token") or [""])[0]
    seen = (form.get("seen") or [""])[0]
    tablet = (form.get("device") or [""])[0] == TABLET
    return await _guarded(request, lambda: _consent(raw_code, request, sent, seen, tablet))


def _consent(raw_code: str, request: Request, sent_token: str, seen: str, tablet: bool) -> Response:
    settings: ServerSettings = request.app.state.settings
    address, browser = _address(request), _browser(request)
    cookie = request.cookies.get(COOKIE) or ""
    token_ok = bool(cookie) and secrets.compare_digest(cookie, sent_token)
    with request.app.state.db() as db:
        code = share.normalize_code(raw_code)
        link = share.usable_link(db, code)
        if link is None:
            # The browser that was shown this link while it was live hears that it has
            # ended; anyone else hears what an unknown code gets.
            ended = share.find_by_code(db, code) if code and token_ok else None
            saw_it = ended is not None and secrets.compare_digest(
                _seen_mark(cookie, ended), seen[:32]
            )
            share.note_attempt(db, address, ok=saw_it)
            db.commit()
            request.app.state.events.notify()
            return ended_page(request) if saw_it else unusable_page(request)
        share.note_attempt(db, address, ok=True)
        if not token_ok or not _same_origin(request, settings):
            db.commit()
            log.info("join consent refused: bad form token or origin")
            return refused_page(link.code, request)
        try:
            target = share.caller_room_url(settings, link)
        except providers.ProviderNotConfigured:
            db.commit()
            log.error("join consent: the share provider is not configured")
            return unavailable_page(request)
        helper = share.helper_of(db, link)
        agreed = (
            f"同意向工作人员{helper.name}（工号{helper.staff_number or '未登记'}）"
            "共享屏幕画面，用于远程帮办"
        )
        share.mark_opened(db, link, address=address, browser=browser)
        if not share.record_consent(db, link, address=address, browser=browser, agreed=agreed):
            db.commit()
            request.app.state.events.notify()
            return ended_page(request)
        device = _device_content(db.get(m.Session, link.session_id), link, browser, tablet=tablet)
        # A phone cannot share from the web room: it gets a page with the app first.
        on_phone = _open_in_app_page(request, link, target, device) if device["phone"] else None
        db.commit()
    request.app.state.events.notify()
    if on_phone is not None:
        return on_phone
    response = RedirectResponse(target, status_code=303)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _open_in_app_page(
    request: Request, link: m.ShareLink, target: str, device: dict[str, Any]
) -> HTMLResponse:
    """After consent on a phone: the room in the Jitsi Meet app (which can share the
    screen) first, the web room (a video call only) second. Both carry the same room and
    token as the redirect a computer gets; the page is not cached and hands on no
    referrer (``render_page``)."""
    app_link = ""
    if device["jitsi"]:
        try:
            app_link = providers.jitsi_app_link(target, android=device["platform"] == ANDROID)
        except ValueError:
            log.error("join consent: the Jitsi room URL is not http(s); no app link")
    return _page(
        request,
        "join_open.html",
        "进入共享房间",
        code_spoken=group_code(link.code),
        expires_at=f"{link.expires_at:%H:%M}",
        app_link=app_link,
        web_url=target,
        **device,
    )
