"""The admin's page in the real main window against a real server: each tab opens; a
user is created through the real dialog (left open while the window syncs, answered
with the keyboard), given a new password through another, and then deactivated; a
feedback report is resolved; a holiday is added to the calendar and saved — and each
time the server's tables show it. Every model passes qtmodeltester.

``BANGBAN_SHOTS=<dir>`` keeps a screenshot of each tab at 1366×768 and 1920×1080.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QDialog, QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from core.settings import ClientSettings
from server import models as m
from sync.account import Account, open_account_cache
from sync.client import ApiClient
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from tests.ui.keyboard import type_text
from ui.main_window import MainWindow
from ui.panes.admin import AdminPane
from ui.worker import Workers


async def signed_in(workers: Workers, url: str, username: str) -> Account:
    api = ApiClient(url)
    result = await workers.on_net(api.login, username, DEMO_PASSWORD)
    cache, store, notices = await workers.on_db(open_account_cache, url, result.user, DEMO_PASSWORD)
    account = Account(url, result.user, api, cache, store, offline=False, notices=notices)
    return account


def send_feedback(server: LiveServer, username: str, text: str) -> str:
    api = ApiClient(server.url)
    api.login(username, DEMO_PASSWORD)
    with server.db() as db:
        entry = db.scalars(select(m.KnowledgeEntry).order_by(m.KnowledgeEntry.id)).first()
        assert entry is not None
        entry_id = entry.id
    feedback_id = str(uuid.uuid4())
    (answer,) = api.push(
        [
            {
                "mutation_id": str(uuid.uuid4()),
                "kind": "knowledge_feedback",
                "op": "create",
                "target_id": feedback_id,
                "base_seq": None,
                "payload": {
                    "feedback_id": feedback_id,
                    "entry_id": entry_id,
                    "kind": "correction",
                    "text": text,
                },
            }
        ]
    )
    assert answer["status"] == "applied", answer
    return feedback_id


def open_dialog(parent: QWidget, name: str) -> QDialog | None:
    found = parent.findChild(QDialog, name)
    return found if found is not None and found.isVisible() else None


async def sync_round_while_open(window: MainWindow) -> None:
    """Let the window's sync run a whole round while a dialog stays open."""
    before = window.sync.state.last_sync
    window.sync.request_sync()
    await wait_until(lambda: window.sync.state.last_sync != before, 20, "a sync round")


