"""One way to run an operation from the UI.

In the spirit of Anki's ``CollectionOp`` / ``QueryOp`` (our own code): an
:class:`Op` says what runs on the database worker and/or the network pool and
what to do with the result; :meth:`Operations.run` does the rest, the same way
every time:

* the action or button that started it is disabled while it runs;
* a failure is reported one way: a Chinese message (the pane's own banner when it
  gave one, else a non-blocking message box) and, when it was not an expected
  refusal, the traceback in the log;
* what the op changed in the cache (a :class:`core.localstore.changes.Changes`) is
  handed to every listener — the main window's ``refresh``, which lets each pane
  decide what to reload (Anki's ``on_operation_did_execute``);
* when the op put something in the outbox, sync is told once.

Panes never call ``Workers.on_db`` / ``on_net`` themselves, and never catch errors
of their own work ad hoc.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox, QWidget

from core.localstore.changes import Changes
from core.localstore.session_actions import ActionError
from core.localstore.team_actions import TeamActionError
from core.protocol import ProtocolError
from core.session_rules import RuleViolation
from sync.errors import SyncError
from ui.asking import show_message
from ui.tasks import spawn
from ui.worker import Workers

log = logging.getLogger(__name__)

T = TypeVar("T")

EXPECTED: tuple[type[Exception], ...] = (
    ActionError,
    TeamActionError,
    SyncError,
    ProtocolError,
    RuleViolation,
)
"""Failures that are refusals with a message for the person, not defects."""

Listener = Callable[[Changes], "Awaitable[None] | None"]
Trigger = QAction | QWidget


def _tr(text: str) -> str:
    return QCoreApplication.translate("operations", text)


def failure_text(exc: BaseException, expected: tuple[type[Exception], ...] = EXPECTED) -> str:
    """What the person reads about a failure: an expected refusal's own (Chinese)
    message, else a general sentence (the details go to the log)."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, EXPECTED + expected):
        message = getattr(exc, "message", None) or getattr(exc, "reason", None) or str(exc)
        if message:
            return str(message)
    return _tr("出现内部错误，操作未完成（详情已记入日志）")


@dataclass
class Op(Generic[T]):
    """One unit of work started from the UI.

    ``net`` runs on the network pool; ``db`` on the single database worker (given
    the network's answer when both are set). ``changes`` says what the result
    changed in the cache; ``outbox`` that the op queued actions for the server.
    """

    db: Callable[..., T] | None = None
    net: Callable[[], Any] | None = None
    changes: Callable[[T], Changes | None] | None = None
    outbox: bool = False
    success: Callable[[T], Awaitable[None] | None] | None = None
    """Runs after the change was handed out (show a confirmation, select a row)."""
    failure: Callable[[Exception], Awaitable[None] | None] | None = None
    """Runs after the failure was reported (put a form back, ask for a sync)."""
    report: Callable[[str], None] | None = None
    """Where the failure's text goes (a pane's banner); default: a message box."""
    prefix: str = ""
    """Put before the failure's text: ``改派未执行：``."""
    expected: tuple[type[Exception], ...] = EXPECTED
    trigger: Trigger | Sequence[Trigger] | None = None
    parent: QWidget | None = None
    title: str = ""
    """The message box's title when there is no ``report``."""


@dataclass
class Outcome(Generic[T]):
    """How an op ended: ``ok`` with its ``value``, or its ``error``."""

    ok: bool
    value: T | None = None
    error: Exception | None = None
    text: str = ""


