"""Opening hours on the working-day calendar (the caller's start page, issue 13)."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.calendar import WorkCalendar
from core.opening_hours import OpeningHours, back_at_words, is_open, next_opening

HOURS = OpeningHours.parse("09:00-12:00, 13:30-17:30")
CAL = WorkCalendar.builtin()


def test_open_within_a_span_of_a_working_day_only() -> None:
    thursday = datetime(2026, 12, 3, 10, 0)
    assert is_open(thursday, CAL, HOURS)
    assert not is_open(thursday.replace(hour=12, minute=30), CAL, HOURS)  # lunch
    assert not is_open(thursday.replace(hour=17, minute=30), CAL, HOURS)  # the end is shut
    assert not is_open(datetime(2026, 12, 5, 10, 0), CAL, HOURS)  # a Saturday


def test_the_next_opening_skips_lunch_nights_and_weekends() -> None:
    assert next_opening(datetime(2026, 12, 3, 12, 15), CAL, HOURS) == datetime(2026, 12, 3, 13, 30)
    assert next_opening(datetime(2026, 12, 3, 18, 0), CAL, HOURS) == datetime(2026, 12, 4, 9, 0)
    friday_night = datetime(2026, 12, 4, 20, 0)
    assert next_opening(friday_night, CAL, HOURS) == datetime(2026, 12, 7, 9, 0)
    assert back_at_words(friday_night, datetime(2026, 12, 7, 9, 0)) == "12月7日（周一）09:00"
    assert back_at_words(datetime(2026, 12, 3, 18, 0), datetime(2026, 12, 4, 9, 0)) == "明天 09:00"


def test_holidays_are_closed_and_make_up_saturdays_open() -> None:
    # On the built-in 2026 calendar: 1 October is National Day, 10 October (a Saturday)
    # is worked instead.
    assert not is_open(datetime(2026, 10, 1, 10, 0), CAL, HOURS)
    assert is_open(datetime(2026, 10, 10, 10, 0), CAL, HOURS)
    assert (
        next_opening(datetime(2026, 10, 1, 10, 0), CAL, HOURS).date()
        != datetime(2026, 10, 1).date()
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "不能为空"),
        ("9-17", "格式不对"),
        ("17:00-09:00", "先后顺序"),
        ("25:00-26:00", "有效时刻"),
    ],
)
def test_bad_settings_are_refused_in_words(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        OpeningHours.parse(text)


def test_the_consultation_timeline_and_live_events_have_words() -> None:
    from core.session_timeline import describe_event, describe_live_event

    assert describe_event({"kind": "first_response", "detail": {}}) == "首次回复群众"
    assert describe_event({"kind": "evaluated", "detail": {"score": 5, "via": "page"}}) == (
        "群众评价：非常满意"
    )
    title, text = describe_live_event(
        "message_received", {"summary": "社保卡补办", "text": "在吗", "photo": False}, 1
    )
    assert title == "群众发来新消息" and text == "在吗（社保卡补办）"


def test_a_chat_is_answered_by_the_first_staff_message_not_the_accept() -> None:
    from datetime import timedelta

    from core.figures import SessionFacts, first_response_seconds

    t0 = datetime(2026, 12, 3, 10, 0)
    chat = SessionFacts(
        id="c",
        service_type="consult",
        channel="web_chat",
        state="active",
        created_at=t0,
        accepted_at=t0 + timedelta(seconds=5),
    )
    assert first_response_seconds(chat) == 5.0  # no message recorded: the 接入 counts
    answered = {
        "id": "c",
        "channel": "web_chat",
        "state": "active",
        "created_at": t0.isoformat(),
        "accepted_at": (t0 + timedelta(seconds=5)).isoformat(),
        "timeline": [{"kind": "first_response", "at": (t0 + timedelta(seconds=40)).isoformat()}],
    }
    assert first_response_seconds(SessionFacts.from_wire(answered)) == 40.0
    phone = SessionFacts(
        id="p",
        service_type="consult",
        channel="hotline",
        state="active",
        created_at=t0,
        accepted_at=t0 + timedelta(seconds=5),
    )
    assert first_response_seconds(phone) == 5.0
