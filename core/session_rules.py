"""The session state machine (DESIGN.md §5): which moves are legal, and for whom.

The client calls this before it queues an action; the server calls it again when
the mutation arrives, so a move is legal on the server for exactly the reasons it
is legal in the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

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
