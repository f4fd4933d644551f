"""Typing as a person does: ASCII by key clicks; Chinese the way an input method
delivers it, as a committed string (QTest's key clicks accept ASCII only)."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QInputMethodEvent
from PySide6.QtWidgets import QApplication, QComboBox, QWidget
from pytestqt.qtbot import QtBot

from tests.support import wait_until

_RUNS = re.compile(r"([\x00-\x7f]+)")


def type_text(qtbot: QtBot, widget: QWidget, text: str) -> None:
    """Type ``text`` into ``widget`` (focused first, as a click or Tab would)."""
    target = widget.lineEdit() if isinstance(widget, QComboBox) and widget.isEditable() else widget
    assert target is not None
    target.setFocus()
    for run in _RUNS.split(text):
        if not run:
            continue
        if run.isascii():
            qtbot.keyClicks(target, run)
        else:
            event = QInputMethodEvent("", [])
            event.setCommitString(run)
            QApplication.sendEvent(target, event)


async def press_when_enabled(
    qtbot: QtBot,
    window: QWidget,
    key: Qt.Key,
    action: QAction,
    modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> None:
    """Press ``key`` in ``window`` as a person would: once the window is in front and
    the action's button is lit (an operation still running keeps it greyed out, and a
    key pressed then does nothing)."""
    window.activateWindow()
    await wait_until(window.isActiveWindow, 5, "window active")
    await wait_until(action.isEnabled, 10, f"{action.text()} enabled")
    qtbot.keyClick(window, key, modifier)
