"""A caller on a phone and an agent at the desk, through one real server (issue 13):
the caller in headless Chromium at phone size (Playwright), the agent in the real app.
They talk both ways; the caller sends a photo, which the agent sees; the agent answers
from the knowledge base (a suggestion, with its source) and sends the screen-share
link, which the caller taps; the agent closes the session, the caller rates it on the
page, and the rating is in the lead's figures.

Playwright's sync API cannot run inside the app's (qasync) event loop, so the phone
lives in a thread of its own and the test hands it one step at a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from server import models as m
from sync.client import ApiClient
from tests.e2e.test_chat_pages_browser import (
    newest_chat,
    phone_context,
    photo_file,
    start_from_the_page,
)
from tests.e2e.test_join_pages_browser import CHROMIUM, CHROMIUM_ARGS
from tests.support import DEMO_PASSWORD, LiveServer, start_live_server, wait_until
from tests.ui.desk_support import close_desk, open_desk
from tests.ui.dialog_driver import focus, press, wait_closed, wait_for_dialog
from tests.ui.keyboard import type_text
from ui.dialogs.session_dialogs import CloseDialog
from ui.worker import Workers

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


class Phone:
    """A phone's browser, in its own thread: :meth:`run` hands it a step (a function
    of the page) and awaits the step's answer without blocking the app's loop."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[Any], Any], concurrent.futures.Future[Any]] | None]
        self._jobs = queue.Queue()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="phone", daemon=True)
        self._thread.start()
        self._ready.wait(60)
        if self._failed is not None:
            raise RuntimeError("the phone's browser did not start") from self._failed

    def _serve(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--lang=zh-CN"]
                )
                context = phone_context(browser)
                page = context.new_page()
                self._ready.set()
                while (job := self._jobs.get()) is not None:
                    step, answer = job
                    try:
                        answer.set_result(step(page))
                    except BaseException as exc:  # handed back to the test
                        answer.set_exception(exc)
                context.close()
                browser.close()
        except BaseException as exc:
            self._failed = exc
            self._ready.set()

    async def run(self, step: Callable[[Any], Any]) -> Any:
        answer: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((step, answer))
        return await asyncio.wrap_future(answer)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(30)


@pytest.fixture
def phone() -> Iterator[Phone]:
    device = Phone()
    try:
        yield device
    finally:
        device.close()


@pytest.fixture
def server(server_db: str) -> Iterator[LiveServer]:
    live = start_live_server(server_db, opening_hours="always", auto_assign=False)
    with live.db() as db:
        user = db.scalar(select(m.User).where(m.User.username == "agent"))
        assert user is not None
        live.app.state.settings.chat_default_team = user.team_id
    try:
        yield live
    finally:
        live.stop()


