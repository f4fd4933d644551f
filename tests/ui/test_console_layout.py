"""A layout that holds still: the console's three panels keep their widths across
selections, reveals and a screen share's states; the share panel fits a 1280 px
window; at 1366×768 the knowledge beside a session shows six hits and 统计 ten rows;
the person's own division of the console comes back next time (per user)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QAbstractItemView, QListView, QTableView
from pytestqt.qtbot import QtBot

from core.enums import SessionState
from core.settings import ClientSettings
from sync.account import Account
from tests.share_support import consent_over_http
from tests.support import LiveServer, wait_until
from tests.ui.keyboard import type_text
from tests.ui.test_session_console import sign_in
from ui.main_window import MainWindow
from ui.worker import Workers

QUIET = ClientSettings(sync_interval_seconds=3600)


class Opener:
    def __init__(self, qtbot: QtBot, workers: Workers, url: str, home: Path) -> None:
        self.qtbot = qtbot
        self.workers = workers
        self.url = url
        self.home = home
        self.open: list[tuple[MainWindow, Account]] = []

    async def window(self, username: str, width: int, height: int) -> MainWindow:
        account = await self.workers.on_net(sign_in, self.url, username, self.home)
        window = MainWindow(account, self.workers, QUIET)
        self.qtbot.addWidget(window)
        window.resize(width, height)
        window.show()
        window.start()
        self.open.append((window, account))
        await wait_until(lambda: window.sessions_pane.model.rowCount() > 0, 20, "sessions")
        await wait_until(lambda: window.live.listener.connected, 10, "live events")
        await asyncio.sleep(0.2)  # let the first layout pass settle
        return window

    async def close_all(self) -> None:
        for window, _account in list(self.open):
            await self.close(window)

    async def close(self, window: MainWindow) -> None:
        for shown, account in list(self.open):
            if shown is window:
                window.close()
                await window.sync.wait_idle()
                await window.live.wait_stopped()
                account.close()
                self.open.remove((shown, account))


@pytest.fixture
def opener(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    tmp_path: Path,
) -> Iterator[Opener]:
    made = Opener(qtbot, workers, live_server.url, tmp_path)
    yield made
    if made.open:  # a test that failed half-way
        qloop.run_until_complete(made.close_all())


def whole_rows_visible(view: QAbstractItemView) -> int:
    """Rows shown from top to bottom without being cut off."""
    model = view.model()
    height = view.viewport().height()
    count = 0
    for row in range(model.rowCount()):
        rect = view.visualRect(model.index(row, 0))
        if rect.top() >= 0 and rect.bottom() <= height:
            count += 1
    return count


async def settle() -> None:
    """Let Qt's queued layout passes run (the loop runs them while we sleep)."""
    for _ in range(4):
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("size", [(1366, 768), (1280, 800)])
def test_the_console_panels_keep_their_widths(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    opener: Opener,
    size: tuple[int, int],
) -> None:
    async def scenario() -> None:
        window = await opener.window("agent", *size)
        pane = window.sessions_pane
        await settle()
        widths = pane.splitter.sizes()
        assert window.width() == size[0]
        mine = [
            s.id
            for s in pane._sessions.values()
            if s.assignee_id == pane.me.id and s.state == SessionState.ACTIVE
        ]
        others = [s.id for s in pane._sessions.values() if s.id not in mine][:4]
        # Selections of every kind of session, in every queue.
        for session_id in others + mine:
            assert pane.select_session(session_id)
            await wait_until(
                lambda sid=session_id: pane.view.detail and pane.view.detail.session.id == sid,
                5,
                "detail shown",
            )
            await settle()
            assert pane.splitter.sizes() == widths, session_id
        # Every tool in turn.
        for tool in range(pane.tools.count()):
            pane.tools.setCurrentIndex(tool)
            await settle()
            assert pane.splitter.sizes() == widths, pane.tools.tabText(tool)
        # A screen share: started, opened and agreed to by the caller.
        panel = window.share_panel
        pane.show_tool(panel)
        await wait_until(lambda: panel.start_button.isEnabled(), 20, "online and mine")
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        link = await wait_until(lambda: panel.link, 10, "link created")
        await wait_until(lambda: panel.qr_label.isVisible(), 5, "QR shown")
        await settle()
        assert pane.splitter.sizes() == widths, "live share"
        assert window.width() == size[0], "the share panel fits the window"
        assert panel.qr_label.pixmap().width() <= 160
        await asyncio.get_running_loop().run_in_executor(None, consent_over_http, link.join_url)
        await wait_until(lambda: "已同意" in panel.state_label.text(), 15, "consent shown")
        await settle()
        assert pane.splitter.sizes() == widths, "consented share"
        assert window.width() == size[0]
        # Everything of the share card inside the tools area, nothing cut at the right.
        right = pane.tools.mapToGlobal(pane.tools.rect().topRight()).x()
        for part in (panel.revoke_button, panel.copy_sms_button, panel.link_edit, panel.qr_label):
            assert part.mapToGlobal(part.rect().topRight()).x() <= right, part.objectName()
        # Every queue's tab is on screen (no scroll arrows hiding 今日已办结).
        bar = pane.queues.tabBar()
        assert bar.sizeHint().width() <= pane.queues.width()
        assert not pane.queues.usesScrollButtons() or all(
            bar.tabRect(i).right() <= bar.width() for i in range(bar.count())
        )
        await opener.close_all()

    qloop.run_until_complete(scenario())


def test_at_1366x768_six_hits_beside_the_session_and_ten_rows_of_figures(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, opener: Opener
) -> None:
    async def scenario() -> None:
        window = await opener.window("lead", 1366, 768)
        pane = window.sessions_pane
        knowledge = window.session_knowledge
        pane.show_tool(knowledge)
        await wait_until(lambda: knowledge.model.rowCount() > 0, 20, "knowledge listed")
        type_text(qtbot, knowledge.search, "社保")
        await wait_until(lambda: knowledge.current_query == "社保", 10, "searched")
        await wait_until(lambda: knowledge.model.rowCount() >= 6, 10, "hits")
        await settle()
        results: QListView = knowledge.results
        assert whole_rows_visible(results) >= 6
        # 统计 of a month with data: ten and more indicator rows at once.
        board = window.team_pane
        assert board is not None
        window.show_page(window.PAGE_TEAM)
        board.tabs.setCurrentIndex(board.TAB_FIGURES)
        board.period_combo.setCurrentIndex(board.period_combo.findData("month"))
        board.date_edit.setDate(QDate.currentDate())
        qtbot.mouseClick(board.compute_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: board.figures is not None, 15, "figures")
        await settle()
        table: QTableView = board.figures_view
        assert table.model().rowCount() >= 10
        assert whole_rows_visible(table) >= 10
        await opener.close_all()

    qloop.run_until_complete(scenario())


def test_the_division_of_the_console_is_kept_per_user(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, opener: Opener
) -> None:
    async def scenario() -> None:
        window = await opener.window("agent", 1440, 900)
        splitter = window.sessions_pane.splitter
        await settle()
        default = splitter.sizes()
        # The person drags the first handle 60 px to the right.
        splitter.moveSplitter(default[0] + 60, 1)
        moved = splitter.sizes()
        assert moved != default and moved[0] == default[0] + 60
        await opener.close(window)

        again = await opener.window("agent", 1440, 900)
        await settle()
        assert again.sessions_pane.splitter.sizes() == moved
        other = await opener.window("lead", 1440, 900)
        await settle()
        assert other.sessions_pane.splitter.sizes() == default
        await opener.close_all()

    qloop.run_until_complete(scenario())
