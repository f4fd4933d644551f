"""The team's figures for a day, a week or a month (班组统计), from plain records.

Pure functions over plain values, so that the server computes them on its data and
the tests check them against numbers worked out by hand. Every figure is defined
once, here, in the docstring of the function that computes it:

* which sessions count: :func:`period_range` and :func:`compute_figures`;
* first-response and handling times (median and 90th percentile): :func:`duration_stat`;
* the share answered within the first-response target: :func:`first_response`;
* one-contact resolution: :func:`is_one_contact`;
* escalations answered on time under the "1515" rule: :func:`escalation_status`;
* the 好差评 distribution and the satisfaction rate: :func:`ratings`;
* open rectifications and their deadlines: :func:`open_rectifications`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from core.calendar import WorkCalendar
from core.enums import EVALUATION_LABELS, Channel, Outcome, ServiceType, SessionState

NOT_ONE_CONTACT_EVENTS = frozenset({"transferred", "escalated", "callback"})
"""Timeline events after which a session no longer counts as resolved in one contact."""

ONE_CONTACT_OUTCOMES = frozenset({Outcome.RESOLVED.value, Outcome.GUIDED.value})
"""Outcomes that mean the caller's matter was settled (已解答, 已导办)."""

SATISFIED_SCORES = frozenset({4, 5})
"""满意 and 非常满意: the scores the satisfaction rate counts."""


class Period(StrEnum):
    """The span the figures cover."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @property
    def label(self) -> str:
        return {"day": "日", "week": "周", "month": "月"}[self.value]


# -- inputs -----------------------------------------------------------------------------


def _dt(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        result = value
    else:
        try:
            result = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if result.tzinfo is not None:
        # Every time of the domain is local and naive (as the server stores them).
        result = result.astimezone().replace(tzinfo=None)
    return result


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


@dataclass(frozen=True)
class SessionFacts:
    """What the figures need to know of one session."""

    id: str
    service_type: str
    channel: str
    state: str
    created_at: datetime
    assignee_id: int | None = None
    accepted_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: str | None = None
    escalation: Mapping[str, Any] | None = None
    callback_due_at: datetime | None = None
    timeline_kinds: frozenset[str] = frozenset()
    first_response_at: datetime | None = None
    """The first staff message of a chat session (``web_chat``), issue 13."""
    suggestions_sent: int = 0
    """How many suggested knowledge answers were sent in the conversation."""

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> SessionFacts:
        """From a session in the wire shape (``core.entities.Session.to_wire()``).

        Raises:
            ValueError: the record has no id or no valid creation time.
        """
        created = _dt(data.get("created_at"))
        if not data.get("id") or created is None:
            raise ValueError("session without id or creation time")
        kinds = frozenset(
            str(e.get("kind"))
            for e in data.get("timeline") or []
            if isinstance(e, Mapping) and e.get("kind")
        )
        escalation = data.get("escalation")
        assignee = data.get("assignee_id")
        first_message = _dt(data.get("first_response_at")) or next(
            (
                _dt(e.get("at"))
                for e in data.get("timeline") or []
                if isinstance(e, Mapping) and e.get("kind") == "first_response"
            ),
            None,
        )
        return cls(
            id=str(data["id"]),
            service_type=str(data.get("service_type") or ""),
            channel=str(data.get("channel") or ""),
            state=str(data.get("state") or ""),
            created_at=created,
            assignee_id=int(assignee) if assignee is not None else None,
            accepted_at=_dt(data.get("accepted_at")),
            closed_at=_dt(data.get("closed_at")),
            outcome=data.get("outcome") or None,
            escalation=dict(escalation) if isinstance(escalation, Mapping) else None,
            callback_due_at=_dt(data.get("callback_due_at")),
            timeline_kinds=kinds,
            first_response_at=first_message,
            suggestions_sent=sum(
                1
                for e in data.get("timeline") or []
                if isinstance(e, Mapping) and e.get("kind") == "suggestion_sent"
            ),
        )


@dataclass(frozen=True)
class RectificationFacts:
    """A 差评整改 as the figures list it."""

    id: str
    session_id: str
    state: str
    deadline: date
    assignee_id: int | None = None
    deadline_provisional: bool = False
    created_at: datetime | None = None
    closed_at: datetime | None = None
    summary: str = ""
    score: int | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> RectificationFacts:
        deadline = _day(data.get("deadline"))
        if not data.get("id") or deadline is None:
            raise ValueError("rectification without id or deadline")
        assignee = data.get("assignee_id")
        score = data.get("score")
        return cls(
            id=str(data["id"]),
            session_id=str(data.get("session_id") or ""),
            state=str(data.get("state") or "open"),
            deadline=deadline,
            assignee_id=int(assignee) if assignee is not None else None,
            deadline_provisional=bool(data.get("deadline_provisional")),
            created_at=_dt(data.get("created_at")),
            closed_at=_dt(data.get("closed_at")),
            summary=str(data.get("summary") or ""),
            score=int(score) if score is not None else None,
        )


# -- periods ------------------------------------------------------------------------------


def period_range(period: Period | str, day: date) -> tuple[datetime, datetime]:
    """The half-open span ``[start, end)`` of the day, the week or the month of ``day``.

    A week runs Monday to Sunday (ISO weeks, as Chinese offices count them); a month
    is the calendar month.
    """
    period = Period(period)
    if period is Period.DAY:
        first = day
        last = day + timedelta(days=1)
    elif period is Period.WEEK:
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        last = (
            first.replace(year=first.year + 1, month=1)
            if first.month == 12
            else first.replace(month=first.month + 1)
        )
    return datetime.combine(first, datetime.min.time()), datetime.combine(last, datetime.min.time())


def period_label(period: Period | str, day: date) -> str:
    """The span in words: 2026-11-27, 2026年第48周（11-23 至 11-29）, 2026年11月."""
    period = Period(period)
    start, end = period_range(period, day)
    if period is Period.DAY:
        return start.date().isoformat()
    if period is Period.WEEK:
        year, week, _ = start.date().isocalendar()
        last = end.date() - timedelta(days=1)
        return f"{year}年第{week}周（{start:%m-%d} 至 {last:%m-%d}）"
    return f"{start.year}年{start.month}月"


# -- single figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class DurationStat:
    """Seconds: how many values, their median and their 90th percentile."""

    count: int = 0
    median: float | None = None
    p90: float | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"count": self.count, "median": self.median, "p90": self.p90}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> DurationStat:
        return cls(int(data.get("count") or 0), data.get("median"), data.get("p90"))


def percentile_nearest_rank(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``fraction`` of the
    values at or below it (``sorted(values)[ceil(fraction * n) - 1]``).

    Chosen over interpolation because it is always a time that really happened, and a
    lead can check it by counting.
    """
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])


