"""The screen-share panel against a real server: create, show, consent, revoke.

Set ``BANGBAN_SHOTS=<dir>`` to keep screenshots of the panel.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from core.localstore.db import open_cache
from core.localstore.store import LocalStore
from server import models as m
from sync.client import ApiClient
from sync.engine import SyncEngine
from sync.events import LiveEvent
from tests.share_support import consent_over_http, session_of
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from ui.qr import QR_BORDER, QR_SCALE
from ui.share_panel import SharePanel
from ui.worker import Workers

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def agent_client(live_server: LiveServer, tmp_path: Path) -> Iterator[tuple[ApiClient, LocalStore]]:
    api = ApiClient(live_server.url)
    api.login("agent", DEMO_PASSWORD)
    cache = open_cache(tmp_path / "cache.sqlite3")
    yield api, LocalStore(cache.sessions)
    api.close()
    cache.engine.dispose()


def shot(widget: QWidget, name: str) -> None:
    target = os.environ.get("BANGBAN_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(target) / f"{name}.png"))


def qr_matches(panel: SharePanel, text: str) -> bool:
    """Whether the QR image shows exactly the modules of ``text``'s QR code."""
    image = panel.qr_label.pixmap().toImage()
    matrix = segno.make(text, error="m", micro=False).matrix
    dark = QColor("black").rgb()
    for row, modules in enumerate(matrix):
        for col, module in enumerate(modules):
            x = (col + QR_BORDER) * QR_SCALE + QR_SCALE // 2
            y = (row + QR_BORDER) * QR_SCALE + QR_SCALE // 2
            if (image.pixel(x, y) == dark) != bool(module):
                return False
    return True


