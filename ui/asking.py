"""Asking the person something without a nested event loop.

``QDialog.exec()``, the static ``QMessageBox`` functions and the static
``QFileDialog`` functions each spin a second event loop. Under qasync a task
that wakes up inside that loop cannot be entered while the coroutine that opened
the dialog is still on the stack, and it dies ("Cannot enter into task …"):
sync, live events and board refreshes then stop for good.

So every question is asked here: the dialog is opened window-modal with
``open()``, and its answer is an :class:`asyncio.Future` that resolves when the
dialog finishes. The loop keeps running while the person thinks. A coroutine
awaits the future; a plain slot may hand it to :func:`ui.tasks.spawn`.

Tests that only care about logic replace a dialog's ``ask`` classmethod; tests
of the dialog itself let it open, wait while sync runs, and answer it with the
keyboard or the mouse (see ``tests/ui/dialog_driver.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox, QWidget

T = TypeVar("T")
U = TypeVar("U")

_ACCEPTED = int(QDialog.DialogCode.Accepted.value)


def _tr(text: str) -> str:
    return QCoreApplication.translate("asking", text)


def ask_dialog(dialog: QDialog, answer: Callable[[], T]) -> asyncio.Future[T | None]:
    """Open ``dialog`` window-modal; the future gets ``answer()`` on accept, else None.

    The dialog is deleted once it has finished. ``answer`` runs while the dialog's
    widgets still exist, right after the person accepted.
    """
    future: asyncio.Future[T | None] = asyncio.get_event_loop().create_future()
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def finished(result: int) -> None:
        if future.done():
            return
        try:
            future.set_result(answer() if int(result) == _ACCEPTED else None)
        except Exception as exc:  # an answer that cannot be read is the caller's error
            future.set_exception(exc)

    dialog.finished.connect(finished)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.open()
    return future


def ask_buttons(
    parent: QWidget | None,
    title: str,
    text: str,
    buttons: Sequence[tuple[str, QMessageBox.ButtonRole]],
    *,
    icon: QMessageBox.Icon = QMessageBox.Icon.Question,
    default: int = 0,
    informative: str = "",
) -> asyncio.Future[int | None]:
    """A message box with our own (Chinese) buttons; resolves to the index pressed.

    Closing the box with Esc or the window's close button resolves to ``None``
    unless one of the buttons has the reject role, which Qt then reports.
    """
    box = QMessageBox(parent)
    box.setIcon(icon)
    box.setWindowTitle(title)
    box.setText(text)
    if informative:
        box.setInformativeText(informative)
    made = [box.addButton(label, role) for label, role in buttons]
    if made:
        box.setDefaultButton(made[min(max(default, 0), len(made) - 1)])
    future: asyncio.Future[int | None] = asyncio.get_event_loop().create_future()
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def finished(_result: int) -> None:
        if future.done():
            return
        clicked = box.clickedButton()
        future.set_result(made.index(clicked) if clicked in made else None)  # type: ignore[arg-type]

    box.finished.connect(finished)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.open()
    return future


def ask_yes_no(
    parent: QWidget | None, title: str, text: str, *, yes: str = "", no: str = ""
) -> asyncio.Future[bool]:
    """A yes/no question; resolves to True only when the person chose yes."""
    inner = ask_buttons(
        parent,
        title,
        text,
        [
            (yes or _tr("是"), QMessageBox.ButtonRole.YesRole),
            (no or _tr("否"), QMessageBox.ButtonRole.NoRole),
        ],
    )
    outer: asyncio.Future[bool] = asyncio.get_event_loop().create_future()

    def settle(done: asyncio.Future[int | None]) -> None:
        if not outer.done():
            outer.set_result(done.result() == 0)

    inner.add_done_callback(settle)
    return outer


def mapped(asked: asyncio.Future[T], fn: Callable[[T], U]) -> asyncio.Future[U]:
    """A future of ``fn(answer)`` once ``asked`` resolves (for an ``ask`` that turns the
    dialog's answer into what its callers want)."""
    outer: asyncio.Future[U] = asyncio.get_event_loop().create_future()

    def settle(done: asyncio.Future[T]) -> None:
        if outer.done():
            return
        if done.cancelled():
            outer.cancel()
            return
        error = done.exception()
        if error is not None:
            outer.set_exception(error)
            return
        try:
            outer.set_result(fn(done.result()))
        except Exception as exc:
            outer.set_exception(exc)

    asked.add_done_callback(settle)
    return outer


def show_message(
    parent: QWidget | None,
    title: str,
    text: str,
    *,
    icon: QMessageBox.Icon = QMessageBox.Icon.Information,
    detail: str = "",
) -> QMessageBox:
    """Show a message with one 知道了 button; returns at once (no answer to wait for)."""
    box = QMessageBox(parent)
    box.setIcon(icon)
    box.setWindowTitle(title)
    box.setText(text)
    if detail:
        box.setDetailedText(detail)
    box.addButton(_tr("知道了"), QMessageBox.ButtonRole.AcceptRole)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.open()
    return box


def file_dialog(
    parent: QWidget | None, caption: str, directory: Path | str, name_filter: str
) -> QFileDialog:
    """Qt's own (widget) file dialog, never the platform's native one, which would spin
    its own loop on some desktops. The qtbase catalogue the app loads leaves two labels
    in English; they are set here."""
    dialog = QFileDialog(parent, caption, str(directory), name_filter)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setLabelText(QFileDialog.DialogLabel.LookIn, _tr("位置："))
    dialog.setLabelText(QFileDialog.DialogLabel.FileType, _tr("文件类型："))
    return dialog


def ask_open_file(
    parent: QWidget | None, caption: str, directory: Path | str, name_filter: str
) -> asyncio.Future[Path | None]:
    """Choose an existing file; resolves to its path, or None when cancelled."""
    dialog = file_dialog(parent, caption, directory, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
    return ask_dialog(dialog, lambda: Path(dialog.selectedFiles()[0]))


def ask_save_file(
    parent: QWidget | None,
    caption: str,
    suggested: Path | str,
    name_filter: str,
    *,
    suffix: str = "",
) -> asyncio.Future[Path | None]:
    """Choose where to save; resolves to the path (with ``suffix`` added if missing)."""
    suggested = Path(suggested)
    dialog = file_dialog(parent, caption, suggested.parent, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.selectFile(suggested.name)
    if suffix:
        dialog.setDefaultSuffix(suffix.lstrip("."))

    def answer() -> Path:
        path = Path(dialog.selectedFiles()[0])
        if suffix and path.suffix.lower() != suffix.lower():
            path = path.with_name(path.name + suffix)
        return path

    return ask_dialog(dialog, answer)
