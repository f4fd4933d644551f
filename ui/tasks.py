"""Fire-and-forget coroutines that are kept alive and whose errors are logged.

A task may belong to a Qt object (``spawn(coro, owner=widget)``, or a slot declared
with :func:`owned_slot`). Closing a window calls :func:`cancel_owned` with it, which
cancels every task owned by the window or by anything inside it: nothing a closed
window started runs on after it (against a cache that is closing, or after the loop
has stopped).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Slot

from ui.errors import report_unexpected

log = logging.getLogger(__name__)

_running: set[asyncio.Task[Any]] = set()
_owners: weakref.WeakValueDictionary[asyncio.Task[Any], QObject] = weakref.WeakValueDictionary()
"""Held weakly: a task must not keep its owner's wrapper alive after the owner is gone
(nor until the interpreter's last garbage collection, when Qt is already torn down)."""


def spawn(coro: Coroutine[Any, Any, Any], owner: QObject | None = None) -> asyncio.Task[Any]:
    """Run ``coro`` in the background; with an ``owner``, it ends with the owner's window."""
    task = asyncio.ensure_future(coro)
    _running.add(task)
    if owner is not None:
        _owners[task] = owner
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    _owners.pop(task, None)
    if not task.cancelled() and (exc := task.exception()) is not None:
        # Logged, and shown once the app's error handlers are installed (ui.errors).
        report_unexpected(f"background task failed: {task.get_coro()!r}", exc)


def _inside(obj: QObject, root: QObject) -> bool:
    """Whether ``obj`` is ``root`` or one of its descendants (a deleted object counts:
    what it started has nothing left to report to)."""
    current: QObject | None = obj
    while current is not None:
        if not shiboken6.isValid(current):
            return True
        if current is root:
            return True
        current = current.parent()
    return False


def owned_by(root: QObject) -> list[asyncio.Task[Any]]:
    """The unfinished tasks owned by ``root`` or by an object inside it."""
    return [t for t, owner in list(_owners.items()) if not t.done() and _inside(owner, root)]


def cancel_owned(root: QObject) -> int:
    """Cancel every task owned by ``root`` or inside it; returns how many."""
    tasks = owned_by(root)
    for task in tasks:
        task.cancel()
    return len(tasks)


def owned_slot(*types: type) -> Callable[[Callable[..., Coroutine[Any, Any, Any]]], Any]:
    """A coroutine method as a Qt slot (like ``qasync.asyncSlot``) whose task belongs to
    the object: closing its window cancels it (:func:`cancel_owned`).

    Qt drops a signal's trailing arguments that a slot does not take; Python does not,
    so the arguments are trimmed from the end until the method accepts them.
    """

    def decorate(method: Callable[..., Coroutine[Any, Any, Any]]) -> Any:
        signature = inspect.signature(method)

        @Slot(*types)
        @functools.wraps(method)
        def slot(*args: Any) -> asyncio.Task[Any]:
            given = list(args)
            while True:
                try:
                    signature.bind(*given)
                    break
                except TypeError:
                    if len(given) <= 1:
                        raise
                    given.pop()
            owner = given[0] if isinstance(given[0], QObject) else None
            return spawn(method(*given), owner=owner)

        return slot

    return decorate
