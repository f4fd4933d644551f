"""Focus follows the page: after every kind of page switch (Alt+1…4, a click in the
navigation list, a switch made by code) each page's shortcuts work and what is typed
lands where a person would type — whichever widget had the focus before."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QApplication, QWidget
from pytestqt.qtbot import QtBot

from core.settings import ClientSettings
from sync.account import Account
from tests.support import LiveServer, wait_until
from tests.ui.test_session_console import sign_in
from ui.main_window import MainWindow
from ui.worker import Workers

QUIET = ClientSettings(sync_interval_seconds=3600)
CTRL = Qt.KeyboardModifier.ControlModifier
ALT = Qt.KeyboardModifier.AltModifier
DIGITS = [Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_4]


def focused() -> QWidget | None:
    return QApplication.focusWidget()


def inside(widget: QWidget) -> bool:
    f = focused()
    return f is not None and (f is widget or widget.isAncestorOf(f))


class Person:
    """Presses keys as a keyboard does: into whatever has the focus now."""

    def __init__(self, qtbot: QtBot, window: MainWindow) -> None:
        self.qtbot = qtbot
        self.window = window

    def target(self) -> QWidget:
        return focused() or self.window

    def press(
        self, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
    ) -> None:
        self.qtbot.keyClick(self.target(), key, modifier)

    def type(self, text: str) -> None:
        self.qtbot.keyClicks(self.target(), text)


@pytest.fixture
def lead_window(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    tmp_path: Path,
) -> Iterator[MainWindow]:
    opened: list[tuple[MainWindow, Account]] = []

    async def open_window() -> MainWindow:
        account = await workers.on_net(sign_in, live_server.url, "lead", tmp_path)
        window = MainWindow(account, workers, QUIET)
        qtbot.addWidget(window)
        window.resize(1366, 768)
        window.show()
        window.start()
        opened.append((window, account))
        pane = window.sessions_pane
        await wait_until(lambda: pane.waiting_proxy.rowCount() > 0, 20, "sessions")
        await wait_until(lambda: window.knowledge_pane.model.rowCount() > 0, 20, "knowledge")
        window.activateWindow()
        await wait_until(window.isActiveWindow, 5, "window active")
        return window

    yield qloop.run_until_complete(open_window())

    async def close() -> None:
        for window, account in opened:
            # pytest-qt may have closed and deleted the window already (``addWidget``).
            if shiboken6.isValid(window):
                window.close()
                await window.sync.wait_idle()
                await window.live.wait_stopped()
            account.close()

    qloop.run_until_complete(close())


def switches(qtbot: QtBot, window: MainWindow) -> dict[str, Callable[[int], None]]:
    """The ways a person (or the app) brings page ``row`` to the front."""

    def by_alt(row: int) -> None:
        Person(qtbot, window).press(DIGITS[row], ALT)

    def by_click(row: int) -> None:
        rect = window.nav.visualItemRect(window.nav.item(row))
        qtbot.mouseClick(window.nav.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    def by_code(row: int) -> None:
        page = window.nav.item(row).data(Qt.ItemDataRole.UserRole)
        window.show_page(page)

    return {"Alt": by_alt, "navigation": by_click, "code": by_code}


def check_console(qtbot: QtBot, window: MainWindow) -> None:
    pane = window.sessions_pane
    person = Person(qtbot, window)
    # Where a person types: the queue (a row selected), or its filter.
    assert inside(pane.queues.currentWidget()) or focused() is pane.filter_edit, focused()
    for queue, key in enumerate(DIGITS):
        person.press(key, CTRL)
        assert pane.queues.currentIndex() == queue
        view = pane.queues.currentWidget()
        assert isinstance(view, QAbstractItemView) and view.hasFocus()
    person.press(Qt.Key.Key_F, CTRL)
    assert focused() is pane.filter_edit
    person.type("zzz")
    assert pane.filter_edit.text() == "zzz"
    pane.filter_edit.clear()
    person.press(Qt.Key.Key_2, CTRL)
    assert pane.queues.currentIndex() == pane.QUEUE_MINE
    # Ctrl+K: into the tool at hand, on a field that takes keys.
    pane.show_tool(window.session_knowledge)
    person.press(Qt.Key.Key_K, CTRL)
    assert focused() is window.session_knowledge.search
    person.type("gjj")
    assert window.session_knowledge.search.text() == "gjj"
    # Ctrl+F inside the knowledge tool is the tool's search; from elsewhere the filter.
    person.press(Qt.Key.Key_Down)
    person.press(Qt.Key.Key_F, CTRL)
    assert focused() is window.session_knowledge.search
    window.session_knowledge.search.clear()
    pane.show_tool(pane.guide)
    person.press(Qt.Key.Key_M, CTRL)
    assert focused() is pane.view.note_edit
    person.press(Qt.Key.Key_F, CTRL)
    assert focused() is pane.filter_edit
    person.press(Qt.Key.Key_1, CTRL)
    assert pane.queues.currentIndex() == pane.QUEUE_WAITING


def check_knowledge(qtbot: QtBot, window: MainWindow) -> None:
    pane = window.knowledge_pane
    person = Person(qtbot, window)
    assert focused() is pane.search
    person.type("abc")
    assert pane.search.text() == "abc"
    person.press(Qt.Key.Key_Down)
    assert focused() is not pane.search
    person.press(Qt.Key.Key_F, CTRL)
    assert focused() is pane.search and pane.search.selectedText() == "abc"
    pane.search.clear()


def check_walkthroughs(_qtbot: QtBot, window: MainWindow) -> None:
    assert focused() is window.walkthrough_pane.table


def check_board(qtbot: QtBot, window: MainWindow) -> None:
    pane = window.team_pane
    assert pane is not None
    person = Person(qtbot, window)
    queue = window.sessions_pane.queues.currentIndex()
    assert focused() is pane.agents_view
    person.press(Qt.Key.Key_2, CTRL)
    assert pane.tabs.currentIndex() == pane.TAB_FIGURES and inside(pane.tabs.currentWidget())
    person.press(Qt.Key.Key_3, CTRL)
    assert pane.tabs.currentIndex() == pane.TAB_RECTIFICATIONS
    assert focused() is pane.rect_view
    person.press(Qt.Key.Key_1, CTRL)
    assert pane.tabs.currentIndex() == pane.TAB_BOARD and focused() is pane.agents_view
    # The console's Ctrl+1…4 are off while the board shows (no ambiguity, no side effect).
    assert window.sessions_pane.queues.currentIndex() == queue


CHECKS = [check_console, check_knowledge, check_walkthroughs, check_board]


def test_every_page_switch_leaves_the_keyboard_where_a_person_types(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, lead_window: MainWindow
) -> None:
    window = lead_window
    assert window.nav.count() == len(CHECKS)

    async def scenario() -> None:
        for how, switch in switches(qtbot, window).items():
            for row, check in enumerate(CHECKS):
                # Come from each other page, with the focus wherever that page left it.
                for other in range(len(CHECKS)):
                    if other == row:
                        continue
                    switch(other)
                    assert window.stack.currentIndex() == other, (how, other)
                    switch(row)
                    assert window.stack.currentIndex() == row, (how, row)
                    await asyncio.sleep(0)
                    try:
                        check(qtbot, window)
                    except AssertionError as exc:
                        raise AssertionError(f"{how} switch {other} → {row}: {exc}") from exc

    qloop.run_until_complete(scenario())


def test_arrow_keys_in_the_navigation_keep_it_and_shortcuts_still_work(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, lead_window: MainWindow
) -> None:
    window = lead_window
    person = Person(qtbot, window)
    pane = window.sessions_pane

    async def scenario() -> None:
        window.nav.setFocus()
        person.press(Qt.Key.Key_Down)
        assert window.stack.currentIndex() == 1 and focused() is window.nav
        person.press(Qt.Key.Key_Down)
        assert window.stack.currentIndex() == 2 and focused() is window.nav
        person.press(Qt.Key.Key_Up)
        person.press(Qt.Key.Key_Up)
        assert window.stack.currentWidget() is pane and focused() is window.nav
        person.press(Qt.Key.Key_3, CTRL)
        assert pane.queues.currentIndex() == pane.QUEUE_CLOSED
        window.nav.setFocus()
        person.press(Qt.Key.Key_F, CTRL)
        assert focused() is pane.filter_edit

    qloop.run_until_complete(scenario())