def duration_stat(values: Iterable[float]) -> DurationStat:
    """Median (the middle value, or the mean of the two middle values) and the
    nearest-rank 90th percentile of durations in seconds."""
    data = [float(v) for v in values]
    if not data:
        return DurationStat()
    return DurationStat(
        len(data), float(statistics.median(data)), percentile_nearest_rank(data, 0.9)
    )


def first_response_seconds(session: SessionFacts) -> float | None:
    """Seconds from arrival to the first 接入 (``accepted_at - created_at``); None if
    nobody has accepted it yet. A session logged by hand and taken at once counts 0.

    An online consultation (``web_chat``) is answered by the first staff message, not
    by the 接入: ``first_response_at - created_at`` once someone has written. A chat
    without a recorded first message (one from before messages existed) falls back to
    its 接入."""
    if session.channel == Channel.WEB_CHAT.value and session.first_response_at is not None:
        return max(0.0, (session.first_response_at - session.created_at).total_seconds())
    if session.accepted_at is None:
        return None
    return max(0.0, (session.accepted_at - session.created_at).total_seconds())


def handling_seconds(session: SessionFacts) -> float | None:
    """Seconds from the first 接入 to 办结 (``closed_at - accepted_at``), closed sessions
    only. Time spent waiting for a department's answer after a 转办 is included: the
    caller waited for it too."""
    if session.state != SessionState.CLOSED.value:
        return None
    if session.accepted_at is None or session.closed_at is None:
        return None
    return max(0.0, (session.closed_at - session.accepted_at).total_seconds())


@dataclass(frozen=True)
class TargetShare:
    """Sessions answered within the first-response target, of those that can be judged."""

    within: int = 0
    considered: int = 0

    @property
    def rate(self) -> float | None:
        return self.within / self.considered if self.considered else None


