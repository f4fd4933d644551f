"""``core.protocol``: every record kind in one enum, every payload one type with its
limits, refusals that name the field; and ``transition_effect``, the one truth of what
a session transition does (both the client and the server call it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from core.calendar import WorkCalendar
from core.enums import Role
from core.protocol import (
    PAYLOADS,
    EvaluationCreate,
    FeedbackCreate,
    MessageCreate,
    NoteCreate,
    Op,
    ProtocolError,
    RecordKind,
    RectificationAssign,
    RectificationClose,
    RectificationRecord,
    SessionCreate,
    SessionReassign,
    SessionReveal,
    SessionTransfer,
    SessionTransition,
    WalkthroughRunSave,
    parse_created_at,
    parse_mutation,
    parse_payload,
    wire,
)
from core.session_rules import Action, Actor, RuleViolation, check_note, transition_effect

NOW = datetime(2026, 9, 30, 10, 15, 0)
SID = "0b0c6b9e-8c1e-4a4e-9e0b-2f7d1f0a5c11"

EXAMPLES = [
    SessionCreate(
        session_id=SID,
        service_type="guide",
        channel="hotline",
        summary="问公积金提取",
        caller_phone="025-84561234",
        matter_code="GJJ-TQ-ZF",
    ),
    SessionTransition(
        session_id=SID, action="escalate", reason="需要部门答复", department="医保局"
    ),
    SessionTransition(session_id=SID, action="callback", reason="等材料", due_at=NOW),
    SessionTransfer(session_id=SID, to_team_id="team-bb", reason="专业对口"),
    SessionReassign(session_id=SID, to_agent_id=3, expected_assignee_id=None, reason="离岗"),
    SessionReveal(session_id=SID, field="phone"),
    NoteCreate(note_id="n-1", session_id=SID, text="来电人补充材料"),
    EvaluationCreate(evaluation_id="e-1", session_id=SID, score=2, comment="等太久"),
    WalkthroughRunSave(
        run_id="r-1", session_id=SID, walkthrough_id="rs-lhjy-cb", version=1, rev=2, state={}
    ),
    FeedbackCreate(feedback_id="f-1", entry_id=None, kind="new_question", text="异地就医备案？"),
    RectificationAssign(rectification_id="x-1", assignee_id=4, expected_assignee_id=None),
    RectificationRecord(rectification_id="x-1", verification="调取录音"),
    RectificationClose(rectification_id="x-1", verification="a", action="b", outcome="c"),
    MessageCreate(message_id="m-1", session_id=SID, text="请带身份证", attachment_ids=("at-1",)),
]


def test_a_message_takes_at_most_four_attachments_and_2000_characters() -> None:
    base = {"message_id": "m-2", "session_id": SID, "text": "你好"}
    assert parse_payload("message", "create", base).attachment_ids == ()
    twice = parse_payload("message", "create", {**base, "attachment_ids": ["a", "a"]})
    assert twice.attachment_ids == ("a",)
    with pytest.raises(ProtocolError, match="最多 4 个"):
        parse_payload("message", "create", {**base, "attachment_ids": list("abcde")})
    with pytest.raises(ProtocolError, match="编号列表"):
        parse_payload("message", "create", {**base, "attachment_ids": "a"})
    with pytest.raises(ProtocolError, match="消息内容"):
        parse_payload("message", "create", {**base, "text": "长" * 2001})


def test_every_mutation_kind_and_op_has_one_payload_type_and_an_example() -> None:
    assert {(type(e).KIND.value, type(e).OP.value) for e in EXAMPLES} == set(PAYLOADS)
    for (kind, op), cls in PAYLOADS.items():
        assert RecordKind(kind) is cls.KIND and Op(op) is cls.OP


def test_the_server_registers_exactly_the_protocols_kinds() -> None:
    import server.services.registry  # noqa: F401 - registers handlers and loaders
    from server.services.mutations import HANDLERS, TARGET_KIND
    from server.services.pull import EXTRA_LOADERS, SERIALIZERS

    assert set(HANDLERS) == set(PAYLOADS)
    pulled = set(SERIALIZERS) | set(EXTRA_LOADERS)
    assert pulled == set(RecordKind)  # feedback too: its reporter is told the outcome
    assert all(isinstance(k, RecordKind) for k in pulled | set(TARGET_KIND.values()))


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: f"{p.KIND}-{p.OP}")
def test_what_the_client_queues_parses_back_to_the_same_payload(payload: Any) -> None:
    data = wire(payload)
    assert parse_payload(payload.KIND, payload.OP, data) == payload
    envelope = parse_mutation("m" * 8, payload.KIND, payload.OP, None, 3, None, data)
    assert envelope.payload == payload and envelope.target_id == payload.target_id()


MALFORMED = [
    ("session", "create", {"caller_name": {}}, "caller_name", "姓名（caller_name）应为文字"),
    ("session", "create", {"channel": "fax"}, "channel", "来源渠道（channel）的取值无效"),
    ("session", "create", {"summary": "长" * 2001}, "summary", "最多 2000 字"),
    ("session", "create", {"take": "yes"}, "take", "应为是或否"),
    ("session", "create", {"matter_code": "A B"}, "matter_code", "事项编码（matter_code）格式"),
    ("session_note", "create", {"note_id": "备注-1"}, "note_id", "备注编号（note_id）格式"),
    ("session", "transfer", {"to_agent_id": 10**30}, "to_agent_id", "超出范围"),
    ("session", "transfer", {"to_agent_id": 2.5}, "to_agent_id", "应为整数"),
    ("session", "transfer", {"to_agent_id": True}, "to_agent_id", "应为整数"),
    ("session", "transfer", {"to_team_id": "t" * 65}, "to_team_id", "过长"),
    ("session", "transition", {"action": "explode"}, "action", "未知的会话操作（action）"),
    ("session", "transition", {"reason": "理由\x00"}, "reason", "控制字符"),
    ("session", "transition", {"due_at": "明天"}, "due_at", "时间格式不对"),
    ("session", "transition", {"due_at": "1999-01-01T00:00:00"}, "due_at", "超出合理范围"),
    ("session", "reassign", {"to_agent_id": 0}, "to_agent_id", "超出范围"),
    ("session", "reveal", {"field": "password"}, "field", "号码类型（field）"),
    ("evaluation", "create", {"score": 6}, "score", "评价等级（score）超出范围（1 到 5）"),
    ("evaluation", "create", {"score": "5 stars"}, "score", "应为整数"),
    ("session_note", "create", {"text": "   "}, "text", "备注内容（text）不能为空"),
    ("session_note", "create", {"text": "字" * 4001}, "text", "最多 4000 字"),
    ("walkthrough_run", "save", {"state": []}, "state", "导办进度（state）应为对象"),
    ("walkthrough_run", "save", {"rev": -1}, "rev", "保存序号（rev）超出范围"),
    ("knowledge_feedback", "create", {"kind": "praise"}, "kind", "反馈类型（kind）"),
    ("rectification", "assign", {"assignee_id": None}, "assignee_id", "缺少整改负责人"),
    ("rectification", "record", {"outcome": 5}, "outcome", "整改结果（outcome）应为文字"),
]


@pytest.mark.parametrize(("kind", "op", "change", "field", "words"), MALFORMED)
def test_a_value_outside_its_limits_is_refused_naming_the_field(
    kind: str, op: str, change: dict[str, Any], field: str, words: str
) -> None:
    example = next(e for e in EXAMPLES if (kind, op) == (e.KIND, e.OP))
    raw = {**wire(example), **change}
    with pytest.raises(ProtocolError) as err:
        parse_payload(kind, op, raw)
    assert err.value.field == field
    assert words in err.value.reason and field in err.value.reason


def test_required_fields_unknown_actions_and_non_objects_are_refused() -> None:
    with pytest.raises(ProtocolError, match="缺少会话编号（session_id）"):
        parse_payload("session", "reveal", {"field": "all"})
    with pytest.raises(ProtocolError, match="缺少原承办人（expected_assignee_id）"):
        parse_payload("session", "reassign", {"session_id": SID, "to_agent_id": 3})
    with pytest.raises(ProtocolError, match="不支持此操作") as err:
        parse_payload("session", "delete", {})
    assert err.value.field == "kind"
    with pytest.raises(ProtocolError, match="payload"):
        parse_payload("session", "reveal", ["x"])


def test_the_envelope_target_fills_in_for_older_clients_and_must_agree() -> None:
    env = parse_mutation("m-00000001", "session", "reveal", SID, None, None, {})
    assert env.payload == SessionReveal(session_id=SID) and env.target_id == SID
    with pytest.raises(ProtocolError) as err:
        parse_mutation("m-00000001", "session", "reveal", "other", None, None, {"session_id": SID})
    assert err.value.field == "target_id"


def test_created_at_is_local_time_within_sane_bounds() -> None:
    assert parse_created_at(None) is None
    assert parse_created_at("2026-09-30T10:15:00", now=NOW) == NOW
    aware = parse_created_at("2026-09-30T02:15:00+00:00", now=NOW + timedelta(days=1))
    assert aware is not None and aware.tzinfo is None
    for extreme in (
        "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00+14:00",
        "1970-01-01T00:00:00",
        (NOW + timedelta(days=2)).isoformat(),
        12345,
        "x" * 100,
    ):
        with pytest.raises(ProtocolError) as err:
            parse_created_at(extreme, now=NOW)
        assert err.value.field == "created_at" and "created_at" in err.value.reason


def test_an_absent_expected_assignee_differs_from_a_null_one() -> None:
    base = {"rectification_id": "x-1", "assignee_id": 4}
    absent = parse_payload("rectification", "assign", base)
    null = parse_payload("rectification", "assign", {**base, "expected_assignee_id": None})
    assert isinstance(absent, RectificationAssign) and isinstance(null, RectificationAssign)
    assert not absent.expected_given and null.expected_given
    assert "expected_assignee_id" not in wire(absent) and "expected_given" not in wire(null)


def test_rectification_texts_left_out_stay_unchanged() -> None:
    p = parse_payload("rectification", "record", {"rectification_id": "x-1", "action": " 回访 "})
    assert isinstance(p, RectificationRecord) and p.texts() == {"action": "回访"}


# -- transition_effect ---------------------------------------------------------------------


@dataclass
class FakeSession:
    """Any object with the attributes the rules read (here: a plain record)."""

    state: str
    assignee_id: int | None
    team_id: str = "team-zx"
    escalation: dict[str, Any] | None = None
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None


AGENT = Actor(id=2, role=Role.AGENT, team_id="team-zx")
CAL = WorkCalendar.builtin()


def effect(session: FakeSession, action: Action, **kw: Any):  # type: ignore[no-untyped-def]
    return transition_effect(
        session, action, AGENT, acted_at=kw.pop("acted_at", NOW), now=NOW, calendar=CAL, **kw
    )


def test_an_escalation_carries_its_1515_deadlines_from_when_the_person_acted() -> None:
    acted = NOW - timedelta(hours=3)
    e = effect(
        FakeSession("active", 2),
        Action.ESCALATE,
        acted_at=acted,
        reason=" 需要医保局答复 ",
        department=" 医保局 ",
    )
    assert e.target.value == "escalated" and e.event == "escalated"
    # Wednesday 30 Sep 2026, before the National Day holiday: contact by Thu 8 Oct,
    # a simple answer by Tue 13 Oct (8, 9, 10 调休 Saturday, 12, 13), at 17:30.
    assert e.fields["escalation"] == {
        "department": "医保局",
        "reason": "需要医保局答复",
        "complexity": "simple",
        "contact_due_at": "2026-10-08T17:30:00",
        "due_at": "2026-10-13T17:30:00",
        "provisional": False,
        "escalated_at": acted.isoformat(),
    }
    assert e.fields["due_at"] == datetime(2026, 10, 13, 17, 30)
    assert e.detail == {
        "reason": "需要医保局答复",
        "department": "医保局",
        "complexity": "simple",
        "due_at": "2026-10-13T17:30:00",
        "contact_due_at": "2026-10-08T17:30:00",
    }
    complex_ = effect(
        FakeSession("on_hold", 2), Action.ESCALATE, reason="r", department="d", complexity="complex"
    )
    assert complex_.fields["due_at"].date() == date(2026, 10, 27)


def test_an_escalation_needs_a_department_a_known_type_and_a_reason() -> None:
    for kw, code in (
        ({"reason": "r"}, "department_required"),
        ({"reason": "r", "department": "d", "complexity": "hard"}, "bad_complexity"),
        ({"department": "d"}, "reason_required"),
    ):
        with pytest.raises(RuleViolation) as err:
            effect(FakeSession("active", 2), Action.ESCALATE, **kw)
        assert err.value.code == code


def test_a_callback_defaults_to_the_next_working_day_and_never_lies_in_the_past() -> None:
    e = effect(FakeSession("active", 2), Action.CALLBACK, reason="等材料")
    assert e.fields["due_at"] == e.fields["callback_due_at"] == datetime(2026, 10, 8, 17, 30)
    chosen = NOW + timedelta(hours=2)
    assert (
        effect(FakeSession("active", 2), Action.CALLBACK, reason="r", due_at=chosen).fields[
            "due_at"
        ]
        == chosen
    )
    with pytest.raises(RuleViolation, match="回电期限不能早于操作时间"):
        effect(
            FakeSession("active", 2), Action.CALLBACK, reason="r", due_at=NOW - timedelta(hours=1)
        )


def test_starting_again_after_an_escalation_records_when_it_was_answered() -> None:
    esc = {"department": "医保局", "due_at": "2026-10-13T17:30:00"}
    e = effect(FakeSession("escalated", 2, escalation=esc), Action.START)
    assert e.fields == {
        "escalation": {**esc, "answered_at": NOW.isoformat()},
        "due_at": None,
        "state": "active",
    }
    assert esc == {"department": "医保局", "due_at": "2026-10-13T17:30:00"}, "not mutated"
    assert "escalation" not in effect(FakeSession("callback_pending", 2), Action.START).fields


def test_accepting_keeps_the_first_assignment_time_and_closing_needs_an_outcome() -> None:
    earlier = NOW - timedelta(minutes=5)
    e = effect(FakeSession("assigned", 2, assigned_at=earlier), Action.ACCEPT)
    assert e.fields["assignee_id"] == 2
    assert e.fields["assigned_at"] == earlier and e.fields["accepted_at"] == NOW
    with pytest.raises(RuleViolation):
        effect(FakeSession("active", 2), Action.CLOSE)
    closed = effect(
        FakeSession("active", 2),
        Action.CLOSE,
        outcome="resolved",
        close_summary=" " + "已答复" * 100 + " ",
    )
    assert closed.fields["closed_at"] == NOW and closed.fields["outcome"] == "resolved"
    assert closed.fields["close_summary"] == "已答复" * 100
    assert len(closed.detail["summary"]) == 200
    with pytest.raises(RuleViolation, match="办结摘要过长"):
        effect(
            FakeSession("active", 2), Action.CLOSE, outcome="resolved", close_summary="长" * 2001
        )
    with pytest.raises(RuleViolation, match="不在您名下"):
        effect(FakeSession("active", 9), Action.HOLD)


def test_a_note_comes_from_who_may_see_the_session_or_held_it_when_writing() -> None:
    check_note(visible=True, held_until=None, closed_at=None, written_at=NOW)
    check_note(visible=False, held_until=NOW, closed_at=None, written_at=NOW - timedelta(minutes=1))
    with pytest.raises(RuleViolation, match="无权"):
        check_note(visible=False, held_until=None, closed_at=None, written_at=NOW)
    with pytest.raises(RuleViolation, match="无权"):
        check_note(visible=False, held_until=NOW, closed_at=None, written_at=NOW + timedelta(1))
    with pytest.raises(RuleViolation, match="已办结"):
        check_note(visible=True, held_until=None, closed_at=NOW, written_at=NOW + timedelta(1))
    check_note(visible=True, held_until=None, closed_at=NOW, written_at=NOW)
