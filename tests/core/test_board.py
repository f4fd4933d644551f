"""The lead's board from plain records: presence, load, waiting callers, the return timer."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.board import (
    AgentFacts,
    Board,
    BoardAgent,
    build_board,
    effective_presence,
    spread_plan,
    unaccepted_reassignments,
    urgency,
)
from core.enums import Presence

NOW = datetime(2026, 3, 2, 10, 0, 0)


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat()


def presence(stored: str, quiet: float | None, load: int = 0, capacity: int = 4) -> Presence:
    seen = None if quiet is None else NOW - timedelta(seconds=quiet)
    return effective_presence(stored, seen, NOW, timeout_seconds=90, load=load, capacity=capacity)


def test_presence_from_heartbeats_and_load() -> None:
    assert presence("online", 10) is Presence.ONLINE
    assert presence("online", 10, load=4) is Presence.BUSY
    assert presence("online", 50) is Presence.AWAY  # half the timeout without a poll
    assert presence("online", 91) is Presence.OFFLINE
    assert presence("online", None) is Presence.OFFLINE
    assert presence("offline", 1) is Presence.OFFLINE
    assert presence("away", 1) is Presence.AWAY
    # From the cache the heartbeat time is unknown: the stored presence stands.
    cached = effective_presence(
        "online", None, NOW, timeout_seconds=90, load=1, capacity=4, known_last_seen=False
    )
    assert cached is Presence.ONLINE


def test_an_open_event_poll_is_a_heartbeat_now() -> None:
    """A client holding a poll open is on the line: its written heartbeat may be older
    than half the timeout (written as the poll opened), or a sweep may have written
    offline just before it, and still it is online (busy and away as stored)."""

    def live(stored: str, quiet: float | None, load: int = 0) -> Presence:
        seen = None if quiet is None else NOW - timedelta(seconds=quiet)
        return effective_presence(
            stored, seen, NOW, timeout_seconds=90, load=load, capacity=4, connected=True
        )

    assert live("online", 50) is Presence.ONLINE
    assert live("online", 200) is Presence.ONLINE
    assert live("offline", None) is Presence.ONLINE
    assert live("online", 50, load=4) is Presence.BUSY
    assert live("away", 1) is Presence.AWAY
    board = build_board(
        team_id="t",
        agents=[
            AgentFacts(1, "吴海燕", "lead", presence="online", last_seen_at=NOW - timedelta(60)),
            AgentFacts(2, "王芳", "agent", presence="online", last_seen_at=NOW - timedelta(60)),
        ],
        sessions=[],
        now=NOW,
        first_response_seconds=60,
        presence_timeout_seconds=90,
    )
    assert [a.presence for a in board.agents] == ["offline", "offline"]
    board = build_board(
        team_id="t",
        agents=[
            AgentFacts(
                1,
                "吴海燕",
                "lead",
                presence="online",
                last_seen_at=NOW - timedelta(seconds=60),
                connected=True,
            ),
            AgentFacts(
                2, "王芳", "agent", presence="online", last_seen_at=NOW - timedelta(seconds=60)
            ),
        ],
        sessions=[],
        now=NOW,
        first_response_seconds=60,
        presence_timeout_seconds=90,
    )
    assert [(a.presence, a.last_seen_at) for a in board.agents] == [
        ("online", NOW),
        ("away", NOW - timedelta(seconds=60)),
    ]


def test_urgency_turns_amber_then_red() -> None:
    assert [urgency(s, 60) for s in (None, 10, 45, 59, 60, 600)] == [0, 0, 1, 1, 2, 2]


def session(sid: str, state: str, assignee: int | None, created: float, **extra: object) -> dict:
    return {
        "id": sid,
        "team_id": "t",
        "state": state,
        "service_type": "consult",
        "channel": "hotline",
        "summary": f"诉求{sid}",
        "created_at": ago(created),
        "assignee_id": assignee,
        **extra,
    }


def reassigned(at: float, to_id: int, pending: bool = False) -> dict:
    return {
        "kind": "reassigned",
        "at": ago(at),
        "actor_id": 9,
        "actor_name": "吴海燕",
        "detail": {"to_id": to_id, "to": "王芳", "from": "李晓雯", "reason": "请假"},
        "pending": pending,
    }


def board() -> Board:
    agents = [
        AgentFacts(1, "李晓雯", "agent", presence="online", capacity=2, last_seen_at=NOW),
        AgentFacts(2, "王芳", "agent", presence="online", capacity=3, last_seen_at=NOW),
        AgentFacts(3, "刘洋", "agent", presence="offline", capacity=3),
        AgentFacts(4, "许文博", "admin", presence="online", last_seen_at=NOW),
        AgentFacts(5, "离职", "agent", presence="offline", active=False),
    ]
    sessions = [
        session("q1", "waiting", None, 90),
        session("q2", "waiting", None, 20),
        session("a1", "active", 1, 600, accepted_at=ago(590)),
        session("a2", "on_hold", 1, 500, accepted_at=ago(490)),
        session("a3", "escalated", 1, 5000, accepted_at=ago(4990)),
        session("b1", "assigned", 2, 900, accepted_at=ago(880), timeline=[reassigned(400, 2)]),
        session("b2", "assigned", 2, 100, timeline=[reassigned(30, 2)]),
        session("b3", "closed", 2, 100),
        session("bad", "waiting", None, 10, created_at="not a time"),
    ]
    runs = [
        {
            "session_id": "a1",
            "walkthrough_id": "gtgsh",
            "version": 2,
            "state": {"position": "materials", "completed": False},
        },
        {"session_id": "a2", "walkthrough_id": "x", "version": 1, "state": {"completed": True}},
        {"session_id": "b1", "state": "garbage"},
    ]
    links = [
        {"session_id": "a1", "state": "expired", "created_at": ago(3000)},
        {"session_id": "a1", "state": "consented", "created_at": ago(60)},
        {"session_id": "a2", "state": "revoked", "created_at": ago(60)},
        "not a link",
    ]
    titles = {"gtgsh@2": ("个体户设立", {"materials": "核对材料"})}
    return build_board(
        team_id="t",
        agents=agents,
        sessions=sessions,
        runs=runs,
        links=links,  # type: ignore[arg-type]
        walkthrough_titles=titles,
        now=NOW,
        first_response_seconds=60,
        presence_timeout_seconds=90,
    )


def test_build_board_counts_load_and_reads_features_defensively() -> None:
    b = board()
    assert [a.display_name for a in b.agents] == ["李晓雯", "王芳", "刘洋"]
    one, two, three = b.agents
    # a1 and a2 count against capacity; the escalated a3 is open but waits on a department.
    assert (one.load, one.open, one.presence) == (2, 3, "busy")
    assert (two.load, two.open, two.presence) == (2, 2, "online")
    assert three.presence == "offline"
    assert [s.id for s in b.queue] == ["q1", "q2"]
    assert "b3" not in {s.id for s in b.sessions} and "bad" not in {s.id for s in b.sessions}
    a1 = b.session("a1")
    assert a1 is not None
    assert a1.walkthrough == "核对材料 · 个体户设立"
    assert a1.share_state == "consented" and a1.share_live
    a2 = b.session("a2")
    assert a2 is not None and a2.walkthrough == "" and not a2.share_live
    q1 = b.session("q1")
    assert q1 is not None and urgency(q1.waited_seconds(NOW), 60) == 2
    assert Board.from_wire(b.to_wire()).sessions == b.sessions


def test_return_timer_flags_only_old_unaccepted_reassignments() -> None:
    late = unaccepted_reassignments(board(), NOW, minutes=5)
    assert [u.session.id for u in late] == ["b1"]  # 400 s ago; b2 only 30 s ago
    assert late[0].reassignment.by == "吴海燕" and late[0].reassignment.reason == "请假"
    assert late[0].overdue_since == NOW - timedelta(seconds=400) + timedelta(minutes=5)
    assert unaccepted_reassignments(board(), NOW, minutes=0) == []
    later = NOW + timedelta(minutes=5)
    assert [u.session.id for u in unaccepted_reassignments(board(), later, minutes=5)] == [
        "b1",
        "b2",
    ]


def test_spreading_an_agents_sessions_goes_by_free_capacity() -> None:
    b = board()
    # 刘洋 (3) is offline: all of 李晓雯's sessions, oldest first, go to 王芳 (2).
    plan = spread_plan(b, 1)
    assert [(s.id, a.id) for s, a in plan] == [("a3", 2), ("a1", 2), ("a2", 2)]
    with_free = Board(
        team_id="t",
        generated_at=NOW,
        first_response_seconds=60,
        agents=[
            BoardAgent(1, "甲", "agent", "", "offline", 3, 3, 3),
            BoardAgent(2, "乙", "agent", "", "online", 5, 2, 2),
            BoardAgent(3, "丙", "agent", "", "busy", 4, 3, 3),
        ],
        sessions=b.sessions_of(1),
    )
    # Free places 乙 3, 丙 1: 乙, 乙, then a tie at one free place goes to fewer sessions.
    assert [a.id for _, a in spread_plan(with_free, 1)] == [2, 2, 3]
    offline_only = Board("t", NOW, 60, agents=[b.agents[0], b.agents[2]], sessions=b.sessions)
    with pytest.raises(ValueError, match="没有在线的同事"):
        spread_plan(offline_only, 1)