def first_response(
    sessions: Iterable[SessionFacts], target_seconds: float, now: datetime
) -> tuple[DurationStat, TargetShare]:
    """First-response times and the share answered within ``target_seconds``.

    A session accepted within the target (``≤``) counts as within. A session not yet
    accepted counts as missed once it has waited longer than the target (its caller
    has certainly waited too long), and is left out while it still could make it.
    """
    times: list[float] = []
    within = considered = 0
    for s in sessions:
        seconds = first_response_seconds(s)
        if seconds is not None:
            times.append(seconds)
            considered += 1
            within += seconds <= target_seconds
        elif (now - s.created_at).total_seconds() > target_seconds:
            considered += 1
    return duration_stat(times), TargetShare(within, considered)


def is_one_contact(session: SessionFacts) -> bool:
    """One-contact resolution (一次办结): a closed session whose outcome is 已解答 or
    已导办 and that was never transferred (转交), escalated to a department (转办) or
    turned into a callback work order (待回电) — neither by its timeline nor by its
    escalation or callback fields. A lead's 改派 does not count against it: it is an
    internal move, often before the caller was answered at all.
    """
    if session.state != SessionState.CLOSED.value:
        return False
    if session.outcome not in ONE_CONTACT_OUTCOMES:
        return False
    if session.timeline_kinds & NOT_ONE_CONTACT_EVENTS:
        return False
    return session.escalation is None and session.callback_due_at is None