async def in_thread(fn, *args):  # type: ignore[no-untyped-def]
    """Run a blocking call (the caller's browser, a sync) off the GUI thread."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def test_create_show_consent_and_revoke(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    agent_client: tuple[ApiClient, LocalStore],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, store = agent_client
    session_id = session_of(live_server, "agent")
    opened: list[str] = []
    monkeypatch.setattr(
        SharePanel, "open_url", classmethod(lambda cls, url: opened.append(url.toString()) or True)
    )

    async def scenario() -> None:
        panel = SharePanel(workers, api, store, poll_ms=300)
        qtbot.addWidget(panel)
        panel.resize(640, 440)
        panel.show()
        panel.set_session(session_id, True, True)
        assert not panel.card.isVisible()
        shot(panel, "share-panel-empty")
        assert panel.start_button.isEnabled() and panel.start_button.text() == "发起屏幕共享"
        qtbot.mouseClick(panel.start_button, LEFT)
        link = await wait_until(lambda: panel.link, message="link created")
        with live_server.db() as db:
            row = db.get(m.ShareLink, link.id)
            assert row is not None and row.state == "live" and row.session_id == session_id
            phrase = row.check_phrase
        # The code in large digits, the phrase, the QR code of the join URL, the countdown.
        assert panel.code_label.text().replace(" ", "") == row.code
        assert panel.code_label.fontInfo().pixelSize() >= 36, "large digits"
        assert [w.strip() for w in panel.phrase_label.text().split("·")] == phrase.split()
        assert panel.qr_text == f"{live_server.url}/j/{row.code}"
        assert qr_matches(panel, panel.qr_text)
        assert (
            "剩余 29:" in panel.countdown_label.text() or "剩余 30:" in panel.countdown_label.text()
        )
        assert "等待对方打开" in panel.state_label.text()
        assert "重新发起" in panel.start_button.text()
        shot(panel, "share-panel-live")

        qtbot.mouseClick(panel.copy_link_button, LEFT)
        assert QGuiApplication.clipboard().text() == panel.qr_text
        qtbot.mouseClick(panel.copy_sms_button, LEFT)
        sms = QGuiApplication.clipboard().text()
        assert row.code in sms and panel.qr_text in sms and "李晓雯" in sms
        assert f"{row.expires_at:%H:%M}前有效" in sms
        assert all(word not in sms for word in phrase.split()), "the phrase goes by voice only"

        # The caller opens the page and agrees, in their own browser (plain HTTP here).
        await in_thread(consent_over_http, panel.qr_text)
        await wait_until(lambda: "已同意" in panel.state_label.text(), 10, "consent shown")
        shot(panel, "share-panel-consented")

        qtbot.mouseClick(panel.open_room_button, LEFT)
        await wait_until(lambda: opened, 10, "room opened")
        assert opened[0].startswith(f"https://meet.jit.si/{row.room}")
        assert "已在浏览器中打开" in panel.message.text()

        qtbot.mouseClick(panel.revoke_button, LEFT)
        await wait_until(lambda: "已撤销" in panel.state_label.text(), 10, "revoked")
        with live_server.db() as db:
            assert db.get(m.ShareLink, link.id).state == "revoked"
        assert not panel.revoke_button.isEnabled() and not panel.copy_sms_button.isEnabled()
        assert not panel.qr_label.isVisible(), "no QR code of a dead link"
        assert panel.start_button.text() == "发起屏幕共享"
        shot(panel, "share-panel-revoked")

    qloop.run_until_complete(scenario())


def test_offline_or_not_the_assignee_the_button_says_why(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    agent_client: tuple[ApiClient, LocalStore],
) -> None:
    api, store = agent_client
    session_id = session_of(live_server, "agent")

    async def scenario() -> None:
        panel = SharePanel(workers, api, store)
        qtbot.addWidget(panel)
        panel.resize(640, 300)
        panel.show()
        panel.set_session(None, False, True)
        assert not panel.start_button.isEnabled() and "选择" in panel.availability.text()
        panel.set_session(session_id, True, False)
        assert not panel.start_button.isEnabled()
        assert "离线" in panel.availability.text() and "离线" in panel.start_button.toolTip()
        shot(panel, "share-panel-offline")
        panel.set_session(session_id, False, True)
        assert not panel.start_button.isEnabled() and "承办人" in panel.availability.text()
        panel.set_session(session_id, True, True)
        assert panel.start_button.isEnabled() and panel.availability.text() == ""

    qloop.run_until_complete(scenario())


def test_a_refusal_is_shown_in_words(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    agent_client: tuple[ApiClient, LocalStore],
) -> None:
    """The client thinks it is the assignee of a closed session: the server refuses."""
    api, store = agent_client
    closed = session_of(live_server, "agent", "closed")

    async def scenario() -> None:
        panel = SharePanel(workers, api, store)
        qtbot.addWidget(panel)
        panel.show()
        panel.set_session(closed, True, True)
        qtbot.mouseClick(panel.start_button, LEFT)
        await wait_until(lambda: "已办结" in panel.message.text(), 10, "refusal shown")
        assert panel.link is None and panel.start_button.isEnabled()

    qloop.run_until_complete(scenario())


def test_synced_records_and_live_events_update_the_panel(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    agent_client: tuple[ApiClient, LocalStore],
) -> None:
    """Without polling: a link made elsewhere arrives by sync, its consent by an event."""
    api, store = agent_client
    session_id = session_of(live_server, "agent")
    position = api.events(-1, 0)["last"]
    link = api.post(f"/sessions/{session_id}/share")

    async def scenario() -> None:
        await in_thread(SyncEngine(api, store).sync_blocking)
        panel = SharePanel(workers, api, store, poll_ms=0)
        qtbot.addWidget(panel)
        panel.show()
        panel.set_session(session_id, True, True)
        shown = await wait_until(lambda: panel.link, message="link read from the cache")
        assert shown.id == link["id"] and shown.code == link["code"]
        assert "等待对方打开" in panel.state_label.text()
        await in_thread(consent_over_http, link["join_url"])
        answer = await in_thread(api.events, position, 5)
        events = [e for e in answer["events"] if e["kind"] == "share_link"]
        assert [e["payload"]["change"] for e in events] == [
            "share_created",
            "share_opened",
            "share_consented",
        ]
        # The event listener hands over LiveEvent values; wire dicts work as well.
        for event in events[:-1]:
            panel.on_event(event)
        assert "对方已打开页面" in panel.state_label.text()
        panel.on_event(LiveEvent.from_wire(events[-1]))
        assert "已同意" in panel.state_label.text()
        # A stale copy from the cache does not turn the state back.
        await panel.reload()
        assert "已同意" in panel.state_label.text()
        # An event about another session changes nothing.
        other = dict(link, session_id="another-session", state="revoked")
        panel.on_event({"kind": "share_link", "payload": {"link": other}})
        panel.on_event({"kind": "share_link", "payload": {"link": {"id": "broken"}}})
        assert "已同意" in panel.state_label.text()

    qloop.run_until_complete(scenario())
