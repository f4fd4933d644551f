"""The session state machine (DESIGN.md §5): which moves are legal, and for whom.

The client calls this before it queues an action; the server calls it again when
the mutation arrives, so a move is legal on the server for exactly the reasons it
is legal in the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from core.calendar import WorkCalendar, escalation_deadline
from core.enums import Outcome, Role, SessionState

S = SessionState


class Action(StrEnum):
    """What a person (or the server's dispatcher) does to a session."""

    ASSIGN = "assign"
    ACCEPT = "accept"
    START = "start"
    HOLD = "hold"
    RESUME = "resume"
    ESCALATE = "escalate"
    CALLBACK = "callback"
    CLOSE = "close"

    @property
    def label(self) -> str:
        return _ACTION_LABELS[self]


_ACTION_LABELS = {
    Action.ASSIGN: "分配",
    Action.ACCEPT: "接入",
    Action.START: "开始办理",
    Action.HOLD: "挂起",
    Action.RESUME: "恢复",
    Action.ESCALATE: "转办",
    Action.CALLBACK: "待回电",
    Action.CLOSE: "办结",
}

ACTION_EVENTS: dict[Action, str] = {
    Action.ASSIGN: "assigned",
    Action.ACCEPT: "accepted",
    Action.START: "started",
    Action.HOLD: "held",
    Action.RESUME: "resumed",
    Action.ESCALATE: "escalated",
    Action.CALLBACK: "callback",
    Action.CLOSE: "closed",
}
"""The timeline event each state-machine action writes."""

COMPLEXITIES = ("simple", "complex")
"""转办 matter types of the "1515" rule (words in ``core.session_timeline``)."""
MAX_CLOSE_SUMMARY = 2000
CALLBACK_PAST_SLACK = timedelta(minutes=1)

_OPEN_WORKING = frozenset({S.ACTIVE, S.ON_HOLD, S.ESCALATED, S.CALLBACK_PENDING})

TRANSITIONS: dict[Action, tuple[frozenset[SessionState], SessionState]] = {
    Action.ASSIGN: (frozenset({S.WAITING}), S.ASSIGNED),
    Action.ACCEPT: (frozenset({S.WAITING, S.ASSIGNED}), S.ACTIVE),
    Action.START: (frozenset({S.ESCALATED, S.CALLBACK_PENDING}), S.ACTIVE),
    Action.HOLD: (frozenset({S.ACTIVE}), S.ON_HOLD),
    Action.RESUME: (frozenset({S.ON_HOLD}), S.ACTIVE),
    Action.ESCALATE: (frozenset({S.ACTIVE, S.ON_HOLD}), S.ESCALATED),
    Action.CALLBACK: (frozenset({S.ACTIVE, S.ON_HOLD}), S.CALLBACK_PENDING),
    Action.CLOSE: (_OPEN_WORKING, S.CLOSED),
}
"""For each action: the states it may start from, and the state it leads to."""

TRANSFERABLE_STATES = frozenset({S.ASSIGNED, S.ACTIVE, S.ON_HOLD, S.CALLBACK_PENDING})
REASSIGNABLE_STATES = frozenset(
    {S.WAITING, S.ASSIGNED, S.ACTIVE, S.ON_HOLD, S.ESCALATED, S.CALLBACK_PENDING}
)


class SessionLike(Protocol):
    """What the rules need to know of a session: any object with these attributes."""

    @property
    def state(self) -> str: ...

    @property
    def assignee_id(self) -> int | None: ...

    @property
    def team_id(self) -> str: ...


@dataclass(frozen=True)
class Actor:
    """Who acts. ``id`` is None for the server's own dispatcher."""

    id: int | None
    role: Role
    team_id: str | None

    @classmethod
    def system(cls) -> Actor:
        return cls(id=None, role=Role.ADMIN, team_id=None)


class RuleViolation(Exception):
    """A move the rules do not allow; ``message`` is shown to the person as it is."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _state(session: SessionLike) -> SessionState:
    return SessionState(session.state)


def check_transition(
    session: SessionLike,
    action: Action | str,
    actor: Actor,
    *,
    reason: str | None = None,
    outcome: str | None = None,
    due_at: datetime | None = None,
) -> SessionState:
    """Check that ``actor`` may apply ``action`` to ``session`` now.

    Returns:
        The state the session moves to.

    Raises:
        RuleViolation: with a message in Chinese saying why not.
    """
    action = Action(action)
    sources, target = TRANSITIONS[action]
    current = _state(session)
    if current not in sources:
        raise RuleViolation(
            "illegal_state",
            f"会话当前为「{current.label}」，不能{action.label}",
        )
    is_system = actor.id is None
    if action is Action.ASSIGN:
        if not (is_system or leads_team(actor, session.team_id)):
            raise RuleViolation("forbidden", "只有班组长或系统可以分配会话")
    elif action is Action.ACCEPT and current is S.WAITING:
        if actor.role is Role.ADMIN or actor.team_id != session.team_id:
            raise RuleViolation("forbidden", "只能接入本班组队列中的会话")
    elif session.assignee_id != actor.id:
        raise RuleViolation("not_assignee", "该会话不在您名下，不能操作")
    if action in (Action.ESCALATE, Action.CALLBACK) and not (reason or "").strip():
        raise RuleViolation("reason_required", f"{action.label}需要填写原因")
    if action is Action.ESCALATE and due_at is None:
        raise RuleViolation("due_required", "转办需要答复期限")
    if action is Action.CLOSE:
        try:
            Outcome(outcome or "")
        except ValueError:
            raise RuleViolation("outcome_required", "办结需要选择办理结果") from None
    return target


def check_transfer(
    session: SessionLike,
    actor: Actor,
    *,
    to_agent_id: int | None,
    to_team_id: str | None,
    reason: str | None,
) -> SessionState:
    """Check a transfer (转交) by the assignee to a colleague or another team's queue.

    Returns:
        The state after the transfer: ``assigned`` to a colleague, ``waiting`` in a queue.
    """
    current = _state(session)
    if current not in TRANSFERABLE_STATES:
        raise RuleViolation("illegal_state", f"会话当前为「{current.label}」，不能转交")
    if session.assignee_id != actor.id:
        raise RuleViolation("not_assignee", "该会话不在您名下，不能转交")
    if not (reason or "").strip():
        raise RuleViolation("reason_required", "转交需要填写原因")
    if (to_agent_id is None) == (to_team_id is None):
        raise RuleViolation("bad_target", "请选择转交给一位同事或一个班组")
    if to_agent_id is not None and to_agent_id == actor.id:
        raise RuleViolation("bad_target", "不能转交给自己")
    return S.ASSIGNED if to_agent_id is not None else S.WAITING


def check_reassign(
    session: SessionLike,
    actor: Actor,
    *,
    expected_assignee_id: int | None,
    to_agent_id: int,
    reason: str | None,
) -> SessionState:
    """Check a reassignment (改派) by a lead: a compare-and-set on the assignee.

    Raises:
        RuleViolation: ``stale_assignee`` when someone else moved the session first.
    """
    current = _state(session)
    if not leads_team(actor, session.team_id):
        raise RuleViolation("forbidden", "只有本班组的班组长可以改派会话")
    if current not in REASSIGNABLE_STATES:
        raise RuleViolation("illegal_state", f"会话当前为「{current.label}」，不能改派")
    if not (reason or "").strip():
        raise RuleViolation("reason_required", "改派需要填写原因")
    if session.assignee_id != expected_assignee_id:
        raise RuleViolation("stale_assignee", "会话的承办人已变更，请刷新后再改派")
    if to_agent_id == session.assignee_id:
        raise RuleViolation("bad_target", "会话已在该坐席名下")
    return S.ASSIGNED


REVEAL_REASON_MAX = 200
"""Characters of the reason for a reveal (显示完整号码) kept in the audit log."""

REVEAL_REASONS = ("核对来电人身份", "回拨来电人电话", "办理业务需填写完整号码")
"""Reasons offered in the reveal dialog; the person may write their own."""


def clean_reveal_reason(reason: str | None) -> str:
    """The reason for a reveal as it is logged: one line, at most REVEAL_REASON_MAX characters."""
    return " ".join((reason or "").split())[:REVEAL_REASON_MAX]


def check_reveal_reason(reason: str | None) -> str:
    """The reason a person gives before a caller's full number is shown.

    The client asks for it; the server logs whatever arrives (a reveal that happened
    is never refused after the fact, so its audit row is never lost).

    Raises:
        RuleViolation: ``reason_required`` when there is none, ``reason_too_long``.
    """
    text = " ".join((reason or "").split())
    if not text:
        raise RuleViolation("reason_required", "查看完整号码需要填写原因")
    if len(text) > REVEAL_REASON_MAX:
        raise RuleViolation("reason_too_long", f"原因过长（最多 {REVEAL_REASON_MAX} 字）")
    return text


def available_actions(session: SessionLike, actor: Actor) -> list[Action]:
    """The actions ``actor`` may take on ``session`` now, for enabling buttons."""
    result: list[Action] = []
    for action in Action:
        if action is Action.ASSIGN:
            continue
        sources, _ = TRANSITIONS[action]
        if _state(session) not in sources:
            continue
        if action is Action.ACCEPT and _state(session) is S.WAITING:
            if actor.team_id == session.team_id and actor.role is not Role.ADMIN:
                result.append(action)
        elif session.assignee_id == actor.id:
            result.append(action)
    return result


def leads_team(actor: Actor, team_id: str | None) -> bool:
    """Whether ``actor`` leads ``team_id`` (admins lead every team)."""
    return actor.role is Role.ADMIN or (actor.role is Role.LEAD and actor.team_id == team_id)


@dataclass(frozen=True)
class TransitionEffect:
    """What a legal transition does to a session, the same on the client and the server.

    ``fields`` are the session attributes to set (datetimes as ``datetime``,
    ``escalation`` as its wire dict); ``event``/``detail`` the timeline entry to add.
    """

    target: SessionState
    fields: dict[str, Any] = field(default_factory=dict)
    event: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def _iso(value: datetime) -> str:
    return value.replace(microsecond=0).isoformat()


def transition_effect(
    session: SessionLike,
    action: Action | str,
    actor: Actor,
    *,
    acted_at: datetime,
    now: datetime,
    calendar: WorkCalendar,
    reason: str = "",
    outcome: str | None = None,
    close_summary: str = "",
    department: str = "",
    complexity: str = "simple",
    due_at: datetime | None = None,
    callback_working_days: int = 1,
) -> TransitionEffect:
    """Check a transition and work out its whole effect (DESIGN.md §5).

    Args:
        session: The session as it is now (also ``escalation``, ``assigned_at`` and
            ``accepted_at`` are read when present).
        acted_at: When the person acted (an offline action: when it was queued);
            deadlines run from it.
        now: The time written as the moment of the change.
        calendar: The working-day calendar the "1515" and callback deadlines use.
        due_at: For 待回电, the chosen callback time (default: ``callback_working_days``
            working days on).

    Raises:
        RuleViolation: the move is not legal, or something it needs is missing.
    """
    action = Action(action)
    reason = (reason or "").strip()
    fields: dict[str, Any] = {}
    detail: dict[str, Any] = {"reason": reason or None}
    if action is Action.ESCALATE:
        department = (department or "").strip()
        if not department:
            raise RuleViolation("department_required", "转办需要选择承办部门")
        if complexity not in COMPLEXITIES:
            raise RuleViolation("bad_complexity", "转办的事项类型应为简单或复杂")
        contact = calendar.add_working_days(acted_at, 1)
        answer = escalation_deadline(calendar, acted_at, complexity)
        due_at = answer.at_end_of_day()
        escalation = {
            "department": department,
            "reason": reason,
            "complexity": complexity,
            "contact_due_at": contact.at_end_of_day().isoformat(),
            "due_at": due_at.isoformat(),
            "provisional": answer.provisional or contact.provisional,
            "escalated_at": _iso(acted_at),
        }
        fields.update(escalation=escalation, due_at=due_at)
        detail.update(
            department=department,
            complexity=complexity,
            due_at=escalation["due_at"],
            contact_due_at=escalation["contact_due_at"],
        )
    elif action is Action.CALLBACK:
        if due_at is None:
            due_at = calendar.add_working_days(acted_at, callback_working_days).at_end_of_day()
        elif due_at < acted_at - CALLBACK_PAST_SLACK:
            raise RuleViolation("bad_due", "回电期限不能早于操作时间")
        fields.update(callback_due_at=due_at, due_at=due_at)
        detail["due_at"] = due_at.isoformat()
    else:
        due_at = None
    target = check_transition(session, action, actor, reason=reason, outcome=outcome, due_at=due_at)
    if action is Action.ACCEPT:
        fields["assignee_id"] = actor.id
        fields["assigned_at"] = getattr(session, "assigned_at", None) or now
        fields["accepted_at"] = getattr(session, "accepted_at", None) or now
    elif action is Action.START:
        escalation_now = getattr(session, "escalation", None)
        if _state(session) is S.ESCALATED and escalation_now:
            fields["escalation"] = {**escalation_now, "answered_at": _iso(now)}
        fields["due_at"] = None
    elif action is Action.CLOSE:
        summary = (close_summary or "").strip()
        if len(summary) > MAX_CLOSE_SUMMARY:
            raise RuleViolation("too_long", f"办结摘要过长（最多 {MAX_CLOSE_SUMMARY} 字）")
        fields.update(closed_at=now, outcome=outcome, close_summary=summary, due_at=None)
        detail.update(outcome=outcome, summary=summary[:200] or None)
    fields["state"] = target.value
    return TransitionEffect(target, fields, ACTION_EVENTS[action], detail)


def check_note(
    *,
    visible: bool,
    held_until: datetime | None,
    closed_at: datetime | None,
    written_at: datetime,
) -> None:
    """Check a note (备注) on a session (DESIGN.md §4).

    Anyone who may see the session may add one; so may someone who held it when the
    note was written (an offline note on a session reassigned meanwhile is kept). A
    closed session takes no new notes, only those written before it closed.

    Args:
        visible: Whether the author may see the session now.
        held_until: When the session was last taken from the author, if it ever was.
        closed_at: When the session was closed, if it is.
        written_at: When the note was written (queued).

    Raises:
        RuleViolation: ``forbidden`` or ``closed``, with the reason in words.
    """
    if not visible and (held_until is None or written_at > held_until):
        raise RuleViolation("forbidden", "您无权在该会话上添加备注")
    if closed_at is not None and written_at > closed_at:
        raise RuleViolation("closed", "该会话已办结，不能再添加备注")
