"""Meeting the real dialogs in tests: wait for the modal dialog the code opened, keep
it open while the loop runs, and answer it with the keyboard or the mouse.

Also :func:`answered`, for logic tests that replace a dialog's ``ask`` (which
returns a future since no dialog is ever ``exec()``-ed).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLineEdit,
    QMessageBox,
    QWidget,
)
from pytestqt.qtbot import QtBot

from tests.support import wait_until
from tests.ui.keyboard import type_text

D = TypeVar("D", bound=QDialog)


def answered(value: Any) -> asyncio.Future[Any]:
    """A future that already holds ``value`` (what a replaced ``ask`` returns)."""
    future: asyncio.Future[Any] = asyncio.get_event_loop().create_future()
    future.set_result(value)
    return future


def open_dialogs(kind: type[D] = QDialog) -> list[D]:  # type: ignore[assignment]
    """Visible modal dialogs of ``kind``, the most recently opened last."""
    found = [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, kind)
        and w.isVisible()
        and w.windowModality() != Qt.WindowModality.NonModal
    ]
    modal = QApplication.activeModalWidget()
    if modal in found:  # the one on top of the stack is the one a person sees
        found.remove(modal)  # type: ignore[arg-type]
        found.append(modal)  # type: ignore[arg-type]
    return found


async def wait_for_dialog(kind: type[D] = QDialog, timeout: float = 10.0) -> D:  # type: ignore[assignment]
    """The modal dialog of ``kind`` the code under test opened (waiting for it)."""
    await wait_until(lambda: open_dialogs(kind), timeout, f"a {kind.__name__} to open")
    dialog = open_dialogs(kind)[-1]
    # A person can only type into it once it has the focus.
    dialog.activateWindow()
    await wait_until(lambda: dialog.isActiveWindow(), 5, f"{kind.__name__} active")
    return dialog


async def wait_closed(dialog: QWidget, timeout: float = 5.0) -> None:
    def closed() -> bool:
        try:
            return not dialog.isVisible()
        except RuntimeError:  # deleted once it closed (WA_DeleteOnClose)
            return True

    try:
        await wait_until(closed, timeout, "the dialog to close")
    except AssertionError:
        error = dialog.findChild(QWidget, "dialogError")
        shown = error.text() if error is not None and hasattr(error, "text") else ""
        raise AssertionError(f"the dialog did not close; it says: {shown!r}") from None


async def hold_open(dialog: QWidget, seconds: float) -> None:
    """Leave the dialog open for ``seconds`` while the loop (sync, events) runs."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.05)
        assert dialog.isVisible(), "the dialog stayed open"


def focus(widget: QWidget) -> None:
    widget.setFocus(Qt.FocusReason.TabFocusReason)


async def press(qtbot: QtBot, widget: QWidget, key: Qt.Key, times: int = 1) -> None:
    """Key presses on ``widget`` with the loop running in between (as a person types)."""
    for _ in range(times):
        qtbot.keyClick(widget, key)
        await asyncio.sleep(0.02)


async def choose_in_combo(qtbot: QtBot, combo: QComboBox, text_starts: str) -> None:
    """Move a combo box to the item whose text starts with ``text_starts`` with the
    arrow keys, as a person does without the mouse."""
    target = next(
        (i for i in range(combo.count()) if combo.itemText(i).startswith(text_starts)), -1
    )
    assert target >= 0, (
        f"no item {text_starts!r} in {[combo.itemText(i) for i in range(combo.count())]}"
    )
    focus(combo)
    key = Qt.Key.Key_Down if target > combo.currentIndex() else Qt.Key.Key_Up
    await press(qtbot, combo, key, abs(target - combo.currentIndex()))
    assert combo.currentIndex() == target


async def accept_with_enter(qtbot: QtBot, dialog: QDialog) -> None:
    """Enter in a single-line field: the dialog's default button (its OK)."""
    edits = [e for e in dialog.findChildren(QLineEdit) if e.isVisible() and e.isEnabled()]
    target: QWidget = edits[0] if edits else dialog
    focus(target)
    await press(qtbot, target, Qt.Key.Key_Return)


def button(dialog: QWidget, text: str) -> QAbstractButton:
    """The dialog's button that says ``text`` (Chinese, as a person reads it)."""
    for b in dialog.findChildren(QAbstractButton):
        if b.isVisible() and b.text().replace("&", "") == text:
            return b
    raise AssertionError(
        f"no button {text!r}: {[b.text() for b in dialog.findChildren(QAbstractButton)]}"
    )


async def click(qtbot: QtBot, widget: QAbstractButton) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)
    await asyncio.sleep(0.02)


async def save_as(qtbot: QtBot, dialog: QFileDialog, path: str) -> None:
    """Type a path into a (Qt widget) file dialog's name field and press Enter."""
    edit = dialog.findChild(QLineEdit, "fileNameEdit")
    assert edit is not None, "Qt's own file dialog (not a native one)"
    focus(edit)
    edit.selectAll()
    await press(qtbot, edit, Qt.Key.Key_Backspace)
    type_text(qtbot, edit, path)
    await asyncio.sleep(0.05)
    await press(qtbot, edit, Qt.Key.Key_Return)


def message_boxes() -> list[QMessageBox]:
    return [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
    ]


def ok_button(box: QDialogButtonBox) -> QAbstractButton:
    buttons = box.buttons()
    for b in buttons:
        if box.buttonRole(b) == QDialogButtonBox.ButtonRole.AcceptRole:
            return b
    raise AssertionError("no OK button")