class Operations(QObject):
    """Runs the operations of one window (or of one pane used on its own)."""

    failed = Signal(str)
    """The text shown for every failed op (tests and the status bar read it)."""
    finished = Signal(object)
    """The :class:`Changes` of an op that changed the cache, after the listeners ran."""

    def __init__(
        self,
        workers: Workers,
        *,
        local_change: Callable[[], Awaitable[None] | None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.workers = workers
        self.local_change = local_change
        self._listeners: list[Listener] = []
        self.running = 0

    def add_listener(self, listener: Listener) -> None:
        """``listener(changes)`` runs (awaited when it is a coroutine) after every op
        that changed something, in the order they were added."""
        self._listeners.append(listener)

    async def changed(self, changes: Changes) -> None:
        """Hand ``changes`` to every listener (an op's, or one made outside an op)."""
        if not changes:
            return
        for listener in list(self._listeners):
            try:
                await _maybe_await(listener(changes))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a pane failed to refresh after an operation")
        self.finished.emit(changes)

    async def outbox_grew(self) -> None:
        """Tell sync that the outbox grew (push soon, count the pending actions)."""
        if self.local_change is not None:
            await _maybe_await(self.local_change())

    def nudge_sync(self) -> None:
        """Ask for a sync without waiting (a refusal: the cache may be behind)."""
        if self.local_change is not None:
            spawn(self.outbox_grew(), owner=self)

    async def query(self, fn: Callable[..., T], *args: Any) -> T:
        """Read from the cache on the database worker (Anki's ``QueryOp``); a failure
        is the caller's to handle, as a read changes nothing."""
        return await self.workers.on_db(fn, *args)

    async def fetch(self, fn: Callable[..., T], *args: Any) -> T:
        """Call the server on the network pool; errors are the caller's to handle."""
        return await self.workers.on_net(fn, *args)

    def start(self, op: Op[T]) -> asyncio.Task[Outcome[T]]:
        """Run ``op`` in the background (from a plain slot)."""
        return spawn(self.run(op), owner=self)

    async def run(self, op: Op[T]) -> Outcome[T]:
        """Run ``op`` and report its end one way; never raises but for cancellation."""
        triggers = _triggers(op.trigger)
        was_enabled = [t.isEnabled() for t in triggers]
        for t in triggers:
            t.setEnabled(False)
        self.running += 1
        try:
            try:
                value = await self._work(op)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                return await self._failed(op, exc)
            try:
                changes = op.changes(value) if op.changes is not None else None
                if changes:
                    await self.changed(changes)
                if op.success is not None:
                    await _maybe_await(op.success(value))
                if op.outbox:
                    await self.outbox_grew()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("an operation's follow-up failed")
                # The work itself is done (and queued): only the follow-up went wrong.
                self._report(op, exc)
                return Outcome(False, value, exc, failure_text(exc))
            return Outcome(True, value)
        finally:
            self.running -= 1
            for t, enabled in zip(triggers, was_enabled, strict=True):
                if _alive(t):
                    t.setEnabled(enabled)

    async def _work(self, op: Op[T]) -> T:
        answer: Any = None
        if op.net is not None:
            answer = await self.workers.on_net(op.net)
        if op.db is not None:
            if op.net is not None:
                return await self.workers.on_db(op.db, answer)
            return await self.workers.on_db(op.db)
        return answer  # type: ignore[no-any-return]

    async def _failed(self, op: Op[T], exc: Exception) -> Outcome[T]:
        if isinstance(exc, op.expected):
            log.info("operation refused: %s", failure_text(exc))
        else:
            log.error("operation failed", exc_info=exc)
        text = self._report(op, exc)
        if op.failure is not None:
            try:
                await _maybe_await(op.failure(exc))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("an operation's failure handler failed")
        return Outcome(False, None, exc, text)

    def _report(self, op: Op[Any], exc: Exception) -> str:
        text = op.prefix + failure_text(exc, op.expected)
        if op.report is not None:
            op.report(text)
        else:
            show_message(
                op.parent,
                op.title or _tr("操作未完成"),
                text,
                icon=QMessageBox.Icon.Warning,
            )
        self.failed.emit(text)
        return text


def _triggers(trigger: Trigger | Sequence[Trigger] | None) -> list[Trigger]:
    if trigger is None:
        return []
    if isinstance(trigger, QAction | QWidget):
        return [trigger]
    return list(trigger)


def _alive(obj: QObject) -> bool:
    try:
        obj.objectName()
    except RuntimeError:  # deleted while the op ran (its window closed)
        return False
    return True


async def _maybe_await(result: Any) -> None:
    if inspect.isawaitable(result):
        await result
