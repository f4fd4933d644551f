"""A caller's online consultation answered from the console (issue 13), against a real
server: the question arrives with suggested answers from the local search, the agent
replies by keyboard (Enter sends), a suggestion goes out with F10 and its source, each
message shows its state up to 群众已读, the caller's next message arrives without a
click, and a reply typed while the link is down is sent once when it returns."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from core.localstore.messages import MessageState
from server import models as m
from tests.faultproxy import FaultProxy
from tests.support import LiveServer, start_live_server, wait_until
from tests.ui.desk_support import close_desk, open_desk
from tests.ui.keyboard import type_text
from ui.main_window import MainWindow
from ui.worker import Workers


@pytest.fixture
def chat_server(server_db: str) -> Iterator[LiveServer]:
    """Always open; consultations go to the agent's team and wait in its queue."""
    server = start_live_server(server_db, opening_hours="always", auto_assign=False)
    with server.db() as db:
        user = db.scalar(select(m.User).where(m.User.username == "agent"))
        assert user is not None and user.team_id
        server.app.state.settings.chat_default_team = user.team_id
    try:
        yield server
    finally:
        server.stop()


class Caller:
    """The caller's browser, through the public API (one cookie jar)."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.http = requests.Session()
        self.token = ""
        self.csrf = ""
        self.last = 0

    def start(self, text: str) -> str:
        with self.server.db() as db:
            code = db.scalar(
                select(m.MatterGuide.code).where(m.MatterGuide.name.like("%社会保障卡%"))
            ) or db.scalar(select(m.MatterGuide.code).limit(1))
        answer = self.http.post(
            f"{self.server.url}/api/v1/public/conversations",
            json={"matter_code": code, "text": text, "consent": True},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        data = answer.json()
        self.token, self.csrf = data["token"], data["csrf"]
        from server.services.conversations import digest

        with self.server.db() as db:
            row = db.get(m.CallerToken, digest(self.token))
            assert row is not None
            return str(row.session_id)

    @property
    def api(self) -> str:
        return f"{self.server.url}/api/v1/public/conversations/{self.token}/messages"

    def poll(self) -> list[dict[str, Any]]:
        """What the caller's page receives since its last poll."""
        view = self.http.get(self.api, params={"after": self.last}, timeout=10).json()
        self.last = view["last"]
        return list(view["messages"])

    def send(self, text: str) -> None:
        sent = self.http.post(
            self.api, json={"text": text}, headers={"X-CSRF-Token": self.csrf}, timeout=10
        )
        assert sent.status_code == 201, sent.text


SIZES = ((1366, 768), (1440, 900), (1920, 1080))


async def shots(window: MainWindow, name: str) -> None:
    """With ``BANGBAN_SHOTS=<dir>``: the window at the three screen sizes, to look at."""
    target = os.environ.get("BANGBAN_SHOTS")
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        window.resize(width, height)
        await asyncio.sleep(0.3)
        window.grab().save(str(Path(target) / f"{name}-{width}x{height}.png"))


def staff_texts(server: LiveServer, session_id: str) -> list[str]:
    with server.db() as db:
        return list(
            db.scalars(
                select(m.Message.text)
                .where(m.Message.session_id == session_id, m.Message.sender == "staff")
                .order_by(m.Message.seq)
            )
        )


def server_session_state(server: LiveServer, session_id: str) -> tuple[str, Any, Any]:
    with server.db() as db:
        row = db.get(m.Session, session_id)
        assert row is not None
        return row.state, row.assignee_id, row.accepted_at


def chat_writable(chat: Any) -> bool:
    """The conversation on screen is the accepted session's, open for a reply."""
    session = chat.session
    return bool(session and session.state == "active" and chat.panel.compose.isEnabled())


def accepted_on_server(server: LiveServer, session_id: str) -> bool:
    with server.db() as db:
        row = db.get(m.Session, session_id)
        return row is not None and row.accepted_at is not None