class EscalationStatus(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    PENDING = "pending"


def escalation_status(session: SessionFacts, now: datetime) -> EscalationStatus | None:
    """Whether a 转办 was answered by its "1515" deadline (``escalation.due_at``: 5
    working days for a simple matter, 15 for a complex one).

    The answer time is ``escalation.answered_at`` (written when the agent resumes the
    session with the department's answer); when it is missing on a session that was
    closed, the close is the answer. Answered at or before the deadline: on time;
    after it: late; not answered and the deadline passed: late; not answered and
    still in time: pending (left out of the rate). None for a session without a 转办.
    """
    esc = session.escalation
    if not esc:
        return None
    due = _dt(esc.get("due_at"))
    if due is None:
        return None
    answered = _dt(esc.get("answered_at"))
    if answered is None and session.state == SessionState.CLOSED.value:
        answered = session.closed_at
    if answered is not None:
        return EscalationStatus.ON_TIME if answered <= due else EscalationStatus.LATE
    return EscalationStatus.LATE if now > due else EscalationStatus.PENDING


@dataclass(frozen=True)
class Ratings:
    """好差评 counts per score (5 非常满意 … 1 非常不满意)."""

    counts: Mapping[int, int] = field(default_factory=lambda: dict.fromkeys(EVALUATION_LABELS, 0))

    @property
    def rated(self) -> int:
        return sum(self.counts.values())

    @property
    def satisfied(self) -> int:
        return sum(n for score, n in self.counts.items() if score in SATISFIED_SCORES)

    @property
    def rate(self) -> float | None:
        """The satisfaction rate: share of 4 and 5 among the rated sessions."""
        return self.satisfied / self.rated if self.rated else None


def ratings(scores: Iterable[int]) -> Ratings:
    """Count scores 1-5; anything else is ignored (a malformed record)."""
    counts = dict.fromkeys(EVALUATION_LABELS, 0)
    for score in scores:
        if score in counts:
            counts[score] += 1
    return Ratings(counts)


@dataclass(frozen=True)
class RectificationRow:
    """An open rectification with its deadline in working days."""

    id: str
    session_id: str
    state: str
    deadline: date
    provisional: bool
    assignee_id: int | None
    working_days_left: int
    """Working days from today to the deadline; 0 on the day itself, negative when late."""
    summary: str = ""
    score: int | None = None

    @property
    def overdue(self) -> bool:
        return self.working_days_left < 0

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session_id": self.session_id,
            "state": self.state,
            "deadline": self.deadline.isoformat(),
            "provisional": self.provisional,
            "assignee_id": self.assignee_id,
            "working_days_left": self.working_days_left,
            "summary": self.summary,
            "score": self.score,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> RectificationRow:
        return cls(
            id=str(data["id"]),
            session_id=str(data.get("session_id") or ""),
            state=str(data.get("state") or "open"),
            deadline=date.fromisoformat(str(data["deadline"])[:10]),
            provisional=bool(data.get("provisional")),
            assignee_id=data.get("assignee_id"),
            working_days_left=int(data.get("working_days_left") or 0),
            summary=str(data.get("summary") or ""),
            score=data.get("score"),
        )


def working_days_left(calendar: WorkCalendar, today: date, deadline: date) -> int:
    """Working days in ``(today, deadline]``: 0 when due today, negative (at least -1)
    once the deadline day has passed."""
    if deadline >= today:
        return calendar.working_days_between(today, deadline)
    return -max(1, calendar.working_days_between(deadline, today))


def open_rectifications(
    items: Iterable[RectificationFacts], calendar: WorkCalendar, today: date
) -> list[RectificationRow]:
    """Rectifications not yet closed, soonest deadline first. A rectification is
    overdue once its deadline day has passed (``deadline < today``)."""
    rows = [
        RectificationRow(
            id=r.id,
            session_id=r.session_id,
            state=r.state,
            deadline=r.deadline,
            provisional=r.deadline_provisional,
            assignee_id=r.assignee_id,
            working_days_left=working_days_left(calendar, today, r.deadline),
            summary=r.summary,
            score=r.score,
        )
        for r in items
        if r.state != "closed"
    ]
    return sorted(rows, key=lambda r: (r.deadline, r.id))


# -- a set of figures --------------------------------------------------------------------


@dataclass(frozen=True)
class FigureSet:
    """Every figure of one group of sessions (the team, or one agent)."""

    sessions: int = 0
    by_service: Mapping[str, int] = field(default_factory=dict)
    by_channel: Mapping[str, int] = field(default_factory=dict)
    first_response: DurationStat = DurationStat()
    target: TargetShare = TargetShare()
    handling: DurationStat = DurationStat()
    closed: int = 0
    one_contact: int = 0
    escalations_on_time: int = 0
    escalations_late: int = 0
    escalations_pending: int = 0
    ratings: Ratings = field(default_factory=Ratings)
    open_rectifications: int = 0
    overdue_rectifications: int = 0
    suggestions_sent: int = 0
    """Suggested knowledge answers sent from beside a conversation (issue 13)."""

    @property
    def one_contact_rate(self) -> float | None:
        """One-contact resolutions among the closed sessions."""
        return self.one_contact / self.closed if self.closed else None

    @property
    def escalation_rate(self) -> float | None:
        """On-time answers among the escalations that are answered or overdue."""
        judged = self.escalations_on_time + self.escalations_late
        return self.escalations_on_time / judged if judged else None

    def to_wire(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "by_service": dict(self.by_service),
            "by_channel": dict(self.by_channel),
            "first_response": self.first_response.to_wire(),
            "target_within": self.target.within,
            "target_considered": self.target.considered,
            "handling": self.handling.to_wire(),
            "closed": self.closed,
            "one_contact": self.one_contact,
            "escalations_on_time": self.escalations_on_time,
            "escalations_late": self.escalations_late,
            "escalations_pending": self.escalations_pending,
            "ratings": {str(k): v for k, v in self.ratings.counts.items()},
            "open_rectifications": self.open_rectifications,
            "overdue_rectifications": self.overdue_rectifications,
            "suggestions_sent": self.suggestions_sent,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> FigureSet:
        counts = dict.fromkeys(EVALUATION_LABELS, 0)
        for key, value in (data.get("ratings") or {}).items():
            if int(key) in counts:
                counts[int(key)] = int(value)
        return cls(
            sessions=int(data.get("sessions") or 0),
            by_service={str(k): int(v) for k, v in (data.get("by_service") or {}).items()},
            by_channel={str(k): int(v) for k, v in (data.get("by_channel") or {}).items()},
            first_response=DurationStat.from_wire(data.get("first_response") or {}),
            target=TargetShare(
                int(data.get("target_within") or 0), int(data.get("target_considered") or 0)
            ),
            handling=DurationStat.from_wire(data.get("handling") or {}),
            closed=int(data.get("closed") or 0),
            one_contact=int(data.get("one_contact") or 0),
            escalations_on_time=int(data.get("escalations_on_time") or 0),
            escalations_late=int(data.get("escalations_late") or 0),
            escalations_pending=int(data.get("escalations_pending") or 0),
            ratings=Ratings(counts),
            open_rectifications=int(data.get("open_rectifications") or 0),
            overdue_rectifications=int(data.get("overdue_rectifications") or 0),
            suggestions_sent=int(data.get("suggestions_sent") or 0),
        )


def figure_set(
    sessions: Sequence[SessionFacts],
    scores: Mapping[str, int],
    rectifications: Sequence[RectificationRow],
    *,
    target_seconds: float,
    now: datetime,
) -> FigureSet:
    """The figures of one group of sessions.

    Args:
        sessions: the group's sessions of the period.
        scores: session id to its 好差评 score (only sessions of ``sessions`` count).
        rectifications: the open rectifications to count for the group.
        target_seconds: the first-response target.
        now: the time the figures are computed at (for waits and overdue escalations).
    """
    by_service = {t.value: 0 for t in ServiceType}
    by_channel = {c.value: 0 for c in Channel}
    for s in sessions:
        by_service[s.service_type] = by_service.get(s.service_type, 0) + 1
        by_channel[s.channel] = by_channel.get(s.channel, 0) + 1
    fr, target = first_response(sessions, target_seconds, now)
    closed = [s for s in sessions if s.state == SessionState.CLOSED.value]
    statuses = [escalation_status(s, now) for s in sessions]
    ids = {s.id for s in sessions}
    return FigureSet(
        sessions=len(sessions),
        by_service=by_service,
        by_channel=by_channel,
        first_response=fr,
        target=target,
        handling=duration_stat(h for s in sessions if (h := handling_seconds(s)) is not None),
        closed=len(closed),
        one_contact=sum(1 for s in closed if is_one_contact(s)),
        escalations_on_time=statuses.count(EscalationStatus.ON_TIME),
        escalations_late=statuses.count(EscalationStatus.LATE),
        escalations_pending=statuses.count(EscalationStatus.PENDING),
        ratings=ratings(score for sid, score in scores.items() if sid in ids),
        open_rectifications=len(rectifications),
        overdue_rectifications=sum(1 for r in rectifications if r.overdue),
        suggestions_sent=sum(s.suggestions_sent for s in sessions),
    )


@dataclass(frozen=True)
class AgentFigures:
    agent_id: int
    name: str
    figures: FigureSet


@dataclass(frozen=True)
class TeamFigures:
    """The figures of a team for one period, overall and per agent."""

    period: Period
    day: date
    start: datetime
    end: datetime
    label: str
    target_seconds: int
    generated_at: datetime
    team: FigureSet
    agents: list[AgentFigures]
    rectifications: list[RectificationRow]
    agent_names: Mapping[int, str] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "period": self.period.value,
            "date": self.day.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "label": self.label,
            "target_seconds": self.target_seconds,
            "generated_at": self.generated_at.isoformat(),
            "team": self.team.to_wire(),
            "agents": [
                {"agent_id": a.agent_id, "name": a.name, "figures": a.figures.to_wire()}
                for a in self.agents
            ],
            "rectifications": [r.to_wire() for r in self.rectifications],
            "agent_names": {str(k): v for k, v in self.agent_names.items()},
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> TeamFigures:
        """Read the server's answer.

        Raises:
            ValueError, KeyError, TypeError: the answer is not in this shape.
        """
        return cls(
            period=Period(data["period"]),
            day=date.fromisoformat(str(data["date"])),
            start=datetime.fromisoformat(str(data["start"])),
            end=datetime.fromisoformat(str(data["end"])),
            label=str(data.get("label") or ""),
            target_seconds=int(data.get("target_seconds") or 0),
            generated_at=datetime.fromisoformat(str(data["generated_at"])),
            team=FigureSet.from_wire(data["team"]),
            agents=[
                AgentFigures(int(a["agent_id"]), str(a["name"]), FigureSet.from_wire(a["figures"]))
                for a in data.get("agents") or []
            ],
            rectifications=[
                RectificationRow.from_wire(r) for r in data.get("rectifications") or []
            ],
            agent_names={int(k): str(v) for k, v in (data.get("agent_names") or {}).items()},
        )


def compute_figures(
    *,
    period: Period | str,
    day: date,
    sessions: Iterable[SessionFacts],
    scores: Mapping[str, int],
    rectifications: Iterable[RectificationFacts],
    agents: Mapping[int, str],
    calendar: WorkCalendar,
    target_seconds: int,
    now: datetime,
    member_names: Mapping[int, str] | None = None,
) -> TeamFigures:
    """The team's figures for the period of ``day``.

    A session belongs to the period when it arrived in it (``start ≤ created_at <
    end``); everything about it (its response, handling, escalation, rating) is counted
    with that period, so a figure never changes because of the day one looks at it,
    except for what has not happened yet. A session belongs to the agent it is assigned
    to now; sessions still in the queue count for the team only. The open
    rectifications are those open now (not of the period): they are the lead's to-do list.

    Args:
        agents: the team's agents (id to name), each gets a row even with no session.
        scores: session id to its 好差评 score.
        member_names: names of other members (a lead in charge of a rectification).
    """
    period = Period(period)
    start, end = period_range(period, day)
    chosen = [s for s in sessions if start <= s.created_at < end]
    open_rows = open_rectifications(rectifications, calendar, now.date())
    team = figure_set(chosen, scores, open_rows, target_seconds=target_seconds, now=now)
    per_agent = []
    for agent_id, name in agents.items():
        mine = [s for s in chosen if s.assignee_id == agent_id]
        rows = [r for r in open_rows if r.assignee_id == agent_id]
        per_agent.append(
            AgentFigures(
                agent_id,
                name,
                figure_set(mine, scores, rows, target_seconds=target_seconds, now=now),
            )
        )
    return TeamFigures(
        period=period,
        day=day,
        start=start,
        end=end,
        label=period_label(period, day),
        target_seconds=int(target_seconds),
        generated_at=now,
        team=team,
        agents=per_agent,
        rectifications=open_rows,
        agent_names={**(member_names or {}), **agents},
    )


# -- presenting ------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """45秒, 3分12秒, 1小时05分; a dash when there is nothing to show."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total}秒"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}分{secs:02d}秒" if secs else f"{minutes}分"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}小时{minutes:02d}分"


def rate_text(rate: float | None) -> str:
    """87.5%; a dash when nothing could be judged."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


@dataclass(frozen=True)
class Indicator:
    """One row of the figures table: a name and how to read it from a FigureSet."""

    key: str
    label: str
    kind: str
    """``count``, ``seconds`` or ``rate``: how to show and export the value."""


def indicators() -> list[Indicator]:
    """The rows of the figures table and of the exports, in order."""
    rows = [Indicator("sessions", "会话总数", "count")]
    rows += [Indicator(f"service:{t.value}", f"服务类型 · {t.label}", "count") for t in ServiceType]
    rows += [Indicator(f"channel:{c.value}", f"渠道 · {c.label}", "count") for c in Channel]
    rows += [
        Indicator("fr_median", "首次响应 中位数", "seconds"),
        Indicator("fr_p90", "首次响应 90分位", "seconds"),
        Indicator("target_rate", "首响达标率", "rate"),
        Indicator("handling_median", "办理时长 中位数", "seconds"),
        Indicator("handling_p90", "办理时长 90分位", "seconds"),
        Indicator("closed", "已办结", "count"),
        Indicator("one_contact_rate", "一次办结率", "rate"),
        Indicator("esc_on_time", "转办按期答复", "count"),
        Indicator("esc_late", "转办逾期", "count"),
        Indicator("esc_rate", "转办按期答复率（1515）", "rate"),
        Indicator("rated", "评价数", "count"),
    ]
    rows += [
        Indicator(f"score:{s}", f"好差评 · {EVALUATION_LABELS[s]}", "count")
        for s in (5, 4, 3, 2, 1)
    ]
    rows += [
        Indicator("satisfaction_rate", "满意率（满意及以上）", "rate"),
        Indicator("open_rect", "未结整改", "count"),
        Indicator("overdue_rect", "逾期整改", "count"),
        Indicator("suggestions", "建议答案发送次数", "count"),
    ]
    return rows


def indicator_value(figures: FigureSet, key: str) -> float | int | None:
    """The raw value of an indicator (seconds, a 0-1 rate or a count; None: nothing)."""
    kind, _, arg = key.partition(":")
    if kind == "service":
        return figures.by_service.get(arg, 0)
    if kind == "channel":
        return figures.by_channel.get(arg, 0)
    if kind == "score":
        return figures.ratings.counts.get(int(arg), 0)
    values: dict[str, float | int | None] = {
        "sessions": figures.sessions,
        "fr_median": figures.first_response.median,
        "fr_p90": figures.first_response.p90,
        "target_rate": figures.target.rate,
        "handling_median": figures.handling.median,
        "handling_p90": figures.handling.p90,
        "closed": figures.closed,
        "one_contact_rate": figures.one_contact_rate,
        "esc_on_time": figures.escalations_on_time,
        "esc_late": figures.escalations_late,
        "esc_rate": figures.escalation_rate,
        "rated": figures.ratings.rated,
        "satisfaction_rate": figures.ratings.rate,
        "open_rect": figures.open_rectifications,
        "overdue_rect": figures.overdue_rectifications,
        "suggestions": figures.suggestions_sent,
    }
    return values[key]


def indicator_text(indicator: Indicator, value: float | int | None) -> str:
    if indicator.kind == "seconds":
        return duration_text(value)
    if indicator.kind == "rate":
        return rate_text(value)
    return "—" if value is None else str(value)