def go_to_admin_page(qtbot: QtBot, window: MainWindow) -> AdminPane:
    nav = window.nav
    row = next(i for i in range(nav.count()) if nav.item(i).text() == "管理")
    rect = nav.visualItemRect(nav.item(row))
    qtbot.mouseClick(nav.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    pane = window.admin_pane
    assert pane is not None and window.stack.currentWidget() is pane
    return pane


def click_tab(qtbot: QtBot, pane: AdminPane, index: int) -> None:
    bar = pane.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert pane.tabs.currentIndex() == index


async def shots(window: MainWindow, name: str) -> None:
    folder = os.environ.get("BANGBAN_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 768), (1920, 1080)):
        window.resize(width, height)
        await asyncio.sleep(0.3)  # let the layout settle (never processEvents in a coroutine)
        window.grab().save(str(Path(folder) / f"admin-{name}-{width}x{height}.png"))
    window.resize(1366, 768)


def free_weekday(server: LiveServer, year: int, today: date) -> date:
    """A weekday after today that is not a holiday yet."""
    with server.db() as db:
        row = db.get(m.CalendarYear, year)
        taken = set(row.holidays if row else [])
    day = today + timedelta(days=1)
    while day.weekday() >= 5 or day.isoformat() in taken:
        day += timedelta(days=1)
    assert day.year == year, "no free weekday left in the year"
    return day


def test_the_admin_works_every_tab_against_the_server(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    qtmodeltester: Any,
) -> None:
    wrong = send_feedback(live_server, "agent", "材料清单少了身份证复印件")
    today = date.today()
    if today.month == 12 and today.day >= 28:
        today = date(today.year, 12, 1)  # leave room for a weekday after "today"

    async def scenario() -> None:
        account = await signed_in(workers, live_server.url, "admin")
        window = MainWindow(account, workers, ClientSettings())
        qtbot.addWidget(window)
        window.resize(1366, 768)
        window.show()
        window.start()
        await wait_until(lambda: window.sync.state.last_sync is not None, 20, "first sync")
        pane = go_to_admin_page(qtbot, window)
        pane.today = lambda: today

        # -- 纠错/新问题: the review list, 处理 with a resolution -------------------------
        model = pane.feedback_model
        await wait_until(lambda: model.row_of(wrong) >= 0, 20, "the report listed")
        qtmodeltester.check(model)
        item = model.item_at(model.row_of(wrong))
        assert item is not None and item.author_name == "李晓雯" and item.status == "open"
        assert model.index(model.row_of(wrong), model.COL_KIND).data() == "纠错"
        pane.feedback_view.selectRow(model.row_of(wrong))
        await shots(window, "feedback")
        qtbot.mouseClick(pane.resolve_button, Qt.MouseButton.LeftButton)
        dialog = await wait_until(lambda: open_dialog(pane, "resolveFeedbackDialog"), 10, "处理")
        await sync_round_while_open(window)
        assert dialog.isVisible()
        type_text(qtbot, dialog.note, "已补充到材料清单")
        qtbot.keyClick(dialog.resolution, Qt.Key.Key_Return)

        def resolved() -> bool:
            with live_server.db() as db:
                row = db.get(m.KnowledgeFeedback, wrong)
                return row is not None and row.status == "accepted"

        await wait_until(resolved, 20, "the server's report accepted")
        with live_server.db() as db:
            row = db.get(m.KnowledgeFeedback, wrong)
            assert row is not None and row.resolution_note == "已补充到材料清单"
        # The open list no longer has it.
        await wait_until(lambda: model.row_of(wrong) < 0, 10, "the report left the open list")
        assert "已处理" in pane.message.text()

        # -- 用户: create through the real dialog, then deactivate --------------------------
        click_tab(qtbot, pane, pane.TAB_USERS)
        users = pane.user_model
        await wait_until(lambda: users.rowCount() >= 9, 20, "users listed")
        qtmodeltester.check(users)
        await shots(window, "users")
        qtbot.mouseClick(pane.new_user_button, Qt.MouseButton.LeftButton)
        form = await wait_until(lambda: open_dialog(pane, "adminUserDialog"), 10, "新建用户")
        await sync_round_while_open(window)
        assert form.isVisible()
        type_text(qtbot, form.username, "zhouming")
        type_text(qtbot, form.display_name, "周明")
        form.team.setFocus()
        for _ in range(form.team.count()):
            if form.team.currentData() == "team-zx":
                break
            qtbot.keyClick(form.team, Qt.Key.Key_Down)
        assert form.team.currentText() == "综合咨询组"
        type_text(qtbot, form.staff_number, "JN-0130")
        form.capacity.setFocus()
        qtbot.keyClick(form.capacity, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClicks(form.capacity, "3")
        type_text(qtbot, form.password, "Chuntian-2026")
        type_text(qtbot, form.password_again, "Chuntian-2025")
        qtbot.keyClick(form.password_again, Qt.Key.Key_Return)
        # A mismatch keeps the dialog open and says so.
        assert form.isVisible() and "两次输入的密码不一致" in form.error.text()
        if os.environ.get("BANGBAN_SHOTS"):
            form.grab().save(str(Path(os.environ["BANGBAN_SHOTS"]) / "admin-user-dialog.png"))
        form.password_again.clear()
        type_text(qtbot, form.password_again, "Chuntian-2026")
        qtbot.keyClick(form.password_again, Qt.Key.Key_Return)

        def created() -> m.User | None:
            with live_server.db() as db:
                return db.scalar(select(m.User).where(m.User.username == "zhouming"))

        new = await wait_until(created, 20, "the user on the server")
        assert (new.display_name, new.role, new.team_id) == ("周明", "agent", "team-zx")
        assert (new.staff_number, new.capacity, new.active) == ("JN-0130", 3, True)
        ApiClient(live_server.url).login("zhouming", "Chuntian-2026")  # the password works
        await wait_until(lambda: users.row_of(new.id) >= 0, 10, "the new user listed")
        assert pane.users_view.selectionModel().selectedRows()[0].row() == users.row_of(new.id)
        # 重置密码: the real dialog, left open while a sync round runs.
        qtbot.mouseClick(pane.password_button, Qt.MouseButton.LeftButton)
        reset = await wait_until(lambda: open_dialog(pane, "adminPasswordDialog"), 10, "重置密码")
        await sync_round_while_open(window)
        assert reset.isVisible()
        type_text(qtbot, reset.password, "Xiaxue-2027")
        type_text(qtbot, reset.password_again, "Xiaxue-2027")
        qtbot.keyClick(reset.password_again, Qt.Key.Key_Return)
        await wait_until(lambda: "已为 周明 重置密码" in pane.message.text(), 20, "reset said")
        ApiClient(live_server.url).login("zhouming", "Xiaxue-2027")  # the new password works
        # 停用: asked in a message box, answered with the keyboard.
        qtbot.mouseClick(pane.active_button, Qt.MouseButton.LeftButton)
        box = await wait_until(
            lambda: next((w for w in pane.findChildren(QMessageBox) if w.isVisible()), None),
            10,
            "停用 asked",
        )
        assert "周明" in box.text()
        default = box.defaultButton()
        assert isinstance(default, QPushButton) and default.text() == "停用"
        qtbot.keyClick(box, Qt.Key.Key_Return)

        def deactivated() -> bool:
            with live_server.db() as db:
                row = db.get(m.User, new.id)
                return row is not None and not row.active

        await wait_until(deactivated, 20, "the user deactivated on the server")
        await wait_until(
            lambda: users.index(users.row_of(new.id), users.COL_ACTIVE).data() == "已停用",
            10,
            "the list says deactivated",
        )

        # -- 工作日历: add a holiday, save -------------------------------------------------
        click_tab(qtbot, pane, pane.TAB_CALENDAR)
        await pane.load_calendar(today.year)
        qtmodeltester.check(pane.days_model)
        assert pane.calendar_published
        day = free_weekday(live_server, today.year, today)
        pane.month_grid.setSelectedDate(QDate(day.year, day.month, day.day))
        assert pane.holiday_button.isEnabled() and not pane.workday_button.isEnabled()
        qtbot.mouseClick(pane.holiday_button, Qt.MouseButton.LeftButton)
        assert pane.days_model.row_of(day) >= 0 and pane.save_calendar_button.isEnabled()
        assert "未保存" in pane.calendar_dirty.text()
        await shots(window, "calendar")
        qtbot.mouseClick(pane.save_calendar_button, Qt.MouseButton.LeftButton)

        def saved() -> bool:
            with live_server.db() as db:
                row = db.get(m.CalendarYear, today.year)
                return row is not None and day.isoformat() in row.holidays

        await wait_until(saved, 20, "the holiday on the server")
        await wait_until(lambda: not pane.save_calendar_button.isEnabled(), 10, "saved state")
        with live_server.db() as db:
            actions = {a.action for a in db.scalars(select(m.AuditLog))}
        assert {
            "user.create",
            "user.deactivate",
            "knowledge_feedback.resolve",
            "calendar.update",
        } <= actions
        if os.environ.get("BANGBAN_SHOTS"):
            pane.month_grid.setSelectedDate(QDate(today.year, 10, 9))  # the National Day week
            await shots(window, "calendar-october")
        window.close()
        await window.sync.wait_idle()
        account.close()

    qloop.run_until_complete(scenario())


def test_a_report_another_admin_resolved_first_is_refused_in_words(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
) -> None:
    first = send_feedback(live_server, "wangfang", "公积金提取的办理时限写错了")

    async def scenario() -> None:
        account = await signed_in(workers, live_server.url, "admin")
        pane = AdminPane(workers, account.api, me_id=account.user.id)
        qtbot.addWidget(pane)
        pane.resize(1200, 700)
        pane.show()
        await wait_until(lambda: pane.feedback_model.row_of(first) >= 0, 20, "listed")
        # Another admin answers first, behind this page's back.
        other = ApiClient(live_server.url)
        other.login("admin", DEMO_PASSWORD)
        other.post(f"/admin/knowledge-feedback/{first}/resolve", {"resolution": "accepted"})
        pane.feedback_view.selectRow(pane.feedback_model.row_of(first))
        qtbot.mouseClick(pane.resolve_button, Qt.MouseButton.LeftButton)
        dialog = await wait_until(lambda: open_dialog(pane, "resolveFeedbackDialog"), 10, "处理")
        # 不采纳 without a reason is caught by the form before anything is sent.
        dialog.resolution.setFocus()
        qtbot.keyClick(dialog.resolution, Qt.Key.Key_Down)
        assert dialog.resolution.currentData() == "rejected"
        qtbot.keyClick(dialog.resolution, Qt.Key.Key_Return)
        assert dialog.isVisible() and "请写明原因" in dialog.error.text()
        type_text(qtbot, dialog.note, "重复反馈")
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "已由 许文博 处理" in pane.message.text(), 20, "the refusal")
        with live_server.db() as db:
            row = db.get(m.KnowledgeFeedback, first)
            assert row is not None and row.status == "accepted"  # the first answer stands
        await wait_until(lambda: pane.feedback_model.row_of(first) < 0, 10, "list reloaded")
        pane.stop()
        account.close()

    qloop.run_until_complete(scenario())
