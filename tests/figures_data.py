"""A fixed set of sessions, ratings and rectifications whose figures are worked out by
hand in the tests (tests/core/test_figures.py, tests/server/test_team_routes.py).

The day is Monday 2 March 2026; agents are numbered 1, 2 and 3 (3 has no session).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 18, 0, 0)
"""When the core test computes the figures: F has waited 90 s, G 30 s."""


def t(hms: str, day: int = 2, month: int = 3) -> str:
    return f"2026-{month:02d}-{day:02d}T{hms}"


def esc(due: str, answered: str | None = None, complexity: str = "simple") -> dict[str, Any]:
    data = {"department": "某局", "complexity": complexity, "due_at": due}
    if answered:
        data["answered_at"] = answered
    return data


# ref, agent, service, channel, state, created, accepted, closed, outcome, escalation,
# callback_due, timeline kinds, score
SESSIONS: list[dict[str, Any]] = [
    dict(
        ref="A",
        agent=1,
        service_type="consult",
        channel="hotline",
        state="closed",
        created_at=t("09:00:00"),
        accepted_at=t("09:00:30"),
        closed_at=t("09:10:30"),
        outcome="resolved",
        kinds=["created", "accepted", "closed"],
        score=5,
    ),
    dict(
        ref="B",
        agent=1,
        service_type="guide",
        channel="web_chat",
        state="closed",
        created_at=t("10:00:00"),
        accepted_at=t("10:02:00"),
        closed_at=t("10:32:00"),
        outcome="guided",
        kinds=["created", "accepted", "transferred", "closed"],
        score=4,
    ),
    dict(
        ref="C",
        agent=2,
        service_type="assist",
        channel="video",
        state="closed",
        created_at=t("11:00:00"),
        accepted_at=t("11:00:45"),
        closed_at=t("11:20:45"),
        outcome="resolved",
        kinds=["created", "reassigned", "accepted", "closed"],
        score=2,
    ),
    dict(
        ref="D",
        agent=2,
        service_type="consult",
        channel="hotline",
        state="escalated",
        created_at=t("12:00:00"),
        accepted_at=t("12:01:00"),
        escalation=esc(t("17:30:00", day=9)),
        kinds=["created", "accepted", "escalated"],
    ),
    dict(
        ref="E",
        agent=2,
        service_type="consult",
        channel="phone",
        state="closed",
        created_at=t("13:00:00"),
        accepted_at=t("13:00:10"),
        closed_at=t("16:00:00"),
        outcome="escalated_done",
        escalation=esc(t("15:00:00"), t("15:30:00")),
        kinds=["created", "accepted", "escalated", "started", "closed"],
        score=1,
    ),
    dict(
        ref="F",
        agent=None,
        service_type="consult",
        channel="hotline",
        state="waiting",
        created_at=t("17:58:30"),
        kinds=["created"],
    ),
    dict(
        ref="G",
        agent=None,
        service_type="guide",
        channel="mini_program",
        state="waiting",
        created_at=t("17:59:30"),
        kinds=["created"],
    ),
    dict(
        ref="H",
        agent=1,
        service_type="consult",
        channel="hotline",
        state="closed",
        created_at=t("16:00:00", day=1),
        accepted_at=t("16:00:05", day=1),
        closed_at=t("16:05:00", day=1),
        outcome="resolved",
        kinds=["created"],
        score=5,
    ),
    dict(
        ref="I",
        agent=1,
        service_type="consult",
        channel="hotline",
        state="closed",
        created_at=t("14:00:00"),
        accepted_at=t("14:00:20"),
        closed_at=t("14:05:20"),
        outcome="resolved",
        escalation=esc(t("17:30:00", day=6)),
        kinds=["created", "accepted", "escalated", "closed"],
        score=3,
    ),
    dict(
        ref="J",
        agent=1,
        service_type="consult",
        channel="phone",
        state="callback_pending",
        created_at=t("15:00:00"),
        accepted_at=t("15:00:05"),
        callback_due_at=t("17:30:00", day=3),
        kinds=["created", "accepted", "callback"],
    ),
]

# id, session ref, state, agent, deadline
RECTIFICATIONS: list[dict[str, Any]] = [
    dict(id="R1", ref="C", state="open", agent=2, deadline="2026-03-06"),
    dict(id="R2", ref="E", state="assigned", agent=1, deadline="2026-02-27"),
    dict(id="R3", ref="A", state="closed", agent=1, deadline="2026-02-20"),
]


def wire_session(s: dict[str, Any], agent_ids: dict[int, int] | None = None) -> dict[str, Any]:
    """The session in the wire shape, with agent numbers mapped to user ids."""
    agent = s.get("agent")
    if agent is not None and agent_ids is not None:
        agent = agent_ids[agent]
    return {
        "id": f"fig-{s['ref']}",
        "team_id": "team-zx",
        "service_type": s["service_type"],
        "channel": s["channel"],
        "state": s["state"],
        "created_at": s["created_at"],
        "assignee_id": agent,
        "accepted_at": s.get("accepted_at"),
        "closed_at": s.get("closed_at"),
        "outcome": s.get("outcome"),
        "escalation": s.get("escalation"),
        "callback_due_at": s.get("callback_due_at"),
        "timeline": [{"kind": k, "at": s["created_at"]} for k in s["kinds"]],
    }