def shot(page: Any, name: str) -> None:
    target = os.environ.get("BANGBAN_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


def test_a_caller_on_a_phone_and_an_agent_at_the_desk(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    server: LiveServer,
    phone: Phone,
    tmp_path: Path,
) -> None:
    photo = photo_file(tmp_path)

    def send_photo(page: Any) -> None:
        page.set_input_files("#photo", str(photo))
        page.get_by_role("button", name="发送照片", exact=True).click()
        page.locator("img.photo").wait_for(timeout=10000)

    def sees(text: str) -> Callable[[Any], str]:
        def step(page: Any) -> str:
            page.locator("#messages").get_by_text(text).first.wait_for(timeout=20000)
            return str(page.locator("#messages").inner_text())

        return step

    def tap_share_link(page: Any) -> tuple[str, str]:
        conversation = page.url
        page.locator("a.share-link").first.wait_for(timeout=20000)
        page.locator("a.share-link").first.click()
        page.wait_for_url("**/j/**")
        body = str(page.locator("body").inner_text())
        shot(page, "caller-join-from-chat")
        page.goto(conversation)
        return page.url, body

    def rate(page: Any) -> None:
        page.locator("#rate").wait_for(timeout=20000)
        shot(page, "caller-rate")
        page.get_by_label("非常满意").check()
        page.get_by_label("意见或建议（选填）").fill("很耐心")
        page.get_by_role("button", name="提交评价").click()
        page.locator("#rated").wait_for(timeout=10000)

    async def scenario() -> None:
        await phone.run(lambda page: start_from_the_page(page, server, "社保卡丢了，怎么补办？"))
        session_id = newest_chat(server)
        window = await open_desk(qtbot, workers, server.url, "agent")
        pane, chat = window.sessions_pane, window.chat
        panel = chat.panel
        await wait_until(lambda: pane.select_session(session_id), 20, "listed")
        await wait_until(
            lambda: "社保卡丢了" in panel.messages_view.toPlainText(), 15, "question shown"
        )
        window.activateWindow()
        await wait_until(window.isActiveWindow, 5, "window active")
        qtbot.keyClick(window, Qt.Key.Key_F2)
        await wait_until(
            lambda: (
                chat.session is not None
                and chat.session.state == "active"
                and panel.compose.isEnabled()
            ),
            15,
            "accepted",
        )
        # The caller sees who helps, and the reply typed at the desk, live.
        await phone.run(lambda page: page.locator("#helper strong").wait_for(timeout=20000))
        type_text(qtbot, panel.compose, "您好，我是李晓雯，马上为您查询。")
        qtbot.keyClick(panel.compose, Qt.Key.Key_Return)
        await phone.run(sees("马上为您查询"))
        # A photo from the phone reaches the desk.
        await phone.run(send_photo)
        await wait_until(lambda: panel.messages_view.thumbs, 20, "photo at the desk")
        # The best suggestion, sent with one key, arrives with its source.
        await wait_until(lambda: panel.suggestions, 15, "suggestions")
        entry = panel.suggestions[0]
        qtbot.keyClick(panel.compose, Qt.Key.Key_F10)
        seen = await phone.run(sees("——依据"))
        assert entry.title in seen and f"第 {entry.version} 版" in seen
        # The screen-share link, sent as a message the caller taps.
        share = window.share_panel
        pane.show_tool(share)
        await wait_until(share.start_button.isEnabled, 20, "share can start")
        qtbot.mouseClick(share.start_button, Qt.MouseButton.LeftButton)
        link = await wait_until(lambda: share.link, 10, "link created")
        panel.share_button.setFocus()
        qtbot.keyClick(panel.share_button, Qt.Key.Key_Space)
        _back, join_page = await phone.run(tap_share_link)
        assert link.helper_name in join_page and "核对暗语" in join_page
        assert "不能共享屏幕" in join_page, "a phone is told what its browser cannot do"
        assert "对话里发给您的暗语" in join_page and "念出暗语" not in join_page
        # Tapped from the conversation (the same site), it counts as opened at the desk.
        await wait_until(lambda: "对方已打开页面" in share.state_label.text(), 15, "opened")
        # 办结 at the desk; the caller's page turns into the rating form.
        window.activateWindow()
        await wait_until(window.isActiveWindow, 5, "window active")
        qtbot.keyClick(window, Qt.Key.Key_F9)
        dialog = await wait_for_dialog(CloseDialog)
        assert not dialog.rating_link_follows, "a chat's caller rates on their own page"
        focus(dialog.outcome)
        await press(qtbot, dialog.outcome, Qt.Key.Key_Down)
        type_text(qtbot, dialog.summary, "已告知补办渠道和材料")
        await press(qtbot, dialog.summary, Qt.Key.Key_Tab)
        await press(qtbot, dialog.ok_button, Qt.Key.Key_Return)
        await wait_closed(dialog)
        await phone.run(rate)
        # The rating is the caller's, and it is in the lead's figures.
        lead = ApiClient(server.url)
        await workers.on_net(lead.login, "lead", DEMO_PASSWORD)
        figures = await workers.on_net(lambda: lead.get("/team/figures", period="day"))
        assert figures["team"]["ratings"].get("5", 0) >= 1
        assert figures["team"]["suggestions_sent"] >= 1
        with server.db() as db:
            rating = db.scalar(select(m.Evaluation).where(m.Evaluation.session_id == session_id))
            assert rating is not None and rating.score == 5 and rating.comment == "很耐心"
        target = os.environ.get("BANGBAN_SHOTS")
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            window.grab().save(str(Path(target) / "console-chat-closed.png"))
        await close_desk(window)
        lead.close()

    qloop.run_until_complete(scenario())
