"""The console's Qt item models: each passes qtmodeltester; queues, grouping, sorting,
filtering, ticking waiting times and the first-response colours."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt
from pytestqt.modeltest import ModelTester

from core.entities import Session, SessionNote
from ui.models.session_detail import NotesModel, PendingRole, TimelineModel
from ui.models.sessions import (
    AMBER,
    RED,
    MySessionsModel,
    QueueProxy,
    SessionRole,
    SessionTableModel,
    TreeFilterProxy,
    UrgencyRole,
    closed_today,
    open_in_team,
    waiting_in_team,
)

NOW = datetime(2026, 3, 2, 10, 0, 0)
ME = 2


def session(
    ref: str,
    state: str,
    *,
    assignee: int | None = None,
    team: str = "t1",
    minutes_ago: float = 5,
    service: str = "consult",
    name: str = "",
    summary: str = "",
    phone: str = "13812345678",
    **extra: object,
) -> Session:
    created = NOW - timedelta(minutes=minutes_ago)
    extra.setdefault("channel", "hotline")
    return Session(
        id=ref,
        team_id=team,
        state=state,
        service_type=service,
        created_at=created,
        assignee_id=assignee,
        caller_name=name,
        caller_phone=phone,
        summary=summary or f"诉求{ref}",
        **extra,  # type: ignore[arg-type]
    )


SESSIONS = [
    session("w1", "waiting", minutes_ago=0.5, name="何女士", summary="公积金租房提取"),
    session("w2", "waiting", minutes_ago=0.8, name="孔先生", service="guide", summary="个体户执照"),
    session("w3", "waiting", minutes_ago=3, name="钱女士", phone="19540052802", summary="周六办公"),
    session("w4", "waiting", team="t2", name="外组"),
    session("a1", "active", assignee=ME, name="韩先生", accepted_at=NOW - timedelta(minutes=4)),
    session("h1", "on_hold", assignee=ME, name="曹女士"),
    session("n1", "assigned", assignee=ME, name="新分配", minutes_ago=0.9),
    session("e1", "escalated", assignee=ME, name="冯先生", due_at=NOW - timedelta(hours=1)),
    session("c1", "callback_pending", assignee=ME, name="段女士", due_at=NOW + timedelta(hours=3)),
    session(
        "x1",
        "closed",
        assignee=ME,
        name="办结甲",
        closed_at=NOW - timedelta(hours=1),
        outcome="resolved",
    ),
    session("x2", "closed", assignee=ME, name="昨天办结", closed_at=NOW - timedelta(days=1)),
    session("o1", "active", assignee=3, name="别人的"),
]
NAMES = {"M1": "住房公积金提取"}


Check = Callable[[QAbstractItemModel], None]


@pytest.fixture
def check(request: pytest.FixtureRequest) -> Iterator[Check]:
    """qtmodeltester for several models in one test: one tester per model (a tester
    keeps watching the model it checked, and compares against that model only)."""
    testers: list[ModelTester] = []

    def run(model: QAbstractItemModel) -> None:
        tester = ModelTester(request.config)
        testers.append(tester)
        tester.check(model, force_py=True)

    yield run
    for tester in testers:
        tester._cleanup()


def table() -> SessionTableModel:
    model = SessionTableModel(first_response_seconds=60)
    model.now = lambda: NOW
    model.set_sessions(SESSIONS, NAMES)
    return model


def ids(proxy: QueueProxy) -> list[str]:
    return [proxy.session_at(r).id for r in range(proxy.rowCount())]  # type: ignore[union-attr]


def test_the_session_table_passes_the_model_tester(check: Check) -> None:
    model = table()
    check(model)
    assert model.index(0, SessionTableModel.COL_PHONE).data() == "138****5678"
    model.set_sessions([], {})
    check(model)


def test_queues_are_filtered_views_that_pass_the_model_tester(check: Check) -> None:
    model = table()
    waiting = QueueProxy(waiting_in_team("t1"))
    waiting.setSourceModel(model)
    waiting.sort(SessionTableModel.COL_WAITED, Qt.SortOrder.DescendingOrder)
    closed = QueueProxy(closed_today(ME, lambda: NOW.date()))
    closed.setSourceModel(model)
    team = QueueProxy(open_in_team("t1"))
    team.setSourceModel(model)
    for proxy in (waiting, closed, team):
        check(proxy)
    assert ids(waiting) == ["w3", "w2", "w1"], "longest wait first"
    assert ids(closed) == ["x1"]
    assert set(ids(team)) == {"w1", "w2", "w3", "a1", "h1", "n1", "e1", "c1", "o1"}
    waiting.sort(SessionTableModel.COL_CALLER, Qt.SortOrder.AscendingOrder)
    assert len(ids(waiting)) == 3
    # Filtering by words, by the last digits of the phone, and by service type.
    waiting.set_filter("公积金")
    assert ids(waiting) == ["w1"]
    waiting.set_filter("2802")
    assert ids(waiting) == ["w3"]
    waiting.set_filter("****")
    assert ids(waiting) == [], "the masked middle of a number is not something to search"
    waiting.set_filter("", "guide")
    assert ids(waiting) == ["w2"]
    check(waiting)


def test_waiting_times_tick_and_turn_amber_then_red(qtbot) -> None:  # type: ignore[no-untyped-def]
    model = table()
    row = model.row_of("w1")
    waited = model.index(row, SessionTableModel.COL_WAITED)
    assert waited.data() == "30秒" and waited.data(Qt.ItemDataRole.BackgroundRole) is None
    assert waited.data(UrgencyRole) == 0
    model.now = lambda: NOW + timedelta(seconds=20)
    with qtbot.waitSignal(model.dataChanged):
        model.tick()
    assert waited.data() == "50秒"
    assert waited.data(Qt.ItemDataRole.BackgroundRole).color() == AMBER
    model.now = lambda: NOW + timedelta(seconds=40)
    assert waited.data() == "1分10秒"
    assert waited.data(Qt.ItemDataRole.BackgroundRole).color() == RED
    assert waited.data(UrgencyRole) == 2
    active = model.index(model.row_of("a1"), SessionTableModel.COL_WAITED)
    assert active.data() == "" and active.data(Qt.ItemDataRole.BackgroundRole) is None


def test_my_sessions_are_grouped_by_state(check: Check) -> None:
    mine = [s for s in SESSIONS if s.assignee_id == ME and s.state not in ("closed", "waiting")]
    model = MySessionsModel(first_response_seconds=60)
    model.now = lambda: NOW
    model.set_sessions(mine, NAMES)
    check(model)
    titles = [model.index(r, 0).data() for r in range(model.rowCount())]
    assert titles == [
        "处理中（1）",
        "已挂起（1）",
        "新分配，待接入（1）",
        "待回电（1）",
        "已转办，待部门答复（1）",
    ]
    escalated = model.index_of("e1")
    assert escalated.isValid() and escalated.data(SessionRole).id == "e1"
    time = escalated.siblingAtColumn(MySessionsModel.COL_TIME)
    assert time.data() == "3月2日 09:00 前"
    assert time.data(Qt.ItemDataRole.ForegroundRole) is not None, "overdue is red"
    assert model.index_of("a1").siblingAtColumn(MySessionsModel.COL_TIME).data() == "用时 4分00秒"
    assert model.rowCount(model.index(0, 1)) == 0, "only column 0 has children"

    proxy = TreeFilterProxy()
    proxy.setSourceModel(model)
    check(proxy)
    proxy.sort(MySessionsModel.COL_CALLER, Qt.SortOrder.DescendingOrder)
    groups = [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
    assert groups == titles, "groups keep their working order whatever the sort"
    proxy.set_filter("段女士")
    assert proxy.rowCount() == 1
    group = proxy.index(0, 0)
    assert group.data() == "待回电（1）" and proxy.rowCount(group) == 1
    assert proxy.index(0, 0, group).data(SessionRole).id == "c1"
    check(proxy)
    model.set_sessions([], {})
    assert proxy.rowCount() == 0 and model.index_of("e1") == QModelIndex()


def test_the_timeline_and_notes_models(check: Check) -> None:
    timeline = TimelineModel()
    timeline.today = lambda: NOW.date()
    timeline.set_events(
        [
            {
                "kind": "created",
                "at": "2026-03-02T09:00:00",
                "actor_name": None,
                "actor_id": None,
                "detail": {"channel": "hotline"},
            },
            {
                "kind": "reassigned",
                "at": "2026-03-02T09:32:00",
                "actor_name": "吴海燕",
                "actor_id": 1,
                "detail": {"to": "王芳", "reason": "请假"},
            },
            {
                "kind": "held",
                "at": "2026-03-02T09:40:00",
                "actor_name": "王芳",
                "actor_id": 3,
                "detail": {},
                "pending": True,
            },
        ]
    )
    check(timeline)
    rows = [timeline.index(r).data() for r in range(timeline.rowCount())]
    assert rows[0] == "09:00  系统  创建（12345热线）"
    assert rows[1] == "09:32  吴海燕  改派给 王芳 · 原因：请假"
    assert rows[2].endswith("（待同步）") and timeline.index(2).data(PendingRole) is True
    notes = NotesModel()
    notes.today = lambda: NOW.date()
    note = SessionNote("n1", "s1", 2, "李晓雯", "已告知所需材料", NOW - timedelta(minutes=3))
    notes.set_notes([(note, False), (note, True)])
    check(notes)
    assert notes.index(0).data() == "李晓雯  09:57\n已告知所需材料"
    assert "（待同步）" in notes.index(1).data()


def test_a_chat_waits_for_a_first_response_until_staff_write(check: Check) -> None:
    """Accepting a chat is not answering it: the clock runs to the first staff message
    (the ``first_response`` timeline entry), as the figures count it."""
    accepted = session(
        "c1",
        "active",
        assignee=ME,
        minutes_ago=2,
        channel="web_chat",
        accepted_at=NOW - timedelta(minutes=1),
    )
    answered = session(
        "c2",
        "active",
        assignee=ME,
        minutes_ago=2,
        channel="web_chat",
        accepted_at=NOW - timedelta(minutes=1),
        timeline=[{"kind": "first_response", "at": NOW.isoformat()}],
    )
    phone = session("p1", "active", assignee=ME, minutes_ago=2, accepted_at=NOW)
    model = SessionTableModel(first_response_seconds=60)
    model.now = lambda: NOW
    check(model)
    model.set_sessions([accepted, answered, phone], {})
    assert [model.urgency(s) for s in (accepted, answered, phone)] == [2, 0, 0]
