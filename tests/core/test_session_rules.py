from dataclasses import dataclass
from datetime import datetime

import pytest

from core.enums import Role, SessionState
from core.session_rules import (
    Action,
    Actor,
    RuleViolation,
    available_actions,
    check_reassign,
    check_transfer,
    check_transition,
)


@dataclass
class S:
    state: str
    assignee_id: int | None = 1
    team_id: str = "t1"


AGENT = Actor(1, Role.AGENT, "t1")
OTHER = Actor(2, Role.AGENT, "t1")
STRANGER = Actor(3, Role.AGENT, "t2")
LEAD = Actor(10, Role.LEAD, "t1")
OTHER_LEAD = Actor(11, Role.LEAD, "t2")


def test_the_happy_path_of_a_session() -> None:
    s = S(SessionState.WAITING, assignee_id=None)
    assert check_transition(s, Action.ACCEPT, AGENT) is SessionState.ACTIVE
    s = S(SessionState.ACTIVE)
    assert check_transition(s, Action.HOLD, AGENT) is SessionState.ON_HOLD
    s = S(SessionState.ON_HOLD)
    assert check_transition(s, Action.RESUME, AGENT) is SessionState.ACTIVE
    due = datetime(2026, 3, 2, 17, 30)
    s = S(SessionState.ACTIVE)
    assert (
        check_transition(s, "escalate", AGENT, reason="需人社局答复", due_at=due)
        is SessionState.ESCALATED
    )
    s = S(SessionState.ESCALATED)
    assert check_transition(s, Action.START, AGENT) is SessionState.ACTIVE
    assert (
        check_transition(S(SessionState.ACTIVE), Action.CLOSE, AGENT, outcome="resolved")
        is SessionState.CLOSED
    )


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (SessionState.CLOSED, Action.HOLD),
        (SessionState.CLOSED, Action.CLOSE),
        (SessionState.WAITING, Action.HOLD),
        (SessionState.ON_HOLD, Action.HOLD),
        (SessionState.ACTIVE, Action.RESUME),
        (SessionState.ASSIGNED, Action.CLOSE),
    ],
)
def test_illegal_moves_are_refused_with_the_state_in_words(
    state: SessionState, action: Action
) -> None:
    with pytest.raises(RuleViolation) as err:
        check_transition(
            S(state), action, AGENT, outcome="resolved", reason="x", due_at=datetime.now()
        )
    assert err.value.code == "illegal_state"
    assert state.label in err.value.message


def test_only_the_assignee_may_act_on_a_session() -> None:
    with pytest.raises(RuleViolation) as err:
        check_transition(S(SessionState.ACTIVE), Action.HOLD, OTHER)
    assert err.value.code == "not_assignee"


def test_accepting_from_the_queue_needs_the_same_team() -> None:
    waiting = S(SessionState.WAITING, assignee_id=None)
    assert check_transition(waiting, Action.ACCEPT, OTHER) is SessionState.ACTIVE
    with pytest.raises(RuleViolation):
        check_transition(waiting, Action.ACCEPT, STRANGER)


def test_close_needs_an_outcome_and_escalation_a_reason_and_due_date() -> None:
    with pytest.raises(RuleViolation) as err:
        check_transition(S(SessionState.ACTIVE), Action.CLOSE, AGENT)
    assert err.value.code == "outcome_required"
    with pytest.raises(RuleViolation) as err:
        check_transition(S(SessionState.ACTIVE), Action.ESCALATE, AGENT, due_at=datetime.now())
    assert err.value.code == "reason_required"
    with pytest.raises(RuleViolation) as err:
        check_transition(S(SessionState.ACTIVE), Action.ESCALATE, AGENT, reason="x")
    assert err.value.code == "due_required"


def test_assign_is_for_the_system_or_a_lead_of_the_team() -> None:
    waiting = S(SessionState.WAITING, assignee_id=None)
    assert check_transition(waiting, Action.ASSIGN, Actor.system()) is SessionState.ASSIGNED
    assert check_transition(waiting, Action.ASSIGN, LEAD) is SessionState.ASSIGNED
    for actor in (AGENT, OTHER_LEAD):
        with pytest.raises(RuleViolation):
            check_transition(waiting, Action.ASSIGN, actor)


def test_transfer_rules() -> None:
    active = S(SessionState.ACTIVE)
    assert (
        check_transfer(active, AGENT, to_agent_id=2, to_team_id=None, reason="专业不对口")
        is SessionState.ASSIGNED
    )
    assert (
        check_transfer(active, AGENT, to_agent_id=None, to_team_id="t2", reason="转帮办组")
        is SessionState.WAITING
    )
    with pytest.raises(RuleViolation, match="原因"):
        check_transfer(active, AGENT, to_agent_id=2, to_team_id=None, reason=" ")
    with pytest.raises(RuleViolation):
        check_transfer(active, AGENT, to_agent_id=1, to_team_id=None, reason="x")
    with pytest.raises(RuleViolation):
        check_transfer(active, OTHER, to_agent_id=3, to_team_id=None, reason="x")
    with pytest.raises(RuleViolation):
        check_transfer(S(SessionState.CLOSED), AGENT, to_agent_id=2, to_team_id=None, reason="x")


def test_reassign_is_a_compare_and_set_by_a_lead_of_the_team() -> None:
    active = S(SessionState.ACTIVE, assignee_id=1)
    assert (
        check_reassign(active, LEAD, expected_assignee_id=1, to_agent_id=2, reason="坐席请假")
        is SessionState.ASSIGNED
    )
    with pytest.raises(RuleViolation) as err:
        check_reassign(active, LEAD, expected_assignee_id=2, to_agent_id=3, reason="x")
    assert err.value.code == "stale_assignee"
    with pytest.raises(RuleViolation) as err:
        check_reassign(active, OTHER_LEAD, expected_assignee_id=1, to_agent_id=2, reason="x")
    assert err.value.code == "forbidden"
    with pytest.raises(RuleViolation) as err:
        check_reassign(active, AGENT, expected_assignee_id=1, to_agent_id=2, reason="x")
    assert err.value.code == "forbidden"
    with pytest.raises(RuleViolation) as err:
        check_reassign(active, LEAD, expected_assignee_id=1, to_agent_id=2, reason="")
    assert err.value.code == "reason_required"


def test_available_actions_match_the_rules() -> None:
    assert available_actions(S(SessionState.WAITING, None), AGENT) == [Action.ACCEPT]
    assert set(available_actions(S(SessionState.ACTIVE), AGENT)) == {
        Action.HOLD,
        Action.ESCALATE,
        Action.CALLBACK,
        Action.CLOSE,
    }
    assert available_actions(S(SessionState.ACTIVE), OTHER) == []
    assert available_actions(S(SessionState.CLOSED), AGENT) == []
