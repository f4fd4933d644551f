"""A note the protocol would refuse (a control character pasted into it) is refused on
the spot, in words naming the field, and nothing is queued (``core.protocol.wire``)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from tests.support import LiveServer, wait_until
from tests.ui.test_session_console import Windows, activate, sid, windows  # noqa: F401
from ui.worker import Workers

SHOTS = os.environ.get("BANGBAN_SHOTS")
if SHOTS:
    Path(SHOTS).mkdir(parents=True, exist_ok=True)


def test_a_note_with_a_control_character_is_refused_before_it_is_queued(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    windows: Windows,  # noqa: F811
) -> None:
    async def scenario() -> None:
        window = await windows.start(live_server.url, "agent")
        pane = window.sessions_pane
        s = sid("S010")
        await wait_until(lambda: pane.select_session(s), 10, "S010 listed")
        await wait_until(pane.view.body.isVisible, 10, "the session shown")
        store = window.account.store
        before = store.outbox_size()
        pane.view.note_edit.setPlainText("来电人补充\x00材料")  # as a paste would
        pane.view.note_edit.setFocus()
        await activate(window)
        qtbot.keyClick(pane.view.note_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        await wait_until(lambda: "控制字符" in pane.view.message.text(), 10, "refused in words")
        assert "text" in pane.view.message.text() and pane.view.message.isVisible()
        assert store.outbox_size() == before
        assert all("材料" not in n.text for n, _ in store.notes(s))
        # A closed session takes no new notes: the button and the shortcut are off.
        pane.view.note_edit.clear()
        closed = sid("S007")
        await wait_until(lambda: pane.select_session(closed), 10, "S007 listed")
        await wait_until(
            lambda: (
                pane.view.detail is not None
                and pane.view.detail.session.id == closed
                and not pane.view.note_button.isEnabled()
            ),
            10,
            "note button off for a closed session",
        )
        assert not pane.add_note_action.isEnabled() and not pane.view.note_edit.isEnabled()
        assert "已办结" in pane.view.note_edit.placeholderText()
        if SHOTS:
            window.grab().save(str(Path(SHOTS) / "note_closed.png"))
        await wait_until(lambda: pane.select_session(s), 10, "S010 listed again")
        await wait_until(
            lambda: (
                pane.view.detail is not None
                and pane.view.detail.session.id == s
                and pane.view.note_button.isEnabled()
            ),
            10,
            "on again for an open one",
        )
        assert pane.view.note_edit.isEnabled() and not pane.view.note_edit.isReadOnly()
        if SHOTS:
            window.grab().save(str(Path(SHOTS) / "note_refused.png"))
        await windows.close_all()

    qloop.run_until_complete(scenario())
