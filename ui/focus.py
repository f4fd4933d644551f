"""Where the keyboard goes when a page or a tool comes to the front.

A page (or a tool beside a session) that knows where a person would type next
defines ``take_focus()``; :func:`focus_into` calls it, and otherwise gives the focus
to the first visible, enabled widget inside that accepts Tab focus. Never to a
container that takes no keys: typed text would be lost until a click.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

REASON = Qt.FocusReason.ShortcutFocusReason


def _takes_keys(widget: QWidget) -> bool:
    return bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus) and widget.isEnabled()


def first_focusable(widget: QWidget) -> QWidget | None:
    """The first widget in ``widget``'s focus chain, itself included, that takes keys."""
    if _takes_keys(widget) and widget.isVisible():
        return widget
    candidate = widget.nextInFocusChain()
    seen = 0
    while candidate is not None and candidate is not widget and seen < 2000:
        seen += 1
        if widget.isAncestorOf(candidate) and candidate.isVisible() and _takes_keys(candidate):
            return candidate
        candidate = candidate.nextInFocusChain()
    return None


def focus_into(widget: QWidget | None) -> None:
    """Give the keyboard to ``widget``'s own choice, or to its first field."""
    if widget is None:
        return
    take = getattr(widget, "take_focus", None)
    if callable(take):
        take()
        return
    target = first_focusable(widget)
    (target or widget).setFocus(REASON)


def has_focus_inside(widget: QWidget, focused: QWidget | None) -> bool:
    """Whether ``focused`` is ``widget`` or one of its children."""
    return focused is not None and (focused is widget or widget.isAncestorOf(focused))