def test_a_consultation_answered_from_the_console(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, chat_server: LiveServer
) -> None:
    caller = Caller(chat_server)
    run = asyncio.get_event_loop().run_in_executor

    async def scenario() -> None:
        session_id = await run(None, caller.start, "社保卡丢了怎么补办？")
        with FaultProxy(chat_server.url) as proxy:
            window = await open_desk(qtbot, workers, proxy.url, "agent")
            pane, chat = window.sessions_pane, window.chat
            panel = chat.panel
            await wait_until(lambda: pane.select_session(session_id), 20, "listed")
            await wait_until(lambda: chat.session is not None, 10, "chat shown")
            tabs = pane.view.lower_tabs
            assert tabs.currentWidget() is panel and tabs.isTabVisible(tabs.indexOf(panel))
            await wait_until(
                lambda: "社保卡丢了怎么补办" in panel.messages_view.toPlainText(), 10, "question"
            )
            # The best entries for the question are there before anyone searches.
            await wait_until(lambda: panel.suggestions, 10, "suggestions")
            assert panel.suggestion_list.count() == len(panel.suggestions) <= 3
            # Not accepted yet: no writing. 接入 (F2), then the reply box takes it.
            assert not panel.compose.isEnabled()
            window.activateWindow()
            await wait_until(window.isActiveWindow, 5, "window active")
            qtbot.keyClick(window, Qt.Key.Key_F2)
            await wait_until(lambda: chat_writable(chat), 10, "writable once accepted")

            # A reply by keyboard: Shift+Enter breaks the line, Enter sends.
            qtbot.keyClick(window, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
            assert panel.compose.hasFocus()
            type_text(qtbot, panel.compose, "您好，可以补办。")
            qtbot.keyClick(panel.compose, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
            type_text(qtbot, panel.compose, "请稍等，我查一下材料。")
            qtbot.keyClick(panel.compose, Qt.Key.Key_Return)
            reply = "您好，可以补办。\n请稍等，我查一下材料。"
            await wait_until(lambda: staff_texts(chat_server, session_id) == [reply], 10, "sent")
            assert panel.compose.toPlainText() == ""
            await wait_until(
                lambda: (
                    [m.state for m in panel.messages if not m.from_caller] == [MessageState.SENT]
                ),
                10,
                "shown as delivered",
            )
            # The caller's page receives it (and polls on): 群众已读, told live, no click.
            got = await run(None, caller.poll)
            assert [x["text"] for x in got][-1] == reply
            await run(None, caller.poll)
            await wait_until(
                lambda: (
                    [m.state for m in panel.messages if not m.from_caller] == [MessageState.READ]
                ),
                15,
                "shown as read",
            )
            assert "群众已读" in panel.messages_view.toPlainText()
            with chat_server.db() as db:
                session = db.get(m.Session, session_id)
                assert session is not None and session.first_response_at is not None

            # F10 sends the first suggestion with its source, counted on the timeline.
            first = panel.suggestions[0]
            qtbot.keyClick(panel.compose, Qt.Key.Key_F10)
            await wait_until(lambda: len(staff_texts(chat_server, session_id)) == 2, 10, "F10")
            sent = staff_texts(chat_server, session_id)[1]
            assert first.answer.strip()[:20] in sent and "——依据：" in sent
            assert f"第 {first.version} 版" in sent
            with chat_server.db() as db:
                kinds = list(
                    db.scalars(
                        select(m.SessionEvent.kind).where(m.SessionEvent.session_id == session_id)
                    )
                )
                message = db.scalar(
                    select(m.Message).where(m.Message.text == sent, m.Message.sender == "staff")
                )
                assert message is not None and message.knowledge_id == first.id
            assert kinds.count("suggestion_sent") == 1

            # The caller asks again: it shows without a click, with new suggestions.
            await run(None, caller.send, "居住证怎么办理？")
            await wait_until(
                lambda: "居住证怎么办理" in panel.messages_view.toPlainText(), 15, "live"
            )

            # The link drops while the agent types: shown as 发送中, sent once it is back.
            proxy.refusing = True
            type_text(qtbot, panel.compose, "稍后给您回复。")
            qtbot.keyClick(panel.compose, Qt.Key.Key_Return)
            await wait_until(
                lambda: any(m.state is MessageState.SENDING for m in panel.messages), 5
            )
            assert "发送中" in panel.messages_view.toPlainText()
            assert "稍后给您回复。" not in staff_texts(chat_server, session_id)
            proxy.refusing = False
            window.sync.request_sync()
            await wait_until(
                lambda: "稍后给您回复。" in staff_texts(chat_server, session_id), 20, "resent"
            )
            window.sync.request_sync()
            await window.sync.wait_idle()
            assert staff_texts(chat_server, session_id).count("稍后给您回复。") == 1
            got = await run(None, caller.poll)
            assert [x["text"] for x in got].count("稍后给您回复。") == 1

            await shots(window, "console-chat")
            await close_desk(window)

    qloop.run_until_complete(scenario())


def test_a_refused_message_stays_on_screen_marked_unsent(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, chat_server: LiveServer
) -> None:
    """Typed before the session was closed elsewhere: the server refuses, the text stays."""
    caller = Caller(chat_server)
    run = asyncio.get_event_loop().run_in_executor

    async def scenario() -> None:
        session_id = await run(None, caller.start, "公积金怎么提取？")
        with FaultProxy(chat_server.url) as proxy:
            window = await open_desk(qtbot, workers, proxy.url, "agent")
            account = window.account
            pane, chat = window.sessions_pane, window.chat
            await wait_until(lambda: pane.select_session(session_id), 20, "listed")
            window.activateWindow()
            await wait_until(window.isActiveWindow, 5, "window active")
            qtbot.keyClick(window, Qt.Key.Key_F2)
            await wait_until(lambda: chat_writable(chat), 10, "accepted")
            window.sync.request_sync()
            await wait_until(lambda: accepted_on_server(chat_server, session_id), 10, "pushed")
            await wait_until(lambda: account.store.outbox_size() == 0, 10, "outbox empty")
            proxy.refusing = True
            type_text(qtbot, chat.panel.compose, "马上为您查询")
            qtbot.keyClick(chat.panel.compose, Qt.Key.Key_Return)
            await wait_until(lambda: account.store.outbox_size() == 1, 20, "queued")
            with chat_server.db() as db:
                row = db.get(m.Session, session_id)
                assert row is not None
                row.state = "closed"
                db.commit()
            proxy.refusing = False
            window.sync.request_sync()
            await wait_until(
                lambda: any(m.state is MessageState.FAILED for m in chat.panel.messages),
                20,
                "marked unsent",
            )
            text = chat.panel.messages_view.toPlainText()
            assert "马上为您查询" in text and "未发送" in text and "已办结" in text
            await close_desk(window)

    qloop.run_until_complete(scenario())


def png_bytes(colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), colour).save(out, "PNG")
    return out.getvalue()


def test_a_callers_photo_shows_in_the_conversation_opens_whole_and_stays_offline(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, chat_server: LiveServer
) -> None:
    caller = Caller(chat_server)
    run = asyncio.get_event_loop().run_in_executor

    def send_photo() -> None:
        sent = caller.http.post(
            caller.api,
            files={"photo": ("card.png", png_bytes(), "image/png")},
            headers={"X-CSRF-Token": caller.csrf},
            timeout=10,
        )
        assert sent.status_code == 201, sent.text

    async def scenario() -> None:
        session_id = await run(None, caller.start, "我的证件照片这样可以吗？")
        await run(None, send_photo)
        with FaultProxy(chat_server.url) as proxy:
            window = await open_desk(qtbot, workers, proxy.url, "agent")
            account = window.account
            pane, chat = window.sessions_pane, window.chat
            panel = chat.panel
            await wait_until(lambda: pane.select_session(session_id), 20, "listed")
            await wait_until(lambda: panel.messages_view.thumbs, 15, "thumbnail fetched")
            (photo_id,) = panel.messages_view.thumbs
            thumb = panel.messages_view.thumbs[photo_id]
            assert max(thumb.width(), thumb.height()) == 180
            assert "正在取回" not in panel.messages_view.toPlainText()
            assert [r["id"] for r in account.store.records("photo", session_id)] == [photo_id]

            # From the keyboard: Tab reaches the photo's link, Enter opens it whole.
            opened: list[Any] = []
            chat.photo_shown.connect(opened.append)
            panel.messages_view.setFocus()
            qtbot.keyClick(panel.messages_view, Qt.Key.Key_Tab)
            qtbot.keyClick(panel.messages_view, Qt.Key.Key_Return)
            await wait_until(lambda: opened, 10, "photo dialog")
            dialog = opened[0]
            assert dialog.isVisible() and not dialog.isModal()
            assert dialog.image.pixmap().width() == 640
            # It stays open while the caller writes and the sync brings it.
            await run(None, caller.send, "看到了吗？")
            await wait_until(lambda: "看到了吗" in panel.messages_view.toPlainText(), 15, "live")
            assert dialog.isVisible()
            qtbot.keyClick(dialog, Qt.Key.Key_Escape)
            await wait_until(lambda: not dialog.isVisible(), 5, "closed by Esc")

            # Offline, the photo is still there: read from the cache, not the server.
            proxy.refusing = True
            panel.messages_view.thumbs.clear()
            await chat.reload()
            await wait_until(lambda: photo_id in panel.messages_view.thumbs, 10, "from cache")
            await close_desk(window)

    qloop.run_until_complete(scenario())


def test_the_share_link_goes_to_the_caller_as_a_message_to_tap(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, chat_server: LiveServer
) -> None:
    caller = Caller(chat_server)
    run = asyncio.get_event_loop().run_in_executor

    async def scenario() -> None:
        session_id = await run(None, caller.start, "网上申报页面打不开，能帮我看看吗？")
        window = await open_desk(qtbot, workers, chat_server.url, "agent")
        pane, panel, share = window.sessions_pane, window.chat.panel, window.share_panel
        await wait_until(lambda: pane.select_session(session_id), 20, "listed")
        window.activateWindow()
        await wait_until(window.isActiveWindow, 5, "window active")
        qtbot.keyClick(window, Qt.Key.Key_F2)
        await wait_until(lambda: chat_writable(window.chat), 10, "accepted")
        # No link yet: said so, and the share tool comes forward.
        qtbot.mouseClick(panel.share_button, Qt.MouseButton.LeftButton)
        await wait_until(panel.status.isVisible, 5, "told")
        assert "共享链接" in panel.status.text()
        assert pane.tools.currentWidget() is share
        # The 一次性告知 likewise needs a finished walkthrough first.
        # (By key: two clicks this close together would make a double click.)
        panel.notice_button.setFocus()
        qtbot.keyClick(panel.notice_button, Qt.Key.Key_Space)
        await wait_until(lambda: "导办" in panel.status.text(), 5, "told about the notice")
        assert pane.tools.currentWidget() is window.walkthrough_player
        pane.show_tool(share)
        await wait_until(share.start_button.isEnabled, 20, "share can start")
        qtbot.mouseClick(share.start_button, Qt.MouseButton.LeftButton)
        link = await wait_until(lambda: share.link, 10, "link created")
        qtbot.mouseClick(panel.share_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: staff_texts(chat_server, session_id), 10, "sent")
        (text,) = staff_texts(chat_server, session_id)
        assert link.join_url in text and link.check_phrase in text
        got = await run(None, caller.poll)
        assert any(link.join_url in x["text"] for x in got)
        await close_desk(window)

    qloop.run_until_complete(scenario())
