"""The lead's board against a real server: drag a session onto an agent, race another
lead, move everything of an agent who went offline, the return timer, the figures and
their exports, and the rectification follow-up. Every model passes qtmodeltester."""

from __future__ import annotations

import asyncio
import csv
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from PySide6.QtCore import QDate, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QInputMethodEvent
from PySide6.QtWidgets import QApplication, QTableView, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from core.localstore.session_actions import Me, SessionActions, TransitionRequest
from core.session_rules import Action
from core.settings import ClientSettings
from server import models as m
from sync.account import Account, open_account_cache
from sync.client import ApiClient
from sync.engine import SyncEngine
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from tests.team_support import add_lead, arrange_figures
from tests.ui.dialog_driver import answered
from ui.dialogs.team_dialogs import (
    SPREAD,
    ExportDialog,
    MoveAllAnswer,
    MoveAllDialog,
    ReassignReasonDialog,
    RectificationAnswer,
    RectificationDialog,
)
from ui.models.team_board import SESSION_MIME
from ui.models.team_figures import OverdueRole
from ui.panes.team_board import TeamBoardPane
from ui.sync_controller import SyncController
from ui.tasks import spawn
from ui.worker import Workers


def sid(ref: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{ref}"))


def user_id(server: LiveServer, username: str) -> int:
    with server.db() as db:
        return int(db.scalar(select(m.User.id).where(m.User.username == username)))


def assignee_of(server: LiveServer, session_id: str) -> int | None:
    with server.db() as db:
        row = db.get(m.Session, session_id)
        assert row is not None
        return row.assignee_id


def set_presence(server: LiveServer, **seen_seconds_ago: float | None) -> None:
    now = datetime.now()
    with server.db() as db:
        for username, ago in seen_seconds_ago.items():
            user = db.scalar(select(m.User).where(m.User.username == username))
            assert user is not None
            user.presence = "offline" if ago is None else "online"
            user.last_seen_at = None if ago is None else now - timedelta(seconds=ago)
        db.commit()


async def signed_in(workers: Workers, url: str, username: str) -> Account:
    api = ApiClient(url)
    result = await workers.on_net(api.login, username, DEMO_PASSWORD)
    cache, store, notices = await workers.on_db(open_account_cache, url, result.user, DEMO_PASSWORD)
    account = Account(url, result.user, api, cache, store, offline=False, notices=notices)
    return account


@dataclass
class Board:
    pane: TeamBoardPane
    sync: SyncController
    account: Account


@asynccontextmanager
async def lead_board(
    qtbot: QtBot,
    workers: Workers,
    url: str,
    settings: ClientSettings | None = None,
    wire: Callable[[TeamBoardPane], None] | None = None,
) -> AsyncIterator[Board]:
    """The lead's pane wired to a sync controller as the main window wires them
    (``wire`` connects more before the first board is loaded)."""
    account = await signed_in(workers, url, "lead")
    sync = SyncController(account, workers)
    pane = TeamBoardPane(workers, account, settings or ClientSettings())
    qtbot.addWidget(pane)
    if wire is not None:
        wire(pane)
    pane.local_change_made.connect(lambda: spawn(sync.local_change()))
    sync.data_changed.connect(pane.on_data_changed)
    pane.resize(1280, 760)
    pane.show()
    sync.start()
    await wait_until(lambda: sync.state.last_sync is not None, 20, "first sync")
    await pane.reload()
    try:
        yield Board(pane, sync, account)
    finally:
        pane.stop()
        sync.stop()
        await sync.wait_idle()
        account.close()


def row_where(view: QTableView, predicate: Callable[[str], bool], column: int = 0) -> int:
    model = view.model()
    for row in range(model.rowCount()):
        if predicate(str(model.index(row, column).data())):
            return row
    raise AssertionError("no such row")


def drag_onto_agent(pane: TeamBoardPane, source: QTableView, row: int, agent_row: int) -> None:
    """End a drag the way a person's drag ends: enter, move over and drop onto the
    agent's row of the agents view, with the source model's own drag data."""
    mime = source.model().mimeData([source.model().index(row, 0)])
    assert mime.hasFormat(SESSION_MIME)
    target = pane.agents_view
    point = QPointF(target.visualRect(target.model().index(agent_row, 0)).center())
    actions = Qt.DropAction.MoveAction | Qt.DropAction.CopyAction
    button, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    viewport = target.viewport()
    enter = QDragEnterEvent(point, actions, mime, button, mods)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted(), "the agents list accepts sessions"
    move = QDragMoveEvent(point, actions, mime, button, mods)
    QApplication.sendEvent(viewport, move)
    assert move.isAccepted(), "dropping onto this agent is allowed"
    QApplication.sendEvent(viewport, QDropEvent(point, actions, mime, button, mods))


@pytest.fixture(autouse=True)
def _quiet_server(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False


def test_drag_a_waiting_session_onto_an_agent_reassigns_it(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    qtmodeltester: Any,
) -> None:
    set_presence(live_server, agent=5, wangfang=5, liuyang=None)
    asked: list[tuple[str, str, str]] = []

    def reason(_cls: type, _parent: Any, summary: str, from_name: str, to_name: str) -> Any:
        asked.append((summary, from_name, to_name))
        return answered("王芳熟悉公积金业务")

    monkeypatch.setattr(ReassignReasonDialog, "ask", classmethod(reason))
    wangfang = user_id(live_server, "wangfang")
    target = sid("S001")

    async def scenario() -> None:
        async with lead_board(qtbot, workers, live_server.url) as board:
            pane = board.pane
            for model in (pane.agent_model, pane.queue_model, pane.sessions_model):
                qtmodeltester.check(model)
            queue_row = pane.queue_model.row_of(target)
            assert queue_row >= 0, "S001 waits in the queue"
            agent_row = row_where(pane.agents_view, lambda t: t.startswith("王芳"))
            assert "在线" in pane.agent_model.index(agent_row, 1).data()
            drag_onto_agent(pane, pane.queue_view, queue_row, agent_row)
            await wait_until(lambda: asked, 5, "the reason asked")
            assert asked[0][1:] == ("", "王芳")
            await wait_until(lambda: assignee_of(live_server, target) == wangfang, 15, "server")
            await wait_until(lambda: "已完成" in pane.message.text(), 15, "confirmed")
            # The board moves the session from the queue to 王芳.
            await wait_until(lambda: pane.queue_model.row_of(target) < 0, 10, "left the queue")
            pane.agents_view.selectRow(agent_row)
            assert pane.sessions_model.row_of(target) >= 0
            assert "王芳 的在办会话" in pane.sessions_title.text()
            qtmodeltester.check(pane.sessions_model)

    qloop.run_until_complete(scenario())
    with live_server.db() as db:
        row = db.get(m.Session, target)
        assert row is not None and row.state == "assigned"
        event = [e for e in row.events if e.kind == "reassigned"][-1]
        assert event.actor_name == "吴海燕" and event.detail["reason"] == "王芳熟悉公积金业务"
        told = db.scalars(
            select(m.Event).where(m.Event.kind == "session_reassigned", m.Event.user_id == wangfang)
        ).all()
        assert told, "the new assignee is told at once"


def test_a_second_lead_dragging_a_moved_session_is_told_what_happened(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_lead(live_server, "lead-b", "钱卫东")
    monkeypatch.setattr(ReassignReasonDialog, "ask", classmethod(lambda *_a: answered("均衡负载")))
    target = sid("S011")
    agent, wangfang, liuyang = (user_id(live_server, u) for u in ("agent", "wangfang", "liuyang"))

    async def scenario() -> None:
        async with lead_board(qtbot, workers, live_server.url) as board:
            pane = board.pane
            # The other lead moves it first, while this board still shows 李晓雯.
            other = ApiClient(live_server.url)
            other.login("lead-b", DEMO_PASSWORD)
            answer = other.post(
                f"/sessions/{target}/reassign",
                {"to_agent_id": wangfang, "expected_assignee_id": agent, "reason": "先到先得"},
            )
            assert answer["data"]["assignee_id"] == wangfang
            row = pane.sessions_model.row_of(target)
            assert row >= 0 and pane.sessions_model.session_at(row).assignee_id == agent  # type: ignore[union-attr]
            agent_row = row_where(pane.agents_view, lambda t: t.startswith("刘洋"))
            drag_onto_agent(pane, pane.sessions_view, row, agent_row)
            await wait_until(lambda: "未成功" in pane.message.text(), 15, "refusal shown")
            text = pane.message.text()
            assert "由 钱卫东 改派给 王芳" in text and "「改派」未执行" in text
            # The board shows the truth again.
            await wait_until(
                lambda: (
                    pane.board is not None
                    and pane.board.session(target) is not None
                    and pane.board.session(target).assignee_id == wangfang
                ),  # type: ignore[union-attr]
                10,
                "board refreshed",
            )

    qloop.run_until_complete(scenario())
    assert assignee_of(live_server, target) == wangfang
    assert liuyang != wangfang


def test_move_all_sessions_of_an_agent_who_went_offline(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # 李晓雯's client acted while offline: a 挂起 waits in her outbox.
    agent_api = ApiClient(live_server.url)
    agent_api.login("agent", DEMO_PASSWORD)
    from core.localstore.db import open_cache
    from core.localstore.store import LocalStore

    cache = open_cache(tmp_path / "agent-cache.sqlite3")
    agent_store = LocalStore(cache.sessions)
    agent_engine = SyncEngine(agent_api, agent_store)
    agent_engine.sync_blocking()
    me = agent_api.me()
    SessionActions(agent_store, Me(me.id, me.display_name, me.role, me.team_id)).transition(
        sid("S010"), TransitionRequest(Action.HOLD, reason="等来电人找材料")
    )
    set_presence(live_server, agent=None, wangfang=5, liuyang=5)
    mine = {sid(r) for r in ("S010", "S011", "S012", "S013")}
    answers: list[tuple[str, int]] = []

    def move_all(_cls: type, _parent: Any, name: str, count: int, _targets: Any) -> Any:
        answers.append((name, count))
        return answered(MoveAllAnswer(SPREAD, "坐席离线，会话改由在线同事跟进"))

    monkeypatch.setattr(MoveAllDialog, "ask", classmethod(move_all))

    async def scenario() -> None:
        async with lead_board(qtbot, workers, live_server.url) as board:
            pane = board.pane
            row = row_where(pane.agents_view, lambda t: t.startswith("李晓雯"))
            assert "离线" in pane.agent_model.index(row, 1).data()
            pane.agents_view.selectRow(row)
            assert pane.move_all_button.isEnabled()
            qtbot.mouseClick(pane.move_all_button, Qt.MouseButton.LeftButton)
            await wait_until(
                lambda: all(assignee_of(live_server, s) != me.id for s in mine), 20, "all moved"
            )

    qloop.run_until_complete(scenario())
    assert answers == [("李晓雯", 4)]
    wangfang, liuyang = user_id(live_server, "wangfang"), user_id(live_server, "liuyang")
    with live_server.db() as db:
        audit = db.scalars(select(m.AuditLog).where(m.AuditLog.action == "session.reassign")).all()
        assert {a.target_id for a in audit} == mine, "one mutation per session"
        assert {a.detail["reason"] for a in audit} == {"坐席离线，会话改由在线同事跟进"}
        # Spread by free capacity: both online colleagues get some.
        assert {a.detail["to_id"] for a in audit} == {wangfang, liuyang}
    # 李晓雯 comes back: her stale 挂起 is refused with what happened, in words.
    report = agent_engine.sync_blocking()
    assert len(report.rejected) == 1
    problems = agent_store.open_problems()
    assert len(problems) == 1 and "由 吴海燕 改派给" in problems[0].reason
    assert "「挂起」未执行" in problems[0].reason
    assert agent_store.session(sid("S010")) is None, "no longer hers on her screen"
    agent_api.close()
    cache.engine.dispose()


def test_the_return_timer_alerts_the_lead(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
) -> None:
    lead = ApiClient(live_server.url)
    lead.login("lead", DEMO_PASSWORD)
    target = sid("S002")
    lead.post(
        f"/sessions/{target}/reassign",
        {
            "to_agent_id": user_id(live_server, "liuyang"),
            "expected_assignee_id": None,
            "reason": "指定接待",
        },
    )
    with live_server.db() as db:
        row = db.get(m.Session, target)
        assert row is not None
        event = [e for e in row.events if e.kind == "reassigned"][-1]
        event.at = datetime.now() - timedelta(minutes=3)
        db.commit()
    settings = ClientSettings(reassign_accept_minutes=2)
    alerts: list[tuple[str, str]] = []

    def wire(pane: TeamBoardPane) -> None:
        pane.alert_raised.connect(lambda title, text: alerts.append((title, text)))

    async def scenario() -> None:
        async with lead_board(qtbot, workers, live_server.url, settings, wire) as board:
            pane = board.pane
            await wait_until(lambda: pane.alert.isVisible(), 5, "alert shown")
            assert "改派给 刘洋，至今未接入" in pane.alert.text()
            assert "吴海燕" in pane.alert.text()
            await wait_until(lambda: alerts, 5, "tray alert")
            assert alerts[0][0] == "改派未被接入" and "刘洋" in alerts[0][1]
            # Once is enough: the next boards do not alert again (the banner stays).
            await pane.refresh_board()
            await pane.refresh_board()
            assert len(alerts) == 1 and pane.alert.isVisible()
            # 刘洋 accepts: the alert goes away with the next board.
            liuyang = ApiClient(live_server.url)
            liuyang.login("liuyang", DEMO_PASSWORD)
            answer = liuyang.push(
                [
                    {
                        "mutation_id": str(uuid.uuid4()),
                        "kind": "session",
                        "op": "transition",
                        "target_id": target,
                        "base_seq": None,
                        "payload": {"action": "accept"},
                    }
                ]
            )[0]
            assert answer["status"] == "applied", answer["reason"]
            await pane.refresh_board()
            assert not pane.alert.isVisible()

    qloop.run_until_complete(scenario())


def test_figures_are_computed_shown_and_exported(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    qtmodeltester: Any,
) -> None:
    arrange_figures(live_server)
    chosen: list[Path] = []
    monkeypatch.setattr(ExportDialog, "ask", classmethod(lambda _c, _p, _s: answered(chosen[-1])))

    async def scenario() -> None:
        async with lead_board(qtbot, workers, live_server.url) as board:
            pane = board.pane
            pane.tabs.setCurrentIndex(TeamBoardPane.TAB_FIGURES)
            pane.period_combo.setCurrentIndex(pane.period_combo.findData("day"))
            pane.date_edit.setDate(QDate(2026, 3, 2))
            assert not pane.export_button.isEnabled()
            qtbot.mouseClick(pane.compute_button, Qt.MouseButton.LeftButton)
            await wait_until(lambda: pane.figures is not None, 15, "figures")
            model = pane.figures_model
            qtmodeltester.check(model)
            header = [
                model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())
            ]
            assert header == ["班组合计", "李晓雯", "王芳", "刘洋"]
            rows = {
                model.headerData(r, Qt.Orientation.Vertical): [
                    model.index(r, c).data() for c in range(model.columnCount())
                ]
                for r in range(model.rowCount())
            }
            assert rows["会话总数"] == ["9", "4", "3", "0"]
            assert rows["首次响应 中位数"] == ["30秒", "25秒", "45秒", "—"]
            assert rows["首响达标率"] == ["66.7%", "75.0%", "100.0%", "—"]
            assert rows["一次办结率"] == ["40.0%", "33.3%", "50.0%", "—"]
            assert rows["转办按期答复率（1515）"][0] == "33.3%"
            assert rows["满意率（满意及以上）"][0] == "40.0%"
            charts = pane.charts
            assert charts.by_service.values == {"会话数": [6.0, 2.0, 1.0]}
            assert charts.ratings.values == {"评价数": [1.0, 1.0, 1.0, 1.0, 1.0]}
            assert charts.response.values["中位数"] == [25.0, 45.0, 0.0]
            assert "未办结差评整改 2 个" in pane.figures_rect.text()
            assert "逾期" in pane.figures_rect.text()
            for name in ("figures.xlsx", "figures.csv"):
                chosen.append(tmp_path / name)
                qtbot.mouseClick(pane.export_button, Qt.MouseButton.LeftButton)
                await wait_until(lambda: chosen[-1].exists(), 10, f"{name} written")
                await wait_until(lambda: "已导出" in pane.figures_label.text(), 5, "said")

    qloop.run_until_complete(scenario())
    book = load_workbook(tmp_path / "figures.xlsx")
    values = {r[0].value: [c.value for c in r[1:]] for r in book["汇总"].iter_rows() if r[0].value}
    assert values["会话总数"] == [9, 4, 3, 0]
    assert values["首次响应 90分位（秒）"] == [120, 120, 60, None]
    with open(tmp_path / "figures.csv", encoding="utf-8-sig", newline="") as handle:
        rows = {r[0]: r[1:] for r in csv.reader(handle) if r}
    assert rows["班组统计"][0] == "综合咨询组"
    assert rows["首响达标率"] == ["66.7%", "75.0%", "100.0%", ""]


def test_a_rectification_is_followed_up_from_the_list(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    qtmodeltester: Any,
) -> None:
    with live_server.db() as db:
        rect = db.scalar(select(m.Rectification).where(m.Rectification.team_id == "team-zx"))
        assert rect is not None
        rect.deadline = date.today() - timedelta(days=7)  # overdue
        rid = rect.id
        db.commit()
    liuyang = user_id(live_server, "liuyang")
    answers = [
        RectificationAnswer(
            liuyang, {"verification": "调取录音核实", "action": "", "outcome": ""}, False
        ),
        RectificationAnswer(
            liuyang,
            {"verification": "调取录音核实", "action": "回访并更正答复", "outcome": "群众认可"},
            True,
        ),
    ]
    asked: list[str] = []

    def ask(_cls: type, _parent: Any, rectification: Any, members: Any) -> Any:
        asked.append(rectification.state)
        assert any(c.value == liuyang for c in members)
        return answered(answers[len(asked) - 1])

    monkeypatch.setattr(RectificationDialog, "ask", classmethod(ask))

    async def scenario() -> None:
        async with lead_board(qtbot, workers, live_server.url) as board:
            pane = board.pane
            pane.tabs.setCurrentIndex(TeamBoardPane.TAB_RECTIFICATIONS)
            model = pane.rect_model
            await wait_until(lambda: model.row_of(rid) >= 0, 10, "listed")
            qtmodeltester.check(model)
            row = model.row_of(rid)
            assert model.index(row, 0).data(OverdueRole) is True
            assert "逾期" in model.index(row, model.COL_LEFT).data()
            assert "逾期 1 个" in pane.rect_summary.text()
            pane.rect_view.selectRow(row)
            await wait_until(pane.handle_button.isEnabled, 5, "处理… lit")
            qtbot.mouseClick(pane.handle_button, Qt.MouseButton.LeftButton)

            def server_state() -> tuple[str, int | None, str]:
                with live_server.db() as db:
                    r = db.get(m.Rectification, rid)
                    assert r is not None
                    return r.state, r.assignee_id, r.verification

            # The answers are asked before the actions are queued: wait for the server.
            await wait_until(
                lambda: server_state() == ("assigned", liuyang, "调取录音核实"),
                15,
                "assigned and recorded on the server",
            )
            await wait_until(
                lambda: "刘洋" in str(model.index(model.row_of(rid), model.COL_ASSIGNEE).data()),
                10,
                "shown assigned",
            )
            pane.rect_view.selectRow(model.row_of(rid))
            await wait_until(pane.handle_button.isEnabled, 5, "处理… lit")
            qtbot.mouseClick(pane.handle_button, Qt.MouseButton.LeftButton)
            await wait_until(lambda: server_state()[0] == "closed", 15, "closed on the server")
            await wait_until(lambda: model.row_of(rid) < 0, 10, "gone from the open list")
            pane.show_closed.setChecked(True)
            await wait_until(lambda: model.row_of(rid) >= 0, 5, "shown with the closed")
            assert "已办结" in model.index(model.row_of(rid), model.COL_STATE).data()

    qloop.run_until_complete(scenario())
    assert asked == ["open", "assigned"]


def test_the_board_falls_back_to_the_cache_when_the_server_is_gone(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
) -> None:
    async def scenario() -> None:
        async with lead_board(qtbot, workers, live_server.url) as board:
            pane = board.pane
            assert pane.board is not None and not pane.board.from_cache
            live = {s.id for s in pane.board.sessions}
            board.account.api.base_url = "http://127.0.0.1:9"  # nothing listens there
            await pane.refresh_board()
            assert pane.banner.isVisible() and "本地缓存" in pane.banner.text()
            assert "无法连接服务器" in pane.banner.text()
            assert pane.board.from_cache
            assert {s.id for s in pane.board.sessions} == live
            assert "本地缓存" in pane.updated_label.text()

    qloop.run_until_complete(scenario())


def type_chinese(widget: QWidget, text: str) -> None:
    """Type Chinese as a person does, through the input method: QTest's key clicks
    only know ASCII, an IME commits whole words to the focused widget."""
    widget.setFocus()
    event = QInputMethodEvent()
    event.setCommitString(text)
    QApplication.sendEvent(widget, event)


def test_a_dragged_reassignment_needs_a_reason(qtbot: QtBot) -> None:
    dialog = ReassignReasonDialog(None, "询问公积金提取", "李晓雯", "王芳")
    qtbot.addWidget(dialog)
    dialog.show()
    assert "李晓雯" in dialog.intro.text() and "王芳" in dialog.intro.text()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "请填写改派原因" in dialog.error.text()
    type_chinese(dialog.reason, "李晓雯请假")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == dialog.DialogCode.Accepted


def test_closing_a_rectification_needs_all_three_fields(qtbot: QtBot) -> None:
    from core.rectifications import Rectification

    rect = Rectification("r1", "s1", "assigned", date(2026, 3, 6), assignee_id=3, score=2)
    from ui.dialogs.session_dialogs import Choice

    dialog = RectificationDialog(None, rect, [Choice(3, "刘洋")])
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.assignee.currentData() == 3
    type_chinese(dialog.verification, "已核实")
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert "办结前请填写整改措施" in dialog.error.text()
    assert "办结前请填写整改结果" in dialog.error.text()
    type_chinese(dialog.action, "回访")
    type_chinese(dialog.outcome, "认可")
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == dialog.DialogCode.Accepted
    answer = dialog.answer()
    assert answer.close and answer.assignee_id == 3
    assert answer.texts == {"verification": "已核实", "action": "回访", "outcome": "认可"}


def test_the_lead_window_shows_the_board_and_follows_the_event_stream(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
) -> None:
    from ui.main_window import MainWindow

    target = sid("S003")
    liuyang = user_id(live_server, "liuyang")

    async def scenario() -> None:
        account = await signed_in(workers, live_server.url, "lead")
        window = MainWindow(account, workers, ClientSettings())
        qtbot.addWidget(window)
        window.show()
        window.start()
        labels = [window.nav.item(i).text() for i in range(window.nav.count())]
        assert "班组" in labels
        window.nav.setCurrentRow(labels.index("班组"))
        pane = window.team_pane
        assert isinstance(pane, TeamBoardPane) and pane.isVisible()
        await wait_until(lambda: pane.board is not None, 20, "board shown")
        assert pane.queue_model.row_of(target) >= 0
        shown = len(pane.board.sessions)  # type: ignore[union-attr]
        # Another lead acts elsewhere: the event stream brings it, nobody clicks 刷新.
        other = ApiClient(live_server.url)
        other.login("lead", DEMO_PASSWORD)
        other.post(
            f"/sessions/{target}/reassign",
            {"to_agent_id": liuyang, "expected_assignee_id": None, "reason": "指定接待"},
        )
        await wait_until(lambda: pane.queue_model.row_of(target) < 0, 10, "live update")
        assert pane.board is not None and pane.board.session(target).assignee_id == liuyang  # type: ignore[union-attr]
        assert len(pane.board.sessions) == shown
        shots = os.environ.get("BANGBAN_SHOTS")
        if shots:  # BANGBAN_SHOTS=shots keeps a picture of the lead's page
            Path(shots).mkdir(parents=True, exist_ok=True)
            window.grab().save(str(Path(shots) / "main-lead-team-test.png"))
        window.close()
        await window.sync.wait_idle()
        await window.live.wait_stopped()
        account.close()

    qloop.run_until_complete(scenario())


def test_reassign_through_the_dialog(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.localstore.session_actions import ReassignRequest
    from ui.dialogs.session_dialogs import ReassignDialog

    target = sid("S025")  # 刘洋, on hold
    liuyang, wangfang = user_id(live_server, "liuyang"), user_id(live_server, "wangfang")
    offered: list[list[int]] = []

    def ask(_cls: type, _parent: Any, agents: Any, expected: int | None, name: str) -> Any:
        offered.append([c.value for c in agents])
        assert expected == liuyang and name == "刘洋"
        return answered(ReassignRequest(wangfang, expected, "刘洋下班，王芳接续", "王芳"))

    monkeypatch.setattr(ReassignDialog, "ask", classmethod(ask))

    async def scenario() -> None:
        async with lead_board(qtbot, workers, live_server.url) as board:
            pane = board.pane
            assert not pane.reassign_button.isEnabled()
            pane.sessions_view.selectRow(pane.sessions_model.row_of(target))
            assert pane.reassign_button.isEnabled()
            qtbot.mouseClick(pane.reassign_button, Qt.MouseButton.LeftButton)
            await wait_until(lambda: assignee_of(live_server, target) == wangfang, 15, "server")

    qloop.run_until_complete(scenario())
    assert offered and liuyang not in offered[0] and wangfang in offered[0]
