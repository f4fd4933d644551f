"""The caller's online-consultation pages (issue 13) in a real headless Chromium at
phone size: start a conversation from ``/c`` (the matter found by pinyin initials),
see the staff answer arrive live without a reload, send a photo, rate after the
session closes; in the normal and in the large-type/high-contrast mode.

Set ``BANGBAN_SHOTS=<dir>`` to keep phone screenshots of each page.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from server import models as m
from sync.client import ApiClient
from tests.e2e.test_join_pages_browser import CHROMIUM, CHROMIUM_ARGS, PHONE_UA
from tests.support import DEMO_PASSWORD, LiveServer, start_live_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # The browser speaks Chinese, as the callers' phones do (the file picker's words).
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--lang=zh-CN"]
        )
        yield chromium
        chromium.close()


def phone_context(browser: Any, *, javascript: bool = True) -> Any:
    return browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        user_agent=PHONE_UA,
        locale="zh-CN",
        java_script_enabled=javascript,
    )


@pytest.fixture
def server(server_db: str) -> Iterator[LiveServer]:
    live = start_live_server(server_db, opening_hours="always")
    with live.db() as db:
        user = db.scalar(select(m.User).where(m.User.username == "agent"))
        assert user is not None
        live.app.state.settings.chat_default_team = user.team_id
        live.app.state.settings.auto_assign = False
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


def push(api: ApiClient, kind: str, op: str, payload: dict[str, Any]) -> None:
    [answer] = api.push(
        [
            {
                "mutation_id": f"b-{uuid.uuid4()}",
                "kind": kind,
                "op": op,
                "target_id": None,
                "payload": payload,
            }
        ]
    )
    assert answer["status"] == "applied", answer["reason"]


def newest_chat(server: LiveServer) -> str:
    with server.db() as db:
        sid = db.scalar(
            select(m.Session.id)
            .where(m.Session.channel == "web_chat")
            .order_by(m.Session.created_at.desc())
            .limit(1)
        )
    assert sid is not None
    return str(sid)


def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "id-card.jpg"
    Image.new("RGB", (300, 200), (30, 90, 200)).save(path, "JPEG", quality=80)
    return path


def start_from_the_page(page: Any, server: LiveServer, question: str) -> None:
    page.goto(f"{server.url}/c")
    assert page.title().startswith("线上咨询")
    page.get_by_label("1. 找到要咨询的事项").fill("shbzk")  # 社会保障卡补换 by initials
    page.get_by_role("button", name="查找").click()
    page.get_by_label("社会保障卡补换").check()
    page.get_by_label("2. 您的问题").fill(question)
    page.get_by_label("称呼（选填）").fill("王女士")
    page.get_by_label("我已阅读并同意上述个人信息使用说明").check()
    page.get_by_role("button", name="开始咨询").click()
    page.wait_for_url(f"{server.url}/c/**")


@pytest.mark.parametrize("mode", ["normal", "large_contrast"])
def test_a_caller_asks_gets_a_live_answer_sends_a_photo_and_rates(
    browser: Any, server: LiveServer, agent: ApiClient, tmp_path: Path, mode: str
) -> None:
    context = phone_context(browser)
    page = context.new_page()
    try:
        page.goto(f"{server.url}/c")
        if mode == "large_contrast":
            page.get_by_role("link", name="大字").click()
            page.get_by_role("link", name="高对比").click()
            assert page.locator("body.large.contrast").count() == 1
            size = page.locator("body").evaluate("b => getComputedStyle(b).fontSize")
            assert size == "24px"
        shot(page, f"chat-start-{mode}")
        start_from_the_page(page, server, "社保卡丢了，怎么补办？")
        assert "社保卡丢了，怎么补办？" in page.locator("#messages").inner_text()
        assert "正在为您安排工作人员" in page.locator("#helper").inner_text()
        session_id = newest_chat(server)
        push(agent, "session", "transition", {"session_id": session_id, "action": "accept"})
        # Accepted: the page shows who helps (the script reloads on the change).
        page.locator("#helper strong").wait_for(timeout=15000)
        assert "李晓雯" in page.locator("#helper").inner_text()
        assert "JN-0107" in page.locator("#helper").inner_text()
        page.evaluate("window.__stayed = true")
        push(
            agent,
            "message",
            "create",
            {
                "message_id": f"m-{uuid.uuid4().hex}",
                "session_id": session_id,
                "text": "您好，可在“江宁人社”小程序在线补办，带身份证也可到窗口办理。",
            },
        )
        page.get_by_text("可在“江宁人社”小程序在线补办").wait_for(timeout=10000)
        assert page.evaluate("window.__stayed === true"), "arrived live, without a reload"
        shot(page, f"chat-answer-{mode}")
        # The walkthrough's 一次性告知, sent as a message: a page of its own to print.
        push(
            agent,
            "message",
            "create",
            {
                "message_id": f"m-{uuid.uuid4().hex}",
                "session_id": session_id,
                "text": "一次性告知\n事项：社会保障卡补换\n需要带：居民身份证（原件）",
                "kind": "notice",
            },
        )
        page.get_by_role("link", name="打印或保存这份告知").click()
        page.wait_for_url("**/notice/**")
        assert "需要带：居民身份证（原件）" in page.locator("#notice").inner_text()
        assert page.get_by_role("button", name="打印或保存为 PDF").is_visible()
        shot(page, f"chat-notice-{mode}")
        page.get_by_role("link", name="返回对话").click()
        page.wait_for_url("**/c/*")
        # A photo of the document.
        page.set_input_files("#photo", str(photo_file(tmp_path)))
        page.get_by_role("button", name="发送照片", exact=True).click()
        page.locator("img.photo").wait_for(timeout=10000)
        with server.db() as db:
            stored = db.scalar(select(m.Attachment).where(m.Attachment.session_id == session_id))
            assert stored is not None and stored.content_type == "image/jpeg"
            img = Image.open(io.BytesIO(stored.data))
            assert img.size == (300, 200) and not img.getexif()
        # The session closes: the page turns into the rating form.
        push(
            agent,
            "session",
            "transition",
            {
                "session_id": session_id,
                "action": "close",
                "outcome": "resolved",
                "close_summary": "已告知补办方式",
            },
        )
        page.locator("#rate").wait_for(timeout=15000)
        shot(page, f"chat-rate-{mode}")
        page.get_by_label("非常满意").check()
        page.get_by_label("意见或建议（选填）").fill("回复很快")
        page.get_by_role("button", name="提交评价").click()
        page.locator("#rated").wait_for(timeout=10000)
        shot(page, f"chat-rated-{mode}")
        with server.db() as db:
            rating = db.scalar(select(m.Evaluation).where(m.Evaluation.session_id == session_id))
            assert rating is not None and rating.score == 5 and rating.comment == "回复很快"
    finally:
        context.close()


def test_without_javascript_the_refresh_button_shows_new_messages(
    browser: Any, server: LiveServer, agent: ApiClient
) -> None:
    context = phone_context(browser, javascript=False)
    page = context.new_page()
    try:
        start_from_the_page(page, server, "灵活就业怎么参保？")
        session_id = newest_chat(server)
        push(agent, "session", "transition", {"session_id": session_id, "action": "accept"})
        push(
            agent,
            "message",
            "create",
            {
                "message_id": f"m-{uuid.uuid4().hex}",
                "session_id": session_id,
                "text": "请带身份证。",
            },
        )
        page.get_by_role("link", name="刷新，查看新消息").click()
        assert "请带身份证。" in page.locator("#messages").inner_text()
        page.get_by_label("发送消息").fill("好的")
        page.get_by_role("button", name="发送", exact=True).click()
        assert "好的" in page.locator("#messages").inner_text()
        shot(page, "chat-nojs")
    finally:
        context.close()
