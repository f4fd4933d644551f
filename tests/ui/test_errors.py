"""Unexpected errors: logged with their traceback and shown in Chinese, one box for a
burst of repeats, from a background task, the loop's callbacks and sys.excepthook."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from tests.support import wait_until
from tests.ui.dialog_driver import button, click, wait_closed
from ui.errors import install_error_handlers, uninstall_error_handlers
from ui.tasks import spawn


def boxes() -> list[QMessageBox]:
    return [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, QMessageBox) and w.isVisible() and w.objectName() == "unexpectedError"
    ]


def test_errors_are_logged_shown_once_and_counted(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    app = QApplication.instance()
    assert app is not None
    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    reporter = install_error_handlers(app, qloop)

    async def fails() -> None:
        raise ValueError("坏数据")

    async def scenario() -> None:
        spawn(fails())
        await wait_until(boxes, 5, "the error shown")
        [box] = boxes()
        assert box.windowTitle() == "程序出现错误"
        assert "已记入日志" in box.text()
        assert "ValueError: 坏数据" in box.detailedText()
        # Two more of the same, and one from a loop callback: still one box, counted.
        spawn(fails())
        spawn(fails())
        await wait_until(lambda: "又出现 2 次" in box.informativeText(), 5, "repeats counted")
        qloop.call_soon(lambda: 1 / 0)
        await wait_until(lambda: len(reporter.shown) == 4, 5, "the callback's error")
        assert "又出现 3 个错误" in box.informativeText()
        assert len(boxes()) == 1
        await click(qtbot, button(box, "知道了"))
        await wait_closed(box)
        # After it was closed, the next one opens a box again (sys.excepthook this time).
        try:
            raise RuntimeError("槽函数出错")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
        await wait_until(boxes, 5, "shown again")
        [again] = boxes()
        assert "RuntimeError: 槽函数出错" in again.detailedText()
        await click(qtbot, button(again, "知道了"))
        await wait_closed(again)

    try:
        qloop.run_until_complete(scenario())
    finally:
        uninstall_error_handlers(qloop)
    logged: list[Any] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 5 and all(r.exc_info for r in logged)
    caplog.clear()
