"""The join page on a phone (DESIGN.md §6): a phone's browser cannot share its screen
(jitsi-meet issue #14336), so the consent page says so and names the Jitsi Meet app, and
after consent the caller gets the room in the app and in the browser instead of a
redirect. A computer keeps the promise and the redirect."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from sqlalchemy import select

from server import models as m
from server.services import share_providers as providers
from server.share_pages import ANDROID, COMPUTER, IOS, OTHER_PHONE, device_of
from sync.client import ApiClient
from tests.share_support import TOKEN_FIELD, session_of
from tests.support import DEMO_PASSWORD, LiveServer

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
MAC_OR_IPAD = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)
DESKTOP_PROMISE = "由您自己选择是否共享<strong>手机或电脑屏幕</strong>"
SECRET = "a-test-secret-of-enough-length-for-hs256"
SEEN_FIELD = re.compile(r'name="seen" value="([^"]+)"')


# -- the rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (IPHONE, IOS),
        ("Mozilla/5.0 (iPad; CPU OS 12_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", IOS),
        ("Mozilla/5.0 (iPod touch; CPU iPhone OS 15_0 like Mac OS X) Mobile/15E148", IOS),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) MicroMessenger/8.0", IOS),
        (PIXEL, ANDROID),
        ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 Chrome/126.0", ANDROID),
        ("Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0", ANDROID),
        # HarmonyOS 2–4 runs Android apps and says so.
        ("Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AL00) Chrome/99.0 Mobile", ANDROID),
        # HarmonyOS NEXT does not.
        (
            "Mozilla/5.0 (Phone; OpenHarmony 5.0; HarmonyOS 5.0) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 ArkWeb/4.1.6.1 Mobile",
            OTHER_PHONE,
        ),
        ("Mozilla/5.0 (Mobile; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5", OTHER_PHONE),
        (WINDOWS, COMPUTER),
        (MAC_OR_IPAD, COMPUTER),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", COMPUTER),
        ("Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) AppleWebKit/537.36 Chrome/126.0", COMPUTER),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) WindowsWechat MicroMessenger/7.0", COMPUTER),
        ("python-requests/2.32", COMPUTER),
        ("", COMPUTER),
    ],
)
def test_the_device_is_told_by_the_user_agent(user_agent: str, device: str) -> None:
    assert device_of(user_agent) == device


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (MAC_OR_IPAD, IOS),  # a Mac has no touch screen: this is an iPad in desktop mode
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0", ANDROID),
        (WINDOWS, COMPUTER),  # a Windows tablet's browser can share the screen
        ("Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) AppleWebKit/537.36 Chrome/126.0", COMPUTER),
        (IPHONE, IOS),
        (PIXEL, ANDROID),
    ],
)
def test_a_touch_screen_reveals_tablets_in_desktop_mode(user_agent: str, device: str) -> None:
    assert device_of(user_agent, touch=True) == device


def test_the_app_link_keeps_host_room_token_and_fragment() -> None:
    room = "https://meet.example.org/Room?jwt=a.b.c#config.defaultLanguage=%22zhCN%22"
    assert (
        providers.jitsi_app_link(room, android=False)
        == "org.jitsi.meet://meet.example.org/Room?jwt=a.b.c#config.defaultLanguage=%22zhCN%22"
    )
    assert providers.jitsi_app_link(room, android=True) == (
        "intent://meet.example.org/Room?jwt=a.b.c#config.defaultLanguage=%22zhCN%22"
        "#Intent;scheme=org.jitsi.meet;package=org.jitsi.meet;end"
    )
    assert providers.jitsi_app_link("http://127.0.0.1:8443/R", android=False) == (
        "org.jitsi.meet://127.0.0.1:8443/R"
    )
    with pytest.raises(ValueError):
        providers.jitsi_app_link("javascript:alert(1)", android=False)


# -- over HTTP ---------------------------------------------------------------------------


@pytest.fixture
def agent(live_server: LiveServer) -> Iterator[ApiClient]:
    api = ApiClient(live_server.url)
    api.login("agent", DEMO_PASSWORD)
    yield api
    api.close()


@pytest.fixture
def signed(live_server: LiveServer) -> LiveServer:
    """Our own Jitsi deployment with token authentication."""
    settings = live_server.app.state.settings
    settings.jitsi_base_url = "https://meet.example.gov.cn"
    settings.jitsi_app_id = "bangban-desk"
    settings.jitsi_app_secret = SECRET
    return live_server


def consent(
    join_url: str,
    user_agent: str,
    *,
    query: str = "",
    extra: dict[str, str] | None = None,
) -> tuple[requests.Response, requests.Response]:
    """Open the join page as ``user_agent`` and press the button, posting what the form
    holds (token, seen mark, device) plus ``extra``; the answer is not followed."""
    headers = {"User-Agent": user_agent}
    with requests.Session() as http:
        page = http.get(join_url + query, headers=headers, timeout=10)
        token, seen = TOKEN_FIELD.search(page.text), SEEN_FIELD.search(page.text)
        assert token and seen, "the join page has a consent form"
        form = {"token": token.group(1), "seen": seen.group(1)}
        if 'name="device" value="tablet"' in page.text:
            form["device"] = "tablet"
        form.update(extra or {})
        answer = http.post(join_url, data=form, headers=headers, allow_redirects=False, timeout=10)
    return page, answer


def link_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}" href="([^"]+)"', page)
    assert found, f"the page has the {element_id} link"
    return html.unescape(found.group(1))


def set_channel(server: LiveServer, session_id: str, channel: str) -> None:
    with server.db() as db:
        db.get(m.Session, session_id).channel = channel
        db.commit()


def kinds(server: LiveServer, session_id: str) -> list[str]:
    with server.db() as db:
        return list(
            db.scalars(
                select(m.SessionEvent.kind)
                .where(m.SessionEvent.session_id == session_id)
                .where(m.SessionEvent.kind.startswith("share_"))
                .order_by(m.SessionEvent.id)
            )
        )


def test_a_phone_is_told_the_truth_and_gets_the_app_and_the_browser(
    signed: LiveServer, agent: ApiClient
) -> None:
    session_id = session_of(signed, "agent")
    set_channel(signed, session_id, "hotline")
    link = agent.post(f"/sessions/{session_id}/share")
    page, answer = consent(link["join_url"], IPHONE)

    assert page.status_code == 200
    assert DESKTOP_PROMISE not in page.text, "a phone's browser cannot share the screen"
    assert "手机的浏览器<strong>只能进入视频通话，不能共享屏幕</strong>" in page.text
    assert "免费的 <strong>Jitsi Meet</strong> 应用（在 App Store 搜索“Jitsi Meet”）" in page.text
    assert "在电话里向工作人员描述您看到的内容" in page.text
    assert "在线咨询" not in page.text, "this session has no conversation to send pictures to"
    assert "device=tablet" not in page.text, "an iPhone says what it is"
    assert "<script" not in page.text

    # No redirect: a page with the room in the app first and in the browser second.
    assert answer.status_code == 200 and "location" not in answer.headers
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert "<form" not in answer.text and "<script" not in answer.text
    web, app = link_of(answer.text, "open-web"), link_of(answer.text, "open-app")
    assert "在 Jitsi Meet 应用中打开</a>" in answer.text
    assert "在浏览器中打开<span>（只能视频通话，不能共享屏幕）</span>" in answer.text
    assert answer.text.index('id="open-app"') < answer.text.index('id="open-web"')
    target = urlsplit(web)
    assert (target.scheme, target.netloc, target.path) == (
        "https",
        "meet.example.gov.cn",
        f"/{link['room']}",
    )
    assert app == "org.jitsi.meet://" + web.removeprefix("https://"), "same room, same token"
    token = parse_qs(urlsplit(app).query)["jwt"][0]
    assert token == parse_qs(target.query)["jwt"][0]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="jitsi")
    assert claims["room"] == link["room"] and claims["context"]["user"]["name"] == "群众"
    # The consent is recorded exactly as for a computer.
    assert kinds(signed, session_id) == ["share_created", "share_opened", "share_consented"]
    assert agent.get(f"/sessions/{session_id}/share")["state"] == "consented"


def test_android_gets_an_intent_link_naming_the_official_app(
    signed: LiveServer, agent: ApiClient
) -> None:
    link = agent.post(f"/sessions/{session_of(signed, 'agent')}/share")
    page, answer = consent(link["join_url"], PIXEL)
    assert DESKTOP_PROMISE not in page.text
    assert "在应用商店搜索“Jitsi Meet”（安卓应用的包名是 org.jitsi.meet）" in page.text
    assert answer.status_code == 200
    web, app = link_of(answer.text, "open-web"), link_of(answer.text, "open-app")
    assert web.startswith(f"https://meet.example.gov.cn/{link['room']}?jwt=")
    assert app == (
        "intent://"
        + web.removeprefix("https://")
        + "#Intent;scheme=org.jitsi.meet;package=org.jitsi.meet;end"
    )
    # The HTML carries the links escaped (autoescaping), not raw.
    assert 'href="intent://' in answer.text and "&amp;userInfo.displayName=" in answer.text


def test_a_computer_keeps_the_promise_and_the_redirect(
    signed: LiveServer, agent: ApiClient
) -> None:
    link = agent.post(f"/sessions/{session_of(signed, 'agent')}/share")
    page, answer = consent(link["join_url"], WINDOWS)
    assert DESKTOP_PROMISE in page.text
    assert "Jitsi Meet" not in page.text and "不能共享屏幕" not in page.text
    assert "device=tablet" not in page.text, "a Windows tablet can share from its browser"
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"https://meet.example.gov.cn/{link['room']}")
    assert "jwt=" in answer.headers["location"]


def test_a_chat_session_offers_screenshots_in_the_conversation(
    live_server: LiveServer, agent: ApiClient
) -> None:
    session_id = session_of(live_server, "agent")
    set_channel(live_server, session_id, "web_chat")
    link = agent.post(f"/sessions/{session_id}/share")
    page, answer = consent(link["join_url"], PIXEL)
    words = "把手机屏幕的截图发到您和工作人员的在线咨询对话里"
    assert words in page.text and words in answer.text
    # No app id configured: the room has no token, and the app link has none either.
    web, app = link_of(answer.text, "open-web"), link_of(answer.text, "open-app")
    assert web.startswith(f"https://meet.jit.si/{link['room']}#") and "jwt=" not in app


def test_an_ipad_in_desktop_mode_can_ask_for_the_tablet_page(
    signed: LiveServer, agent: ApiClient
) -> None:
    link = agent.post(f"/sessions/{session_of(signed, 'agent')}/share")
    code = link["code"]
    # A Mac's User-Agent: the computer page, with a hint that only touch screens show.
    page = requests.get(link["join_url"], headers={"User-Agent": MAC_OR_IPAD}, timeout=10)
    assert DESKTOP_PROMISE in page.text
    assert 'class="note touch-only">' in page.text
    assert f'href="/j/{code}?device=tablet"' in page.text
    tablet, answer = consent(link["join_url"], MAC_OR_IPAD, query="?device=tablet")
    assert DESKTOP_PROMISE not in tablet.text
    assert "平板的浏览器<strong>只能进入视频通话，不能共享屏幕</strong>" in tablet.text
    assert "在 App Store 搜索“Jitsi Meet”" in tablet.text
    assert 'name="device" value="tablet"' in tablet.text
    assert answer.status_code == 200
    assert link_of(answer.text, "open-app").startswith("org.jitsi.meet://meet.example.gov.cn/")
    # Without the form field the same browser is a computer again.
    _page, plain = consent(link["join_url"], MAC_OR_IPAD)
    assert plain.status_code == 303
    # A Windows tablet asking for the tablet page is still a computer.
    _page, windows = consent(link["join_url"], WINDOWS, query="?device=tablet")
    assert DESKTOP_PROMISE in _page.text and windows.status_code == 303


def test_another_provider_on_a_phone_gets_the_browser_only(
    live_server: LiveServer, agent: ApiClient
) -> None:
    settings = live_server.app.state.settings
    settings.share_provider = "template"
    settings.share_url_template = "https://share.example.cn/r/{room}?c={code}"
    link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    page, answer = consent(link["join_url"], IPHONE)
    assert DESKTOP_PROMISE not in page.text and "Jitsi" not in page.text
    assert "只能进入视频通话，不能共享屏幕" in page.text
    assert answer.status_code == 200
    assert 'id="open-app"' not in answer.text and "Jitsi" not in answer.text
    web = urlsplit(link_of(answer.text, "open-web"))
    assert (web.netloc, web.path) == ("share.example.cn", f"/r/{link['room']}")
    assert parse_qs(web.query) == {"c": [link["code"]]}


def test_a_phone_is_refused_and_told_it_ended_exactly_as_a_computer(
    signed: LiveServer, agent: ApiClient
) -> None:
    session_id = session_of(signed, "agent")
    link = agent.post(f"/sessions/{session_id}/share")
    phone = {"User-Agent": PIXEL}
    forged = requests.post(
        link["join_url"], data={"token": "guess"}, headers=phone, allow_redirects=False, timeout=10
    )
    assert forged.status_code == 403 and "页面已失效" in forged.text
    assert "open-app" not in forged.text and "jwt" not in forged.text
    # A made-up device value is neither shown nor trusted.
    _page, odd = consent(link["join_url"], PIXEL, extra={"device": "<b>tablet</b>"})
    assert odd.status_code == 200 and "<b>" not in odd.text and "&lt;b&gt;" not in odd.text
    assert 'id="open-app" href="intent://' in odd.text, "still the Android phone it is"
    with requests.Session() as http:
        page = http.get(link["join_url"], headers=phone, timeout=10)
        form = {
            "token": TOKEN_FIELD.search(page.text).group(1),
            "seen": SEEN_FIELD.search(page.text).group(1),
        }
        other_site = http.post(
            link["join_url"],
            data=form,
            headers={**phone, "Origin": "https://evil.example"},
            allow_redirects=False,
            timeout=10,
        )
        assert other_site.status_code == 403 and "open-app" not in other_site.text
        agent.delete(f"/share/{link['id']}")
        late = http.post(
            link["join_url"], data=form, headers=phone, allow_redirects=False, timeout=10
        )
    assert late.status_code == 410 and "这次屏幕共享已经结束" in late.text
    assert "open-app" not in late.text and "jwt" not in late.text
    assert kinds(signed, session_id) == [
        "share_created",
        "share_opened",
        "share_consented",
        "share_revoked",
    ]
