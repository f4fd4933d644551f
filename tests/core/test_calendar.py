from datetime import date, datetime

import pytest

from core.calendar import WorkCalendar, YearSchedule, escalation_deadline


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar.builtin()


def test_spring_festival_2026_is_off_and_the_adjusted_saturdays_are_working(
    cal: WorkCalendar,
) -> None:
    for day in range(15, 24):
        assert not cal.is_working_day(date(2026, 2, day)), day
    assert cal.is_working_day(date(2026, 2, 14))  # Saturday, 调休
    assert cal.is_working_day(date(2026, 2, 28))  # Saturday, 调休
    assert cal.is_working_day(date(2026, 2, 24))  # the Tuesday after


def test_working_days_across_the_spring_festival(cal: WorkCalendar) -> None:
    # Friday 13 Feb + 1 → Saturday 14 Feb (a working Saturday)
    assert cal.add_working_days(date(2026, 2, 13), 1).day == date(2026, 2, 14)
    # Saturday 14 Feb + 1 → Tuesday 24 Feb (the holiday runs 15-23)
    assert cal.add_working_days(date(2026, 2, 14), 1).day == date(2026, 2, 24)
    # 5 working days from Friday 13 Feb: 14, 24, 25, 26, 27
    deadline = cal.add_working_days(datetime(2026, 2, 13, 16, 0), 5)
    assert deadline.day == date(2026, 2, 27)
    assert not deadline.provisional


def test_national_day_2026(cal: WorkCalendar) -> None:
    assert cal.is_working_day(date(2026, 9, 20))  # Sunday, 调休
    assert not cal.is_working_day(date(2026, 10, 1))
    assert not cal.is_working_day(date(2026, 10, 7))
    assert cal.is_working_day(date(2026, 10, 10))  # Saturday, 调休
    # Wednesday 30 Sep + 1 → Thursday 8 Oct
    assert cal.add_working_days(date(2026, 9, 30), 1).day == date(2026, 10, 8)
    # "1515": a complex escalation on 30 Sep is due 15 working days later
    d = escalation_deadline(cal, date(2026, 9, 30), "complex")
    # 8, 9, 10 (Saturday, 调休), 12-16, 19-23, 26, 27
    assert d.day == date(2026, 10, 27)
    assert cal.working_days_between(date(2026, 9, 30), d.day) == 15


def test_unpublished_years_fall_back_to_weekends_and_say_so(cal: WorkCalendar) -> None:
    assert 2027 not in cal.known_years
    d = cal.add_working_days(date(2026, 12, 30), 3)
    assert d.day == date(2027, 1, 4)
    assert d.provisional
    assert not cal.add_working_days(date(2026, 12, 1), 3).provisional


def test_schedules_reject_a_day_that_is_both_holiday_and_workday() -> None:
    with pytest.raises(ValueError):
        YearSchedule.from_wire(
            {"year": 2026, "holidays": ["2026-02-14"], "workdays": ["2026-02-14"]}
        )
    with pytest.raises(ValueError):
        YearSchedule.from_wire({"year": 2026, "holidays": ["2025-02-14"]})


def test_zero_working_days_is_today_or_the_next_working_day(cal: WorkCalendar) -> None:
    assert cal.add_working_days(date(2026, 3, 2), 0).day == date(2026, 3, 2)
    assert cal.add_working_days(date(2026, 10, 3), 0).day == date(2026, 10, 8)
