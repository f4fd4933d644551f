"""Timeline events in words, refusals explained from the timeline, and the checks of a
session logged by hand (phone numbers, ID numbers with their checksum)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from core.session_timeline import (
    concerns_my_queue,
    describe_event,
    describe_live_event,
    explain_refusal,
    when_text,
)
from core.validation import id_number_error, normalize_phone, phone_error, validate_new_session

TODAY = date(2026, 3, 2)


def event(kind: str, at: str, actor: str | None, actor_id: int | None, **detail: object) -> dict:
    return {"kind": kind, "at": at, "actor_name": actor, "actor_id": actor_id, "detail": detail}


TIMELINE = [
    event("created", "2026-03-02T10:01:00", None, None, channel="hotline"),
    event("assigned", "2026-03-02T10:02:00", None, None, to="李晓雯", to_id=2, auto=True),
    event("accepted", "2026-03-02T10:03:00", "李晓雯", 2),
    event("reassigned", "2026-03-02T10:32:00", "李强", 1, to="王芳", to_id=3, reason="请假"),
]


def test_a_refusal_names_who_moved_the_session_and_when() -> None:
    text = explain_refusal(
        TIMELINE,
        state="assigned",
        assignee_id=3,
        user_id=2,
        action_label="挂起",
        has_notes=True,
        today=TODAY,
    )
    assert text == "该会话已于 10:32 由 李强 改派给 王芳，「挂起」未执行，您的备注已保留"
    without_notes = explain_refusal(
        TIMELINE, state="assigned", assignee_id=3, user_id=2, action_label="挂起", today=TODAY
    )
    assert without_notes is not None and "备注" not in without_notes


def test_a_refusal_on_another_day_gives_the_date() -> None:
    text = explain_refusal(
        TIMELINE,
        state="assigned",
        assignee_id=3,
        user_id=2,
        action_label="办结",
        today=date(2026, 3, 3),
    )
    assert text is not None and "3月2日 10:32" in text


def test_a_closed_session_is_explained_by_its_close() -> None:
    closed = [
        *TIMELINE[:3],
        event("closed", "2026-03-02T11:00:00", "李晓雯", 2, outcome="resolved"),
    ]
    text = explain_refusal(
        closed, state="closed", assignee_id=2, user_id=2, action_label="挂起", today=TODAY
    )
    assert text == "该会话已于 11:00 由 李晓雯 办结，「挂起」未执行"


def test_nothing_to_explain_gives_none() -> None:
    assert (
        explain_refusal(
            TIMELINE[:1], state="waiting", assignee_id=None, user_id=2, action_label="接入"
        )
        is None
    )
    # The user's own acceptance is no reason to refuse them.
    assert (
        explain_refusal(TIMELINE[:3], state="active", assignee_id=2, user_id=2, action_label="挂起")
        is None
    )


@pytest.mark.parametrize(
    ("kind", "detail", "words"),
    [
        ("assigned", {"to": "王芳", "auto": True}, "分配给 王芳（自动分配）"),
        (
            "reassigned",
            {"from": "李晓雯", "to": "王芳", "reason": "请假"},
            "由 李晓雯 改派给 王芳 · 原因：请假",
        ),
        ("transferred", {"to_team_name": "远程帮办组", "reason": "需帮办"}, "转交给 远程帮办组"),
        (
            "escalated",
            {"department": "税务局", "complexity": "complex", "due_at": "2026-03-20T17:30:00"},
            "转办至 税务局（复杂事项），答复期限 3月20日（周五）17:30",
        ),
        ("closed", {"outcome": "resolved", "summary": "已答复"}, "办结（已解答） · 摘要：已答复"),
        ("evaluated", {"score": 2}, "记录好差评：不满意"),
        ("revealed", {"field": "phone"}, "查看完整电话"),
        (
            "held",
            {"reason": "等材料", "offline_at": "2026-03-02T09:00:00"},
            "挂起 · 原因：等材料 · 离线时操作于",
        ),
        ("some_future_kind", {}, "some_future_kind"),
    ],
)
def test_events_are_described_in_words(kind: str, detail: dict, words: str) -> None:
    assert words in describe_event({"kind": kind, "detail": detail})


def test_when_text() -> None:
    assert when_text("2026-03-02T08:05:00", TODAY) == "08:05"
    assert when_text(datetime(2026, 2, 27, 16, 0), TODAY) == "2月27日 16:00"
    assert when_text(None) == "" and when_text("not a date") == ""


def test_live_events_in_words_for_each_side_of_a_reassignment() -> None:
    payload = {
        "from_id": 2,
        "to_id": 3,
        "to": "王芳",
        "by": "李强",
        "summary": "问公积金",
        "reason": "请假",
    }
    title, text = describe_live_event("session_reassigned", payload, 3)
    assert title == "会话改派给您" and "李强" in text and "请假" in text
    title, text = describe_live_event("session_reassigned", payload, 2)
    assert title == "您的会话已被改派" and "王芳" in text
    assert concerns_my_queue("session_reassigned", payload, 3)
    assert not concerns_my_queue("session_reassigned", payload, 2)
    assert concerns_my_queue("session_waiting", {}, 2)
    assert not concerns_my_queue("note_added", {}, 2)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("13812345678", True),
        ("138 1234 5678", True),
        ("+8613812345678", True),
        ("025-84561234", True),
        ("02584561234", True),
        ("0510-8123456", True),
        ("1381234567", False),
        ("12812345678", False),
        ("025-8456", False),
        ("phone", False),
    ],
)
def test_phone_numbers(value: str, ok: bool) -> None:
    assert (phone_error(value) is None) is ok
    assert normalize_phone(" +86 138-1234 ") == "138-1234"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("11010519491231002X", None),
        ("11010519491231002x", None),
        ("320102199003071234", "校验位"),
        ("110105194912310021", "校验位"),
        ("11010519491231002", "18 位"),
        ("1101051949123100AX", "前 17 位应为数字"),
        ("99010519491231002X", "省级行政区"),
        ("11010519490231002X", "出生日期"),
        ("11010530001231002X", "不合理"),
    ],
)
def test_id_numbers_with_their_checksum(value: str, words: str | None) -> None:
    message = id_number_error(value, today=TODAY)
    if words is None:
        assert message is None
    else:
        assert message is not None and words in message


def test_a_new_session_names_every_wrong_field() -> None:
    errors = validate_new_session(
        {"channel": "referral", "service_type": "", "caller_phone": "12", "summary": ""}
    )
    assert set(errors) == {"service_type", "caller_name", "caller_phone", "summary"}
    assert (
        validate_new_session(
            {
                "channel": "phone",
                "service_type": "consult",
                "caller_phone": "13812345678",
                "summary": "问社保",
            }
        )
        == {}
    )
    # A walk-in referral may come without a phone number, but not without a name.
    assert (
        validate_new_session(
            {
                "channel": "referral",
                "service_type": "guide",
                "caller_name": "张先生",
                "summary": "转介",
            }
        )
        == {}
    )


def test_a_created_event_names_the_ticket_and_the_sending_system() -> None:
    from core.session_timeline import describe_event

    walk_in = {"kind": "created", "detail": {"channel": "walk_in", "ticket_number": "A023"}}
    assert describe_event(walk_in) == "创建（现场），排队号 A023"
    sent = {
        "kind": "created",
        "detail": {"channel": "hotline", "source": "12345热线", "external_id": "GD-1"},
    }
    assert describe_event(sent) == "创建（12345热线），来自12345热线，外部编号 GD-1"
