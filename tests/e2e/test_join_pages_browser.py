"""The caller's join pages in a real headless Chromium (Debian's), on a phone-sized
screen with JavaScript switched off: the core flow must work without it.

A phone's browser cannot share its screen, so after consent a phone gets a page with the
room in the Jitsi Meet app and in the browser; the phone flow with Jitsi leaves its
screenshot in ``/tmp/join_phone.png``. Set ``BANGBAN_SHOTS=<dir>`` to keep a screenshot
of each page.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from sqlalchemy import select

from server import models as m
from sync.client import ApiClient
from tests.share_support import StandInProvider, session_of
from tests.support import DEMO_PASSWORD, LiveServer, start_live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "a-test-secret-of-enough-length-for-hs256"
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(pw: Any) -> Iterator[Any]:
    chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page on a 390×844 phone screen, JavaScript off."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        user_agent=PHONE_UA,
        locale="zh-CN",
        java_script_enabled=False,
    )
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def iphone(pw: Any, browser: Any) -> Iterator[Any]:
    """Playwright's iPhone 13 (its user agent, touch, mobile) at 390×844, JavaScript off."""
    device = dict(pw.devices["iPhone 13"])
    device.pop("default_browser_type", None)
    device["viewport"] = {"width": 390, "height": 844}
    context = browser.new_context(**device, locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def provider() -> Iterator[StandInProvider]:
    with StandInProvider() as stand_in:
        yield stand_in


@pytest.fixture
def server(server_db: str, provider: StandInProvider) -> Iterator[LiveServer]:
    live = start_live_server(
        server_db, share_provider="template", share_url_template=provider.template
    )
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def jitsi_server(server_db: str, provider: StandInProvider) -> Iterator[LiveServer]:
    """Jitsi with token authentication; the stand-in plays the deployment's room pages."""
    live = start_live_server(
        server_db,
        share_provider="jitsi",
        jitsi_base_url=f"{provider.url}/room",
        jitsi_app_id="bangban-desk",
        jitsi_app_secret=SECRET,
    )
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def agent(server: LiveServer) -> Iterator[ApiClient]:
    api = ApiClient(server.url)
    api.login("agent", DEMO_PASSWORD)
    yield api
    api.close()


def shot(page: Any, name: str) -> None:
    target = os.environ.get("BANGBAN_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


def no_way_on(page: Any) -> None:
    """A page that leads nowhere: no form, no button, no link to anywhere but /j."""
    assert page.locator("form").count() == 0
    assert page.locator("button").count() == 0
    hrefs = page.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert all(h == "/j" for h in hrefs)


def test_type_the_code_check_the_helper_consent_and_arrive_in_the_room(
    phone: Any, server: LiveServer, agent: ApiClient, provider: StandInProvider
) -> None:
    session_id = session_of(server, "agent")
    link = agent.post(f"/sessions/{session_id}/share")
    code, words = link["code"], link["check_phrase"].split()

    phone.goto(f"{server.url}/j")
    assert phone.title().startswith("输入共享码")
    shot(phone, "join-enter")
    field = phone.get_by_label("请输入工作人员在电话中告诉您的数字共享码")
    field.fill(f"{code[:3]} {code[3:]}")  # people type it as it was read out
    phone.get_by_role("button", name="下一步").click()
    phone.wait_for_url(f"{server.url}/j/{code}")

    body = phone.locator("main")
    for text in ("李晓雯", "JN-0107", "江宁市政务服务中心", *words):
        assert text in body.inner_text()
    assert "不会索要验证码、银行卡密码，不会要求转账" in body.inner_text()
    assert "将共享什么，为什么" in body.inner_text()
    phrase = phone.locator(".phrase .words span").all_inner_texts()
    assert phrase == words
    # The inline style sheet is allowed by its hash: the page is styled, not bare.
    button = phone.get_by_role("button", name="暗语一致，同意共享屏幕")
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(13, 71, 161)"
    assert button.bounding_box()["width"] > 300, "a full-width button on a phone"
    shot(phone, "join-link")
    with server.db() as db:
        # A person's browser came from our own form (Sec-Fetch-Site: same-origin).
        assert db.get(m.ShareLink, link["id"]).state == "opened"

    button.click()
    # A phone's browser cannot share the screen: the page says so before it goes on.
    # This provider is not Jitsi, so there is no app to offer.
    assert phone.locator("h1").inner_text() == "已同意，请进入房间"
    assert "只能视频通话，不能共享屏幕" in body.inner_text()
    assert phone.locator("#open-app").count() == 0
    shot(phone, "join-open-browser-only")
    assert provider.room_hits == []
    phone.get_by_role("link", name=re.compile("在浏览器中打开")).click()
    phone.wait_for_url(re.compile(re.escape(provider.url) + r"/room/.*"))
    assert phone.locator("#room").inner_text() == "共享房间（测试替身）"
    assert len(provider.room_hits) == 1
    hit = provider.room_hits[0]
    assert hit.path == f"/room/{link['room']}"
    assert hit.query == {"code": [code], "name": ["群众"]}
    assert "Referer" not in hit.headers

    with server.db() as db:
        row = db.get(m.ShareLink, link["id"])
        assert row.state == "consented" and row.consented_at is not None
        consent = db.scalars(
            select(m.SessionEvent)
            .where(m.SessionEvent.session_id == session_id)
            .where(m.SessionEvent.kind == "share_consented")
        ).one()
    assert consent.detail["address"] == "127.0.0.1"
    assert "Android 14" in consent.detail["browser"]
    assert consent.at <= datetime.now()
    assert agent.get(f"/sessions/{session_id}/share")["state"] == "consented"


def test_an_expired_code_gets_a_page_that_leads_nowhere(
    phone: Any, server: LiveServer, agent: ApiClient, provider: StandInProvider
) -> None:
    link = agent.post(f"/sessions/{session_of(server, 'agent')}/share")
    with server.db() as db:
        db.get(m.ShareLink, link["id"]).expires_at = datetime.now() - timedelta(minutes=1)
        db.commit()
    response = phone.goto(link["join_url"])
    # The same page as an unknown code: it must not tell a guesser which codes existed.
    assert response.status == 404
    assert "共享码无效或已结束" in phone.locator("h1").inner_text()
    no_way_on(phone)
    shot(phone, "join-expired")
    assert provider.hits == []


def test_a_revoked_code_gets_a_page_that_leads_nowhere(
    phone: Any, server: LiveServer, agent: ApiClient, provider: StandInProvider
) -> None:
    link = agent.post(f"/sessions/{session_of(server, 'agent')}/share")
    phone.goto(link["join_url"])
    consent = phone.get_by_role("button", name="暗语一致，同意共享屏幕")
    agent.delete(f"/share/{link['id']}")
    # The caller still has the page open and presses the button after the revocation.
    consent.click()
    phone.wait_for_load_state()
    assert "这次屏幕共享已经结束" in phone.locator("h1").inner_text()
    no_way_on(phone)
    response = phone.goto(link["join_url"])
    assert response.status == 404 and "共享码无效或已结束" in phone.locator("h1").inner_text()
    no_way_on(phone)
    shot(phone, "join-revoked")
    assert provider.hits == []


def test_closing_the_session_ends_the_link_on_the_callers_open_page(
    phone: Any, server: LiveServer, agent: ApiClient, provider: StandInProvider
) -> None:
    """办结 while the caller has the join page open: the button leads to "ended", and
    the page no longer names the staff member."""
    session_id = session_of(server, "agent")
    link = agent.post(f"/sessions/{session_id}/share")
    phone.goto(link["join_url"])
    assert "李晓雯" in phone.locator("main").inner_text()
    answer = agent.push(
        [
            {
                "mutation_id": "close-with-link-1",
                "kind": "session",
                "op": "transition",
                "target_id": session_id,
                "payload": {"action": "close", "outcome": "resolved", "close_summary": "已办结"},
            }
        ]
    )[0]
    assert answer["status"] == "applied", answer["reason"]
    phone.get_by_role("button", name="暗语一致，同意共享屏幕").click()
    phone.wait_for_load_state()
    assert "这次屏幕共享已经结束" in phone.locator("h1").inner_text()
    assert "会话已办结" in phone.locator("main").inner_text()
    assert "李晓雯" not in phone.locator("main").inner_text()
    no_way_on(phone)
    shot(phone, "join-ended")
    assert provider.hits == []


def test_a_wrong_code_says_so_and_offers_to_type_again(
    phone: Any, server: LiveServer, agent: ApiClient, provider: StandInProvider
) -> None:
    link = agent.post(f"/sessions/{session_of(server, 'agent')}/share")
    wrong = "999999999" if link["code"] != "999999999" else "888888888"
    phone.goto(f"{server.url}/j")
    phone.get_by_label("请输入工作人员在电话中告诉您的数字共享码").fill(wrong)
    phone.get_by_role("button", name="下一步").click()
    phone.wait_for_url(f"{server.url}/j/{wrong}")
    assert "共享码无效" in phone.locator("h1").inner_text()
    assert "李晓雯" not in phone.locator("main").inner_text()
    no_way_on(phone)
    shot(phone, "join-unknown")
    phone.get_by_role("link", name="重新输入共享码").click()
    phone.wait_for_url(f"{server.url}/j")
    # Letters are refused with a message on the same page.
    phone.get_by_label("请输入工作人员在电话中告诉您的数字共享码").fill("12ab")
    phone.get_by_role("button", name="下一步").click()
    assert "6 到 10 位数字" in phone.locator(".error").inner_text()
    shot(phone, "join-enter-error")
    assert provider.hits == []


def test_a_phone_is_offered_the_jitsi_app_and_the_browser(
    iphone: Any, jitsi_server: LiveServer, provider: StandInProvider
) -> None:
    """The whole phone flow with Jitsi: the consent page tells the truth, consent leads
    to the app button and the browser link (same room, same token), and the browser link
    arrives in the room."""
    api = ApiClient(jitsi_server.url)
    api.login("agent", DEMO_PASSWORD)
    link = api.post(f"/sessions/{session_of(jitsi_server, 'agent')}/share")
    api.close()

    iphone.goto(link["join_url"])
    body = iphone.locator("main")
    facts = body.inner_text()
    assert "手机或电脑屏幕" not in facts, "no promise the browser cannot keep"
    assert "手机的浏览器只能进入视频通话，不能共享屏幕" in facts
    assert "免费的 Jitsi Meet 应用（在 App Store 搜索“Jitsi Meet”）" in facts
    assert "请点这里看平板怎样共享" not in facts
    iphone.screenshot(path="/tmp/join_phone_consent.png", full_page=True)
    iphone.get_by_role("button", name="暗语一致，同意共享屏幕").click()

    assert iphone.locator("h1").inner_text() == "已同意，请进入房间"
    app = iphone.get_by_role("link", name="在 Jitsi Meet 应用中打开")
    web = iphone.get_by_role("link", name=re.compile("在浏览器中打开"))
    app_href, web_href = app.get_attribute("href"), web.get_attribute("href")
    assert web_href.startswith(f"{provider.url}/room/{link['room']}?jwt=")
    assert app_href == "org.jitsi.meet://" + web_href.removeprefix("http://")
    token = parse_qs(urlsplit(web_href).query)["jwt"][0]
    assert (
        jwt.decode(token, SECRET, algorithms=["HS256"], audience="jitsi")["room"] == (link["room"])
    )
    assert "只能视频通话，不能共享屏幕" in web.inner_text()
    # The app first and primary (filled, full width); the browser second, lighter.
    app_box, web_box = app.bounding_box(), web.bounding_box()
    assert app_box["y"] < web_box["y"]
    assert app_box["width"] > 300 and web_box["width"] > 300
    assert web_box["height"] < 110, "the two-line link stays one compact button"
    assert app.evaluate("a => getComputedStyle(a).backgroundColor") == "rgb(13, 71, 161)"
    assert web.evaluate("a => getComputedStyle(a).backgroundColor") == "rgb(232, 240, 254)"
    text = body.inner_text()
    assert "在 App Store 搜索“Jitsi Meet”" in text
    assert "在电话里向工作人员描述您看到的内容" in text
    iphone.screenshot(path="/tmp/join_phone.png", full_page=True)
    shot(iphone, "join-open-app")
    with jitsi_server.db() as db:
        assert db.get(m.ShareLink, link["id"]).state == "consented"
    assert provider.room_hits == [], "nothing is opened before the caller chooses"

    web.click()
    iphone.wait_for_url(re.compile(re.escape(provider.url) + r"/room/.*"))
    assert iphone.locator("#room").inner_text() == "共享房间（测试替身）"
    hit = provider.room_hits[0]
    assert hit.path == f"/room/{link['room']}" and hit.query["jwt"] == [token]
    assert "Referer" not in hit.headers, "the join code never leaks as a referrer"


IPAD_DESKTOP_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)


def test_an_ipad_that_says_macintosh_finds_the_tablet_page(
    browser: Any, jitsi_server: LiveServer
) -> None:
    """iPadOS Safari sends a Mac's user agent: the server cannot tell, so the computer
    page shows touch screens (CSS ``pointer: coarse``, no script) a link to the tablet
    page; a Mac with a mouse does not see it."""
    api = ApiClient(jitsi_server.url)
    api.login("agent", DEMO_PASSWORD)
    link = api.post(f"/sessions/{session_of(jitsi_server, 'agent')}/share")
    api.close()
    hint = "请点这里看平板怎样共享"
    for touch in (False, True):
        context = browser.new_context(
            viewport={"width": 820, "height": 1180},
            is_mobile=touch,
            has_touch=touch,
            user_agent=IPAD_DESKTOP_UA,
            locale="zh-CN",
            java_script_enabled=False,
        )
        page = context.new_page()
        page.goto(link["join_url"])
        assert "手机或电脑屏幕" in page.locator("main").inner_text()
        assert page.get_by_role("link", name=hint).is_visible() is touch
        if touch:
            page.get_by_role("link", name=hint).click()
            page.wait_for_url(re.compile(r".*\?device=tablet$"))
            text = page.locator("main").inner_text()
            assert "平板的浏览器只能进入视频通话，不能共享屏幕" in text
            assert "手机或电脑屏幕" not in text
            page.get_by_role("button", name="暗语一致，同意共享屏幕").click()
            app = page.get_by_role("link", name="在 Jitsi Meet 应用中打开")
            assert app.get_attribute("href").startswith("org.jitsi.meet://")
            shot(page, "join-open-ipad")
        context.close()
