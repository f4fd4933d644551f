"""Unexpected errors are logged and shown in words, never lost.

:func:`install_error_handlers` puts one :class:`ErrorReporter` behind
``sys.excepthook`` (an exception raised into Qt from a slot or an override),
``threading.excepthook`` (a worker thread) and the asyncio loop's exception
handler (a callback, or a task nobody awaited); :func:`ui.tasks.spawn` sends the
failures of background tasks to it too. Each is logged with its traceback and
shown in a non-blocking message box (:func:`ui.asking.show_message`) with the
traceback as its detail; while that box is open, further errors are counted in it
rather than piling up boxes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import traceback
from types import TracebackType
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from ui.asking import show_message

log = logging.getLogger(__name__)

_reporter: ErrorReporter | None = None


def _tr(text: str) -> str:
    return QCoreApplication.translate("errors", text)


class ErrorReporter(QObject):
    """Logs unexpected errors and shows them, one box at a time."""

    _raised = Signal(str, str)
    """(summary, traceback): emitted from any thread, shown on the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.box: QMessageBox | None = None
        self.repeats = 0
        self.shown: list[str] = []
        """The summary of every error shown or counted (for tests and the log)."""
        self._first = ""
        self._raised.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def report(self, what: str, exc: BaseException | None, *, trace: str = "") -> None:
        """Log ``exc`` (or ``what``) with its traceback and show it."""
        if exc is not None:
            log.error("%s", what, exc_info=(type(exc), exc, exc.__traceback__))
            trace = trace or "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            summary = f"{type(exc).__name__}: {exc}"
        else:
            log.error("%s", what)
            summary = what
        self._raised.emit(summary, trace or what)

    # -- the hooks ---------------------------------------------------------------------------

    def excepthook(
        self,
        kind: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        self.report("unexpected error", exc.with_traceback(tb))

    def threading_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or isinstance(args.exc_value, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "?"
        self.report(f"unexpected error in thread {name}", args.exc_value)

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message") or "asyncio error")
        if isinstance(exc, asyncio.CancelledError):
            return
        where = context.get("task") or context.get("future") or context.get("handle")
        what = f"{message} ({where!r})" if where is not None else message
        if isinstance(exc, BaseException):
            self.report(what, exc)
        else:
            self.report(what, None)

    # -- showing -------------------------------------------------------------------------------

    def _show(self, summary: str, trace: str) -> None:
        self.shown.append(summary)
        box = self.box
        if box is not None:
            try:
                box.isVisible()
            except RuntimeError:  # deleted on close
                box = self.box = None
        if box is not None:
            self.repeats += 1
            more = (
                _tr("同一错误又出现 {0} 次").format(self.repeats)
                if summary == self._first
                else _tr("之后又出现 {0} 个错误，详见日志").format(self.repeats)
            )
            box.setInformativeText(more)
            return
        self.repeats = 0
        self._first = summary
        parent = QApplication.activeWindow()
        self.box = show_message(
            parent,
            _tr("程序出现错误"),
            _tr(
                "程序内部出现了一个错误，已记入日志。当前工作已保存在本机，可继续使用；"
                "如果问题反复出现，请把日志发给管理员。"
            ),
            icon=QMessageBox.Icon.Critical,
            detail=trace,
        )
        self.box.setObjectName("unexpectedError")
        self.box.finished.connect(self._on_box_finished)

    def _on_box_finished(self, _result: int) -> None:
        self.box = None


def install_error_handlers(app: QCoreApplication, loop: asyncio.AbstractEventLoop) -> ErrorReporter:
    """Log and show every unexpected error of the app (call once, after the loop exists)."""
    global _reporter
    reporter = ErrorReporter(app)
    sys.excepthook = reporter.excepthook
    threading.excepthook = reporter.threading_hook
    loop.set_exception_handler(reporter.loop_handler)
    _reporter = reporter
    return reporter


def uninstall_error_handlers(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Put Python's own hooks back (tests)."""
    global _reporter
    sys.excepthook = sys.__excepthook__
    threading.excepthook = threading.__excepthook__
    if loop is not None:
        loop.set_exception_handler(None)
    _reporter = None


def report_unexpected(what: str, exc: BaseException) -> None:
    """Log ``exc``; show it too once :func:`install_error_handlers` has run."""
    if _reporter is not None:
        _reporter.report(what, exc)
    else:
        log.error("%s", what, exc_info=(type(exc), exc, exc.__traceback__))
