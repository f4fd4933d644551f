"""The working-day calendar (工作日历) and "N working days" deadlines.

Holidays and the weekend days moved to working days (调休) are data: the years
whose official schedule is published ship in ``core/data/cn_calendar.json``; the
server keeps them editable by an admin and syncs them to clients. A deadline that
runs into a year with no published schedule is computed on weekends alone and
flagged as provisional, rather than guessed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib import resources
from typing import Any

END_OF_WORKING_DAY = time(17, 30)


@dataclass(frozen=True)
class YearSchedule:
    """One year's official schedule."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str = ""

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> YearSchedule:
        year = int(data["year"])
        holidays = frozenset(date.fromisoformat(d) for d in data.get("holidays", []))
        workdays = frozenset(date.fromisoformat(d) for d in data.get("workdays", []))
        for d in holidays | workdays:
            if d.year != year:
                raise ValueError(f"{d.isoformat()} 不属于 {year} 年")
        if holidays & workdays:
            raise ValueError("同一天不能既是假日又是调休工作日")
        return cls(year, holidays, workdays, str(data.get("source", "")))

    def to_wire(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "source": self.source,
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "workdays": sorted(d.isoformat() for d in self.workdays),
        }


MIN_YEAR, MAX_YEAR = 2000, 2100


def check_year_schedule(year: int, holidays: Iterable[str], workdays: Iterable[str]) -> list[str]:
    """What is wrong with an admin's edit of one year, in words (empty: nothing).

    Every date is a real ``YYYY-MM-DD`` of ``year``; no day is both a holiday and a
    调休 working day; a 调休 working day is a Saturday or a Sunday (a weekday is a
    working day anyway).
    """
    problems: list[str] = []
    if not MIN_YEAR <= year <= MAX_YEAR:
        return [f"年份应在 {MIN_YEAR} 到 {MAX_YEAR} 之间"]
    parsed: dict[str, set[date]] = {"holidays": set(), "workdays": set()}
    for name, values in (("holidays", holidays), ("workdays", workdays)):
        label = "假日" if name == "holidays" else "调休工作日"
        for value in values:
            try:
                day = date.fromisoformat(str(value))
            except ValueError:
                problems.append(f"{label}“{value}”不是有效日期（应为 YYYY-MM-DD）")
                continue
            if day.year != year:
                problems.append(f"{label} {day.isoformat()} 不属于 {year} 年")
                continue
            parsed[name].add(day)
    for day in sorted(parsed["holidays"] & parsed["workdays"]):
        problems.append(f"{day.isoformat()} 不能既是假日又是调休工作日")
    for day in sorted(parsed["workdays"] - parsed["holidays"]):
        if day.weekday() < 5:
            problems.append(f"调休工作日 {day.isoformat()} 是工作日本身，应为周六或周日")
    return problems


@dataclass(frozen=True)
class Deadline:
    """A computed deadline; ``provisional`` when it relied on an unpublished year."""

    day: date
    provisional: bool

    def at_end_of_day(self, end: time = END_OF_WORKING_DAY) -> datetime:
        return datetime.combine(self.day, end)


@dataclass
class WorkCalendar:
    """Working days with China's public holidays and 调休 working weekends."""

    schedules: dict[int, YearSchedule] = field(default_factory=dict)

    @classmethod
    def from_schedules(cls, schedules: Iterable[YearSchedule]) -> WorkCalendar:
        return cls({s.year: s for s in schedules})

    @classmethod
    def builtin(cls) -> WorkCalendar:
        """The calendar shipped with the program (published years only)."""
        return cls.from_schedules(builtin_schedules())

    @property
    def known_years(self) -> list[int]:
        return sorted(self.schedules)

    def is_known(self, day: date) -> bool:
        return day.year in self.schedules

    def is_working_day(self, day: date) -> bool:
        schedule = self.schedules.get(day.year)
        if schedule is not None:
            if day in schedule.holidays:
                return False
            if day in schedule.workdays:
                return True
        return day.weekday() < 5

    def add_working_days(self, start: date | datetime, n: int) -> Deadline:
        """The Nth working day after ``start`` (the start day itself does not count).

        ``n = 0`` gives the start day if it is a working day, else the next one.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        day = start.date() if isinstance(start, datetime) else start
        provisional = False
        if n == 0:
            while not self.is_working_day(day):
                provisional |= not self.is_known(day)
                day += timedelta(days=1)
            return Deadline(day, provisional or not self.is_known(day))
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            provisional |= not self.is_known(day)
            if self.is_working_day(day):
                counted += 1
        return Deadline(day, provisional)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


def builtin_schedules() -> list[YearSchedule]:
    text = resources.files("core.data").joinpath("cn_calendar.json").read_text("utf-8")
    return [YearSchedule.from_wire(y) for y in json.loads(text)["years"]]


ESCALATION_RULE_1515 = {"contact": 1, "simple": 5, "complex": 15}
"""The "1515" rule for 转办: contact within 1 working day, simple answers in 5, complex in 15."""


def escalation_deadline(
    calendar: WorkCalendar, start: date | datetime, complexity: str = "simple"
) -> Deadline:
    """The answer deadline of an escalation under the "1515" rule."""
    try:
        days = ESCALATION_RULE_1515[complexity]
    except KeyError:
        raise ValueError(f"unknown complexity {complexity!r}") from None
    return calendar.add_working_days(start, days)
