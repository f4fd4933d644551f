"""When the hall's staff answer online consultations: the working-day calendar plus
the opening hours (a server setting such as ``"09:00-12:00,13:30-17:30"``).

Both the server (the caller's start page) and the client may ask :func:`is_open` and
:func:`next_opening`; the words for the caller come from :func:`back_at_words`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from core.calendar import WorkCalendar

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
WEEKDAYS = "一二三四五六日"


@dataclass(frozen=True)
class OpeningHours:
    spans: tuple[tuple[time, time], ...]

    @classmethod
    def parse(cls, text: str) -> OpeningHours:
        """``"09:00-17:00"`` or several spans separated by commas, in order.

        Raises:
            ValueError: with a Chinese message naming the span that does not fit.
        """
        spans: list[tuple[time, time]] = []
        for part in (text or "").replace("，", ",").split(","):
            if not part.strip():
                continue
            found = _SPAN.match(part)
            if not found:
                raise ValueError(f"开放时间“{part.strip()}”格式不对，应如 09:00-17:00")
            h1, m1, h2, m2 = (int(x) for x in found.groups())
            if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
                raise ValueError(f"开放时间“{part.strip()}”不是有效时刻")
            start = time(h1, m1)
            end = time(23, 59, 59) if h2 == 24 else time(h2, m2)
            if end <= start or (spans and start < spans[-1][1]):
                raise ValueError(f"开放时间“{part.strip()}”的先后顺序不对")
            spans.append((start, end))
        if not spans:
            raise ValueError("开放时间不能为空")
        return cls(tuple(spans))


def is_open(now: datetime, calendar: WorkCalendar, hours: OpeningHours) -> bool:
    """True on a working day within one of the opening spans."""
    if not calendar.is_working_day(now.date()):
        return False
    return any(start <= now.time() < end for start, end in hours.spans)


def next_opening(now: datetime, calendar: WorkCalendar, hours: OpeningHours) -> datetime:
    """The next moment staff answer (``now`` itself when open)."""
    if is_open(now, calendar, hours):
        return now
    day = now.date()
    for _ in range(60):
        if calendar.is_working_day(day):
            for start, _end in hours.spans:
                at = datetime.combine(day, start)
                if at > now:
                    return at
        day += timedelta(days=1)
    return datetime.combine(day, hours.spans[0][0])


def back_at_words(now: datetime, back: datetime) -> str:
    """「今天 13:30」「明天 09:00」「12月7日（周一）09:00」."""
    days = (back.date() - now.date()).days
    clock = f"{back:%H:%M}"
    if days == 0:
        return f"今天 {clock}"
    if days == 1:
        return f"明天 {clock}"
    return f"{back.month}月{back.day}日（周{WEEKDAYS[back.weekday()]}）{clock}"
