"""The team lead's board (班组看板) as plain values: who is present, who carries what,
which callers wait too long, and which reassignments have not been accepted.

The server builds a :class:`Board` from its tables for ``GET /api/v1/team/board``;
the client builds the same thing from its cache when the server cannot be reached.
Both use :func:`build_board`, so the two never disagree on what "busy" means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.enums import Presence, Role, SessionState

S = SessionState

LOAD_STATES = frozenset({S.ASSIGNED.value, S.ACTIVE.value, S.ON_HOLD.value})
"""States in which a session takes an agent's attention and counts against capacity
(the server's dispatcher counts the same ones)."""

LIVE_SHARE_STATES = frozenset({"live", "opened", "consented"})
"""Share-link states in which a screen share is set up and not over."""

NEAR_TARGET = 0.75
"""A waiting caller turns amber at this share of the first-response target, red past it."""


def _dt(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        result = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return result.astimezone().replace(tzinfo=None) if result.tzinfo else result


def effective_presence(
    stored: str,
    last_seen_at: datetime | None,
    now: datetime,
    *,
    timeout_seconds: float,
    load: int,
    capacity: int,
    known_last_seen: bool = True,
    connected: bool = False,
) -> Presence:
    """An agent's presence as the board shows it.

    * offline: marked offline, or no heartbeat for ``timeout_seconds``;
    * away: marked away, or heartbeats missing for more than half the timeout (its
      link dropped or the machine slept, and it is not yet offline);
    * busy: marked busy, or carrying as many sessions as its capacity;
    * online otherwise.

    ``connected`` is True while the person's client holds an event poll open on the
    server right now: that is a heartbeat at this very moment, whatever the last
    written heartbeat time says (heartbeats are written when a poll starts, and a
    poll may stay open longer than half the timeout), and it outweighs an "offline"
    that a sweep wrote before the poll began.

    ``known_last_seen`` is False when the heartbeat time is not known (a board built
    from the client's cache): the stored presence is then taken as it is.
    """
    if connected:
        last_seen_at = now
        if stored == Presence.OFFLINE.value:
            stored = Presence.ONLINE.value
    if stored == Presence.OFFLINE.value:
        return Presence.OFFLINE
    if known_last_seen:
        if last_seen_at is None:
            return Presence.OFFLINE
        quiet = (now - last_seen_at).total_seconds()
        if quiet > timeout_seconds:
            return Presence.OFFLINE
        if quiet > timeout_seconds / 2:
            return Presence.AWAY
    if stored == Presence.AWAY.value:
        return Presence.AWAY
    if stored == Presence.BUSY.value or (capacity > 0 and load >= capacity):
        return Presence.BUSY
    return Presence.ONLINE


def awaiting_since(
    state: str, created_at: datetime, accepted_at: datetime | None
) -> datetime | None:
    """Since when the caller waits for a first response; None once someone accepted."""
    if state == S.WAITING.value or (state == S.ASSIGNED.value and accepted_at is None):
        return created_at
    return None


def urgency(waited_seconds: float | None, target_seconds: float) -> int:
    """0 fine, 1 near the first-response target, 2 past it (waiting too long)."""
    if waited_seconds is None:
        return 0
    if waited_seconds >= target_seconds:
        return 2
    if waited_seconds >= target_seconds * NEAR_TARGET:
        return 1
    return 0


@dataclass(frozen=True)
class Reassignment:
    """The last 改派 of a session: when, by whom, to whom, why."""

    at: datetime
    by: str
    by_id: int | None
    to_id: int | None
    to: str
    from_name: str
    reason: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "by": self.by,
            "by_id": self.by_id,
            "to_id": self.to_id,
            "to": self.to,
            "from": self.from_name,
            "reason": self.reason,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Reassignment | None:
        at = _dt(data.get("at"))
        if at is None:
            return None
        to_id = data.get("to_id")
        by_id = data.get("by_id")
        return cls(
            at=at,
            by=str(data.get("by") or ""),
            by_id=int(by_id) if by_id is not None else None,
            to_id=int(to_id) if to_id is not None else None,
            to=str(data.get("to") or ""),
            from_name=str(data.get("from") or ""),
            reason=str(data.get("reason") or ""),
        )


def last_reassignment(timeline: Iterable[Mapping[str, Any]]) -> Reassignment | None:
    """The newest confirmed 改派 event of a session's timeline."""
    found: Reassignment | None = None
    for event in timeline:
        if not isinstance(event, Mapping) or event.get("kind") != "reassigned":
            continue
        if event.get("pending"):
            continue
        detail = event.get("detail") or {}
        item = Reassignment.from_wire(
            {
                "at": event.get("at"),
                "by": event.get("actor_name"),
                "by_id": event.get("actor_id"),
                "to_id": detail.get("to_id"),
                "to": detail.get("to"),
                "from": detail.get("from"),
                "reason": detail.get("reason"),
            }
        )
        if item is not None and (found is None or item.at >= found.at):
            found = item
    return found


@dataclass(frozen=True)
class BoardSession:
    """An open session of the team as the board shows it."""

    id: str
    state: str
    service_type: str
    channel: str
    summary: str
    created_at: datetime
    assignee_id: int | None = None
    accepted_at: datetime | None = None
    assigned_at: datetime | None = None
    walkthrough: str = ""
    """The script and the step it is on, in words (empty: no walkthrough running)."""
    share_state: str = ""
    """The screen share's state when one is set up (live / opened / consented)."""
    reassigned: Reassignment | None = None

    @property
    def awaiting_since(self) -> datetime | None:
        return awaiting_since(self.state, self.created_at, self.accepted_at)

    def waited_seconds(self, now: datetime) -> float | None:
        since = self.awaiting_since
        return None if since is None else max(0.0, (now - since).total_seconds())

    @property
    def share_live(self) -> bool:
        return self.share_state in LIVE_SHARE_STATES

    def to_wire(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "state": self.state,
            "service_type": self.service_type,
            "channel": self.channel,
            "summary": self.summary,
            "created_at": self.created_at.isoformat(),
            "assignee_id": self.assignee_id,
            "accepted_at": iso(self.accepted_at),
            "assigned_at": iso(self.assigned_at),
            "walkthrough": self.walkthrough,
            "share_state": self.share_state,
            "reassigned": self.reassigned.to_wire() if self.reassigned else None,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> BoardSession:
        created = _dt(data.get("created_at"))
        if not data.get("id") or created is None:
            raise ValueError("board session without id or creation time")
        assignee = data.get("assignee_id")
        reassigned = data.get("reassigned")
        return cls(
            id=str(data["id"]),
            state=str(data.get("state") or ""),
            service_type=str(data.get("service_type") or ""),
            channel=str(data.get("channel") or ""),
            summary=str(data.get("summary") or ""),
            created_at=created,
            assignee_id=int(assignee) if assignee is not None else None,
            accepted_at=_dt(data.get("accepted_at")),
            assigned_at=_dt(data.get("assigned_at")),
            walkthrough=str(data.get("walkthrough") or ""),
            share_state=str(data.get("share_state") or ""),
            reassigned=Reassignment.from_wire(reassigned)
            if isinstance(reassigned, Mapping)
            else None,
        )


@dataclass(frozen=True)
class BoardAgent:
    """A member of the team as the board shows them."""

    id: int
    display_name: str
    role: str
    staff_number: str
    presence: str
    capacity: int
    load: int
    """Sessions counting against capacity (assigned, active, on hold)."""
    open: int
    """Every session in the agent's name that is not closed (with 转办 and 待回电)."""
    last_seen_at: datetime | None = None

    @property
    def presence_enum(self) -> Presence:
        try:
            return Presence(self.presence)
        except ValueError:
            return Presence.OFFLINE

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "display_name": self.display_name,
            "role": self.role,
            "staff_number": self.staff_number,
            "presence": self.presence,
            "capacity": self.capacity,
            "load": self.load,
            "open": self.open,
            "last_seen_at": self.last_seen_at.isoformat() if self.last_seen_at else None,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> BoardAgent:
        return cls(
            id=int(data["id"]),
            display_name=str(data.get("display_name") or ""),
            role=str(data.get("role") or Role.AGENT.value),
            staff_number=str(data.get("staff_number") or ""),
            presence=str(data.get("presence") or Presence.OFFLINE.value),
            capacity=int(data.get("capacity") or 0),
            load=int(data.get("load") or 0),
            open=int(data.get("open") or 0),
            last_seen_at=_dt(data.get("last_seen_at")),
        )


@dataclass(frozen=True)
class Board:
    """The team at a glance."""

    team_id: str
    generated_at: datetime
    first_response_seconds: int
    agents: list[BoardAgent] = field(default_factory=list)
    sessions: list[BoardSession] = field(default_factory=list)
    from_cache: bool = False
    """Built from the local cache (the server could not be reached)."""

    @property
    def queue(self) -> list[BoardSession]:
        """The unassigned queue, longest waiting first."""
        rows = [s for s in self.sessions if s.assignee_id is None]
        return sorted(rows, key=lambda s: s.created_at)

    def sessions_of(self, agent_id: int) -> list[BoardSession]:
        return [s for s in self.sessions if s.assignee_id == agent_id]

    def agent(self, agent_id: int | None) -> BoardAgent | None:
        for a in self.agents:
            if a.id == agent_id:
                return a
        return None

    def session(self, session_id: str) -> BoardSession | None:
        for s in self.sessions:
            if s.id == session_id:
                return s
        return None

    def to_wire(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "generated_at": self.generated_at.isoformat(),
            "first_response_seconds": self.first_response_seconds,
            "agents": [a.to_wire() for a in self.agents],
            "sessions": [s.to_wire() for s in self.sessions],
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], *, from_cache: bool = False) -> Board:
        """Read a board answer.

        Raises:
            ValueError, KeyError, TypeError: the answer is not in this shape.
        """
        generated = _dt(data.get("generated_at"))
        if generated is None:
            raise ValueError("board without a time")
        return cls(
            team_id=str(data.get("team_id") or ""),
            generated_at=generated,
            first_response_seconds=int(data.get("first_response_seconds") or 60),
            agents=[BoardAgent.from_wire(a) for a in data.get("agents") or []],
            sessions=[BoardSession.from_wire(s) for s in data.get("sessions") or []],
            from_cache=from_cache,
        )


@dataclass(frozen=True)
class AgentFacts:
    """A team member as the board needs them (from the server's users or the cache)."""

    id: int
    display_name: str
    role: str
    staff_number: str = ""
    presence: str = Presence.OFFLINE.value
    capacity: int = 4
    last_seen_at: datetime | None = None
    active: bool = True
    connected: bool = False
    """An event poll of theirs is open on the server now (see :func:`effective_presence`)."""


def walkthrough_text(
    run: Mapping[str, Any], titles: Mapping[str, tuple[str, dict[str, str]]]
) -> str:
    """「核对材料 · 个体户设立」 for a run; ``titles`` maps ``<id>@<version>`` to the
    script's title and its step titles. Unknown scripts show the step id."""
    state = run.get("state") if isinstance(run.get("state"), Mapping) else run
    if not isinstance(state, Mapping) or state.get("completed"):
        return ""
    position = str(state.get("position") or "")
    if not position:
        path = state.get("path")
        position = str(path[-1]) if isinstance(path, list) and path else ""
    if not position:
        return ""
    script = run.get("walkthrough_id") or state.get("walkthrough_id")
    key = f"{script}@{run.get('version') or state.get('version')}"
    title, steps = titles.get(key, ("", {}))
    step = steps.get(position) or position
    # The step first (what the agent is doing now), then the script without its suffix.
    title = title.removesuffix("导办").strip()
    return f"{step} · {title}" if title else step


def build_board(
    *,
    team_id: str,
    agents: Iterable[AgentFacts],
    sessions: Iterable[Mapping[str, Any]],
    runs: Iterable[Mapping[str, Any]] = (),
    links: Iterable[Mapping[str, Any]] = (),
    walkthrough_titles: Mapping[str, tuple[str, dict[str, str]]] | None = None,
    now: datetime,
    first_response_seconds: int,
    presence_timeout_seconds: float,
    known_last_seen: bool = True,
) -> Board:
    """Assemble the board from plain records.

    Args:
        sessions: the team's sessions in the wire shape; closed ones are left out.
        runs: ``walkthrough_run`` records (read defensively: any malformed one is skipped).
        links: ``share_link`` records; the newest one of a session gives its share state.
        walkthrough_titles: script titles and step titles by ``<id>@<version>``.
        known_last_seen: False when the agents' heartbeat times are not known.
    """
    titles = walkthrough_titles or {}
    run_text: dict[str, str] = {}
    for run in runs:
        try:
            sid = str(run.get("session_id") or "")
            text = walkthrough_text(run, titles)
        except (AttributeError, TypeError, ValueError):
            continue
        if sid and text:
            run_text[sid] = text
    share: dict[str, tuple[str, str]] = {}
    for link in links:
        try:
            sid = str(link.get("session_id") or "")
            state = str(link.get("state") or "")
            created = str(link.get("created_at") or "")
        except (AttributeError, TypeError):
            continue
        if sid and (sid not in share or created >= share[sid][1]):
            share[sid] = (state, created)
    board_sessions: list[BoardSession] = []
    for data in sessions:
        if data.get("state") == S.CLOSED.value:
            continue
        try:
            item = BoardSession.from_wire(
                {
                    **data,
                    "walkthrough": run_text.get(str(data.get("id")), ""),
                    "share_state": share.get(str(data.get("id")), ("", ""))[0],
                    "reassigned": None,
                }
            )
        except (KeyError, TypeError, ValueError):
            continue
        reassigned = last_reassignment(data.get("timeline") or [])
        if reassigned is not None:
            item = BoardSession(**{**item.__dict__, "reassigned": reassigned})
        board_sessions.append(item)
    board_sessions.sort(key=lambda s: s.created_at)
    board_agents = []
    for a in agents:
        if not a.active or a.role == Role.ADMIN.value:
            continue
        mine = [s for s in board_sessions if s.assignee_id == a.id]
        load = sum(1 for s in mine if s.state in LOAD_STATES)
        presence = effective_presence(
            a.presence,
            a.last_seen_at,
            now,
            timeout_seconds=presence_timeout_seconds,
            load=load,
            capacity=a.capacity,
            known_last_seen=known_last_seen,
            connected=a.connected,
        )
        board_agents.append(
            BoardAgent(
                id=a.id,
                display_name=a.display_name,
                role=a.role,
                staff_number=a.staff_number,
                presence=presence.value,
                capacity=a.capacity,
                load=load,
                open=len(mine),
                last_seen_at=now if a.connected else a.last_seen_at,
            )
        )
    return Board(
        team_id=team_id,
        generated_at=now,
        first_response_seconds=int(first_response_seconds),
        agents=board_agents,
        sessions=board_sessions,
        from_cache=not known_last_seen,
    )


@dataclass(frozen=True)
class UnacceptedReassignment:
    """A reassigned session its new assignee has not accepted in time."""

    session: BoardSession
    reassignment: Reassignment
    minutes: int

    @property
    def overdue_since(self) -> datetime:
        return self.reassignment.at + timedelta(minutes=self.minutes)


def unaccepted_reassignments(
    board: Board, now: datetime, minutes: int
) -> list[UnacceptedReassignment]:
    """The return timer (改派回退提醒): sessions reassigned more than ``minutes`` ago that
    still sit, unaccepted, with the agent they were reassigned to.

    Accepting moves the session from ``assigned`` to ``active``; a later move by anyone
    (another reassignment, a transfer) changes the assignee or the last reassignment,
    so the timer follows the newest reassignment only.
    """
    if minutes <= 0:
        return []
    found = []
    for s in board.sessions:
        r = s.reassigned
        if r is None or s.state != S.ASSIGNED.value or s.assignee_id != r.to_id:
            continue
        if now - r.at >= timedelta(minutes=minutes):
            found.append(UnacceptedReassignment(s, r, minutes))
    return sorted(found, key=lambda u: u.reassignment.at)


def spread_plan(board: Board, from_agent_id: int) -> list[tuple[BoardSession, BoardAgent]]:
    """Where each open session of ``from_agent_id`` goes when the lead spreads them over
    the colleagues who are online: one at a time to whoever has the most free capacity
    (then the fewest sessions, then the lowest id), counting what the plan already gave.

    Raises:
        ValueError: no colleague is online (the lead must pick someone).
    """
    candidates = [
        a
        for a in board.agents
        if a.id != from_agent_id and a.presence in (Presence.ONLINE.value, Presence.BUSY.value)
    ]
    if not candidates:
        raise ValueError("没有在线的同事可以接收，请指定改派给谁")
    load = {a.id: a.load for a in candidates}
    plan = []
    for session in board.sessions_of(from_agent_id):
        agent = min(candidates, key=lambda a: (load[a.id] - a.capacity, load[a.id], a.id))
        plan.append((session, agent))
        load[agent.id] += 1
    return plan
