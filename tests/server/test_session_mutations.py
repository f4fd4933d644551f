"""Session mutations on a real server over loopback, through the client the app uses:
the state machine, refusals in words, transfer, reassignment, evaluations and
rectifications, reveals, sessions logged by hand, auto-assignment and presence."""

from __future__ import annotations

import threading
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.calendar import WorkCalendar, escalation_deadline
from server import models as m
from sync.client import ApiClient
from sync.errors import Forbidden, Refused
from tests.caller_support import rate_as_caller, rating_link
from tests.support import DEMO_PASSWORD, LiveServer


def sid(ref: str) -> str:
    """The id of a demo session (the seed derives them from their reference)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{ref}"))


def login(server: LiveServer, username: str) -> ApiClient:
    api = ApiClient(server.url)
    api.login(username, DEMO_PASSWORD)
    return api


def push(api: ApiClient, kind: str, op: str, target: str | None, **payload: Any) -> dict:
    result = api.push(
        [
            {
                "mutation_id": str(uuid.uuid4()),
                "kind": kind,
                "op": op,
                "target_id": target,
                "base_seq": None,
                "payload": payload,
            }
        ]
    )
    return result[0]


def act(api: ApiClient, session_id: str, action: str, **payload: Any) -> dict:
    return push(api, "session", "transition", session_id, action=action, **payload)


def user_id(server: LiveServer, username: str) -> int:
    with server.db() as db:
        return int(db.scalar(select(m.User.id).where(m.User.username == username)))


def state_of(server: LiveServer, session_id: str) -> tuple[str, int | None, int]:
    """(state, assignee, number of timeline events) as the server has them."""
    with server.db() as db:
        row = db.get(m.Session, session_id)
        assert row is not None
        return row.state, row.assignee_id, len(row.events)


def pulled_sessions(api: ApiClient) -> dict[str, dict]:
    seen: dict[str, dict] = {}
    cursor = 0
    while True:
        page = api.changes(cursor, 2000)
        for c in page.changes:
            if c["kind"] in ("session", "session_note"):
                seen[f"{c['kind']}:{c['id']}"] = c["data"]
        cursor = page.cursor
        if not page.has_more:
            return {k: v for k, v in seen.items() if v is not None}


@pytest.fixture(autouse=True)
def _no_auto_assign(live_server: LiveServer) -> None:
    # Most tests want the queue to stay as they arrange it; one test turns it on.
    live_server.app.state.settings.auto_assign = False


def test_a_working_day_of_a_session_from_the_queue_to_a_rectification(
    live_server: LiveServer,
) -> None:
    agent, lead = login(live_server, "agent"), login(live_server, "lead")
    lead_position = lead.events(-1, 0)["last"]
    s = sid("S001")
    steps = [
        ("accept", {}, "active"),
        ("hold", {"reason": "等来电人找材料"}, "on_hold"),
        ("resume", {}, "active"),
        (
            "escalate",
            {
                "reason": "需公积金中心确认能否先提取",
                "department": "住房公积金管理中心",
                "complexity": "complex",
            },
            "escalated",
        ),
        ("start", {}, "active"),
        ("callback", {"reason": "来电人要求下午回电"}, "callback_pending"),
        ("start", {}, "active"),
        ("close", {"outcome": "resolved", "close_summary": "已告知可先办租房提取"}, "closed"),
    ]
    for action, payload, expected in steps:
        answer = act(agent, s, action, **payload)
        assert answer["status"] == "applied", answer["reason"]
        assert answer["records"][0]["data"]["state"] == expected
    with live_server.db() as db:
        row = db.get(m.Session, s)
        assert row is not None and row.assignee_id == agent.me().id
        kinds = [e.kind for e in row.events]
        assert kinds == [
            "created",
            "accepted",
            "held",
            "resumed",
            "escalated",
            "started",
            "callback",
            "started",
            "closed",
        ]
        escalated = next(e for e in row.events if e.kind == "escalated")
        # The "1515" rule on the server's working-day calendar, from when it was done.
        expected_due = escalation_deadline(
            WorkCalendar.builtin(), escalated.at, "complex"
        ).at_end_of_day()
        assert row.escalation is not None
        assert row.escalation["due_at"] == expected_due.isoformat()
        assert row.escalation["department"] == "住房公积金管理中心"
        assert row.escalation.get("answered_at"), "开始办理 records when the department answered"
        assert escalated.detail["reason"] == "需公积金中心确认能否先提取"
        assert row.callback_due_at is not None and row.callback_due_at > escalated.at
        assert row.outcome == "resolved" and row.closed_at is not None

    # Staff can no longer record a score: the caller rates (GB/T 39734), here through
    # the rating link the agent sends after a phone session.
    token = rating_link(agent, s)
    staff = push(
        agent,
        "evaluation",
        "create",
        None,
        evaluation_id=str(uuid.uuid4()),
        session_id=s,
        score=5,
    )
    assert staff["status"] == "rejected" and "群众本人" in staff["reason"]
    rated = rate_as_caller(live_server, token, 2, "等了很久")
    assert rated.status_code == 200, rated.text
    with live_server.db() as db:
        rect = db.scalar(select(m.Rectification).where(m.Rectification.session_id == s))
        assert rect is not None and rect.state == "open" and rect.team_id == "team-zx"
        evaluation = db.scalar(select(m.Evaluation).where(m.Evaluation.session_id == s))
        assert evaluation is not None and rect.evaluation_id == evaluation.id
        assert evaluation.recorded_by is None and evaluation.comment == "等了很久"
        assert rect.deadline == WorkCalendar.builtin().add_working_days(date.today(), 5).day
        assert [e.kind for e in db.get(m.Session, s).events][-2:] == [
            "evaluated",
            "rectification_opened",
        ]
    news = lead.events(lead_position, 0)["events"]
    kinds = {e["kind"] for e in news}
    assert {"evaluation_recorded", "rectification_opened", "session_updated"} <= kinds
    # A second rating of the same session is refused in words.
    again = rate_as_caller(live_server, token, 5)
    assert again.status_code == 409 and "已经评价过" in again.json()["detail"]


def test_a_rating_of_three_or_more_opens_no_rectification(live_server: LiveServer) -> None:
    agent = login(live_server, "agent")
    s = sid("S010")
    token = rating_link(agent, s)
    assert act(agent, s, "close", outcome="guided", close_summary="已导办")["status"] == "applied"
    assert rate_as_caller(live_server, token, 3).status_code == 200
    with live_server.db() as db:
        count = select(func.count()).select_from(m.Rectification)
        assert db.scalar(count.where(m.Rectification.session_id == s)) == 0


ILLEGAL_MOVES = [
    ("agent", "S007", "hold", {}, ["办结", "「挂起」未执行"]),
    ("agent", "S010", "resume", {}, ["处理中", "不能恢复"]),
    ("wangfang", "S010", "hold", {}, ["由 李晓雯 接入", "「挂起」未执行"]),
    ("agent", "S004", "accept", {}, ["只能接入本班组队列中的会话"]),
    ("agent", "S010", "close", {"close_summary": "x"}, ["办结需要选择办理结果"]),
    ("agent", "S010", "escalate", {"reason": "需部门答复"}, ["转办需要选择承办部门"]),
    ("agent", "S010", "escalate", {"department": "税务局"}, ["转办需要填写原因"]),
    ("agent", "S010", "fly", {}, ["未知的会话操作"]),
    ("agent", "S010", "assign", {}, ["改派"]),
]


def test_illegal_moves_are_refused_with_the_reason_in_words(live_server: LiveServer) -> None:
    clients = {u: login(live_server, u) for u in ("agent", "wangfang")}
    for username, ref, action, payload, words in ILLEGAL_MOVES:
        before = state_of(live_server, sid(ref))
        answer = act(clients[username], sid(ref), action, **payload)
        assert answer["status"] == "rejected", (username, ref, action)
        for word in words:
            assert word in answer["reason"], (answer["reason"], word)
        assert state_of(live_server, sid(ref)) == before, "a refusal changes nothing"


def test_transfers_need_a_reason_and_a_target(live_server: LiveServer) -> None:
    agent = login(live_server, "agent")
    s = sid("S011")
    me = agent.me().id
    cases = [
        ({"to_agent_id": user_id(live_server, "liuyang")}, "转交需要填写原因"),
        ({"to_agent_id": me, "reason": "x"}, "不能转交给自己"),
        ({"reason": "x"}, "请选择转交给一位同事或一个班组"),
        ({"to_team_id": "no-such-team", "reason": "x"}, "找不到要转交的班组"),
        ({"to_agent_id": 99999, "reason": "x"}, "找不到要转交的同事"),
    ]
    for payload, words in cases:
        answer = push(agent, "session", "transfer", s, **payload)
        assert answer["status"] == "rejected" and words in answer["reason"], answer
    assert state_of(live_server, s)[:2] == ("on_hold", me)


def test_a_transfer_hands_over_the_history_and_tells_the_receiver(
    live_server: LiveServer,
) -> None:
    agent, liuyang = login(live_server, "agent"), login(live_server, "liuyang")
    chenjing, lead2 = login(live_server, "chenjing"), login(live_server, "lead2")
    position = liuyang.events(-1, 0)["last"]
    s = sid("S011")
    before = pulled_sessions(liuyang)
    assert f"session:{s}" not in before
    answer = push(agent, "session", "transfer", s, to_agent_id=liuyang.me().id, reason="专业不对口")
    assert answer["status"] == "applied", answer["reason"]
    assert answer["records"][0]["deleted"], "the sender no longer sees the session"
    news = liuyang.events(position, 0)["events"]
    assert [e["kind"] for e in news] == ["session_transferred"]
    assert news[0]["payload"]["reason"] == "专业不对口" and news[0]["payload"]["by"] == "李晓雯"
    view = pulled_sessions(liuyang)
    assert view[f"session:{s}"]["state"] == "assigned"
    notes = [v for k, v in view.items() if k.startswith("session_note:") and v["session_id"] == s]
    assert notes, "the notes written before the transfer reach the new assignee"
    assert f"session:{s}" not in pulled_sessions(agent)

    # Then to another team's queue: that team sees it waiting, its agents are told.
    queue_position = chenjing.events(-1, 0)["last"]
    answer = push(liuyang, "session", "transfer", s, to_team_id="team-bb", reason="需远程帮办")
    assert answer["status"] == "applied", answer["reason"]
    assert state_of(live_server, s)[:2] == ("waiting", None)
    assert any(e["kind"] == "session_waiting" for e in chenjing.events(queue_position, 0)["events"])
    assert pulled_sessions(chenjing)[f"session:{s}"]["team_id"] == "team-bb"
    assert f"session:{s}" in pulled_sessions(lead2)
    timeline = pulled_sessions(lead2)[f"session:{s}"]["timeline"]
    assert [e["kind"] for e in timeline][-2:] == ["transferred", "transferred"]
    assert timeline[-1]["detail"]["to_team_name"] == "远程帮办组"


def test_a_reassignment_is_a_compare_and_set_by_a_lead_of_the_team(
    live_server: LiveServer,
) -> None:
    agent, wangfang = login(live_server, "agent"), login(live_server, "wangfang")
    lead, lead2 = login(live_server, "lead"), login(live_server, "lead2")
    s = sid("S010")
    agent_id, wangfang_id = agent.me().id, wangfang.me().id
    positions = {api: api.events(-1, 0)["last"] for api in (agent, wangfang)}
    written_before = datetime.now()

    refused = push(
        agent,
        "session",
        "reassign",
        s,
        to_agent_id=wangfang_id,
        expected_assignee_id=agent_id,
        reason="x",
    )
    assert refused["status"] == "rejected" and "只有本班组的班组长" in refused["reason"]
    refused = push(
        lead2,
        "session",
        "reassign",
        s,
        to_agent_id=wangfang_id,
        expected_assignee_id=agent_id,
        reason="x",
    )
    assert refused["status"] == "rejected" and "只有本班组的班组长" in refused["reason"]
    refused = push(
        lead,
        "session",
        "reassign",
        s,
        to_agent_id=wangfang_id,
        expected_assignee_id=agent_id,
        reason=" ",
    )
    assert refused["status"] == "rejected" and "改派需要填写原因" in refused["reason"]
    refused = push(
        lead,
        "session",
        "reassign",
        s,
        to_agent_id=user_id(live_server, "chenjing"),
        expected_assignee_id=agent_id,
        reason="x",
    )
    assert refused["status"] == "rejected" and "本班组" in refused["reason"]
    assert state_of(live_server, s)[:2] == ("active", agent_id)

    answer = push(
        lead,
        "session",
        "reassign",
        s,
        to_agent_id=wangfang_id,
        expected_assignee_id=agent_id,
        reason="坐席临时离岗",
    )
    assert answer["status"] == "applied", answer["reason"]
    assert state_of(live_server, s)[:2] == ("assigned", wangfang_id)
    # Both agents are told at once.
    for api in (agent, wangfang):
        news = api.events(positions[api], 0)["events"]
        reassigned = [e for e in news if e["kind"] == "session_reassigned"]
        assert reassigned and reassigned[0]["payload"]["to"] == "王芳"
        assert reassigned[0]["payload"]["from"] == "李晓雯"
        assert reassigned[0]["payload"]["reason"] == "坐席临时离岗"
    # A second lead acting on what they saw before is refused, naming what happened.
    stale = push(
        lead,
        "session",
        "reassign",
        s,
        to_agent_id=user_id(live_server, "liuyang"),
        expected_assignee_id=agent_id,
        reason="y",
    )
    assert stale["status"] == "rejected"
    assert "由 吴海燕 改派给 王芳" in stale["reason"] and "刷新" in stale["reason"]
    with live_server.db() as db:
        audit = db.scalars(select(m.AuditLog).where(m.AuditLog.action == "session.reassign")).all()
        assert len(audit) == 1 and audit[0].target_id == s
        assert audit[0].detail["reason"] == "坐席临时离岗" and audit[0].actor_id == lead.me().id
    # The old assignee no longer sees it; the new one sees it with its notes.
    assert f"session:{s}" not in pulled_sessions(agent)
    view = pulled_sessions(wangfang)
    assert view[f"session:{s}"]["assignee_id"] == wangfang_id
    assert any(k.startswith("session_note:") and v["session_id"] == s for k, v in view.items())
    # The old assignee's later actions are refused with what happened, in words.
    late = act(agent, s, "hold")
    assert late["status"] == "rejected"
    assert "由 吴海燕 改派给 王芳" in late["reason"] and "「挂起」未执行" in late["reason"]
    # A note the old assignee wrote while the session was theirs (offline, queued
    # before the reassignment) is still accepted: notes are facts.
    note_id = str(uuid.uuid4())
    [note] = agent.push(
        [
            {
                "mutation_id": str(uuid.uuid4()),
                "kind": "session_note",
                "op": "create",
                "target_id": note_id,
                "payload": {"note_id": note_id, "session_id": s, "text": "租房合同已签"},
                "created_at": written_before.isoformat(),
            }
        ]
    )
    assert note["status"] == "applied"
    assert f"session_note:{note_id}" in pulled_sessions(wangfang)
    # One written after the session left them is refused: they may no longer see it.
    late_note = push(
        agent, "session_note", "create", None, note_id=str(uuid.uuid4()), session_id=s, text="晚"
    )
    assert late_note["status"] == "rejected" and "无权" in late_note["reason"]


def test_the_leads_reassign_route_runs_the_same_rules(live_server: LiveServer) -> None:
    lead, agent = login(live_server, "lead"), login(live_server, "agent")
    s = sid("S011")
    body = {
        "to_agent_id": user_id(live_server, "liuyang"),
        "expected_assignee_id": agent.me().id,
        "reason": "均衡负载",
    }
    record = lead.post(f"/sessions/{s}/reassign", body)
    assert record["data"]["assignee_id"] == user_id(live_server, "liuyang")
    with pytest.raises(Refused) as err:
        lead.post(f"/sessions/{s}/reassign", body)
    assert err.value.status == 409 and "改派给 刘洋" in err.value.message
    with pytest.raises(Forbidden):
        agent.post(f"/sessions/{s}/reassign", body)


def test_revealing_a_callers_number_is_logged(live_server: LiveServer) -> None:
    agent = login(live_server, "agent")
    s = sid("S010")
    answer = push(agent, "session", "reveal", s, session_id=s, field="all", reason="回拨来电人电话")
    assert answer["status"] == "applied"
    timeline = answer["records"][0]["data"]["timeline"]
    assert timeline[-1]["kind"] == "revealed" and timeline[-1]["actor_name"] == "李晓雯"
    with live_server.db() as db:
        audit = db.scalar(select(m.AuditLog).where(m.AuditLog.action == "session.reveal"))
        assert audit is not None and audit.actor_id == agent.me().id and audit.target_id == s
        assert audit.reason == "回拨来电人电话"
        row = db.get(m.Session, s)
        assert row is not None and row.caller_phone not in str(audit.detail)
    # A reveal that already happened is logged even without a reason (an old client's
    # queued action), and the row says the reason is missing.
    bare = push(agent, "session", "reveal", s, session_id=s, field="phone")
    assert bare["status"] == "applied"
    with live_server.db() as db:
        rows = db.scalars(
            select(m.AuditLog).where(m.AuditLog.action == "session.reveal").order_by(m.AuditLog.id)
        ).all()
        assert len(rows) == 2 and rows[1].detail.get("reason_missing") is True
        assert "reason" not in rows[1].detail
    stranger = login(live_server, "chenjing")
    refused = push(stranger, "session", "reveal", s, session_id=s, field="phone")
    assert refused["status"] == "rejected" and "无权" in refused["reason"]


BAD_FIELDS = [
    ({"caller_phone": "1381234567"}, "手机号应为 1 开头的 11 位数字"),
    ({"caller_phone": "025-8456"}, "联系电话格式不正确"),
    ({"caller_id_number": "110105194912310021"}, "校验位不正确"),
    ({"caller_id_number": "11010519491331002X"}, "出生日期"),
    ({"summary": "  "}, "请填写诉求描述"),
    ({"channel": "referral", "caller_name": ""}, "现场转介必填"),
    ({"channel": "web_chat"}, "请选择来源渠道"),
    ({"matter_code": "NO-SUCH"}, "所选事项（NO-SUCH）不存在"),
]


def test_a_session_logged_by_hand_is_checked_field_by_field(live_server: LiveServer) -> None:
    agent = login(live_server, "agent")
    for fields, words in BAD_FIELDS:
        payload = {
            "channel": "phone",
            "service_type": "consult",
            "caller_name": "张先生",
            "caller_phone": "13812345678",
            "caller_id_number": "11010519491231002X",
            "summary": "咨询个体户登记",
            **fields,
        }
        new_id = str(uuid.uuid4())
        answer = push(agent, "session", "create", new_id, session_id=new_id, **payload)
        assert answer["status"] == "rejected" and words in answer["reason"], answer["reason"]
        with live_server.db() as db:
            assert db.get(m.Session, new_id) is None


def test_a_session_logged_by_hand_is_mine_or_goes_to_the_queue(live_server: LiveServer) -> None:
    agent, wangfang = login(live_server, "agent"), login(live_server, "wangfang")
    position = wangfang.events(-1, 0)["last"]
    mine, queued = str(uuid.uuid4()), str(uuid.uuid4())
    base = {
        "channel": "hotline",
        "service_type": "guide",
        "caller_phone": "025-84561234",
        "summary": "问公积金提取",
        "matter_code": "GJJ-TQ-ZF",
    }
    assert (
        push(agent, "session", "create", mine, session_id=mine, take=True, **base)["status"]
        == "applied"
    )
    assert (
        push(agent, "session", "create", queued, session_id=queued, take=False, **base)["status"]
        == "applied"
    )
    assert state_of(live_server, mine)[:2] == ("active", agent.me().id)
    assert state_of(live_server, queued)[:2] == ("waiting", None)
    assert any(
        e["kind"] == "session_waiting" and e["payload"]["session_id"] == queued
        for e in wangfang.events(position, 0)["events"]
    )
    assert f"session:{queued}" in pulled_sessions(wangfang)
    assert f"session:{mine}" not in pulled_sessions(wangfang)


def test_waiting_sessions_go_to_the_least_loaded_online_agent(live_server: LiveServer) -> None:
    wangfang, liuyang = login(live_server, "wangfang"), login(live_server, "liuyang")
    agent = login(live_server, "agent")  # signed in but never polls: offline
    # A poll is a heartbeat: both come online (no dispatch yet, it is switched off).
    wangfang.events(-1, 0)
    liuyang.events(-1, 0)
    with live_server.db() as db:
        assert db.scalar(select(m.User.presence).where(m.User.username == "wangfang")) == "online"
        assert db.scalar(select(m.User.presence).where(m.User.username == "agent")) == "offline"
    live_server.app.state.settings.auto_assign = True
    w_id, l_id = wangfang.me().id, liuyang.me().id
    new_id = str(uuid.uuid4())
    answer = push(
        agent,
        "session",
        "create",
        new_id,
        session_id=new_id,
        take=False,
        channel="phone",
        service_type="consult",
        caller_phone="13912345678",
        summary="问社保转移",
    )
    assert answer["status"] == "applied"
    waiting = [sid("S003"), sid("S002"), sid("S001"), new_id]  # oldest first
    # Loads before: 王芳 2 of 5, 刘洋 3 of 4; ties go to the lower id (王芳).
    expected = [w_id, w_id, l_id, w_id]
    assert [state_of(live_server, s)[:2] for s in waiting] == [("assigned", a) for a in expected]
    # Both are now at capacity: the next one waits in the queue.
    extra = str(uuid.uuid4())
    push(
        agent,
        "session",
        "create",
        extra,
        session_id=extra,
        take=False,
        channel="phone",
        service_type="consult",
        caller_phone="13912345679",
        summary="问医保报销",
    )
    assert state_of(live_server, extra)[:2] == ("waiting", None)
    # 刘洋 frees capacity by closing one: the waiting session goes to him at once.
    position = liuyang.events(-1, 0)["last"]
    assert (
        act(liuyang, sid("S024"), "close", outcome="resolved", close_summary="已答复")["status"]
        == "applied"
    )
    assert state_of(live_server, extra)[:2] == ("assigned", l_id)
    assert any(
        e["kind"] == "session_assigned" and e["payload"]["session_id"] == extra
        for e in liuyang.events(position, 0)["events"]
    )
    # Silence past the timeout marks agents offline; offline agents get nothing.
    swept = live_server.app.state.presence.sweep(now=datetime.now() + timedelta(seconds=600))
    assert swept >= 2
    late = str(uuid.uuid4())
    act(wangfang, sid("S017"), "close", outcome="resolved", close_summary="已答复")
    push(
        agent,
        "session",
        "create",
        late,
        session_id=late,
        take=False,
        channel="phone",
        service_type="consult",
        caller_phone="13912345670",
        summary="问户口迁移",
    )
    assert state_of(live_server, late)[:2] == ("waiting", None)


def test_a_long_poll_delivers_a_reassignment_to_the_agent(live_server: LiveServer) -> None:
    agent, lead, wangfang = (login(live_server, u) for u in ("agent", "lead", "wangfang"))
    position = agent.events(-1, 0)["last"]
    got: list[dict] = []

    def poll() -> None:
        got.extend(agent.events(position, 20)["events"])

    waiter = threading.Thread(target=poll)
    waiter.start()
    answer = push(
        lead,
        "session",
        "reassign",
        sid("S011"),
        to_agent_id=wangfang.me().id,
        expected_assignee_id=agent.me().id,
        reason="调整分工",
    )
    assert answer["status"] == "applied"
    waiter.join(25)
    assert not waiter.is_alive(), "the waiting poll answered when the event was published"
    assert [e["kind"] for e in got] == ["session_reassigned"]
    assert got[0]["payload"]["session_id"] == sid("S011")
