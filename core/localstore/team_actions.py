"""The team lead's writes and reads on the local cache (database worker only).

Rectification follow-up (差评整改) writes its local effect on the synced record and
its outbox row in one transaction, like every other action of the client; the push's
answer replaces the record with the server's. Reassignments go through the session
console's :class:`core.localstore.session_actions.SessionActions` (one code path for
``session`` / ``reassign``); this module adds what the board needs around them: the
cached records a board is built from when the server cannot be reached, and what
became of a queued action (still queued, applied, or refused with a reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.board import AgentFacts, Board, build_board
from core.entities import Agent
from core.localstore import models as lm
from core.localstore.changes import Changes
from core.localstore.store import LocalStore, enqueue_payload
from core.protocol import (
    Payload,
    ProtocolError,
    RecordKind,
    RectificationAssign,
    RectificationClose,
    RectificationRecord,
)
from core.rectifications import (
    Rectification,
    RectificationError,
    clean_texts,
    missing_for_close,
)

KIND = RecordKind.RECTIFICATION


class TeamActionError(Exception):
    """A lead's action that cannot be taken; ``message`` is shown as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Outcome:
    """What became of a queued action."""

    state: str
    """``queued`` (not answered yet), ``refused`` or ``done``."""
    reason: str = ""


class TeamActions:
    """Rectifications and the offline board on one lead's cache."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store

    # -- reads ------------------------------------------------------------------------------

    def rectifications(self) -> list[Rectification]:
        """Every synced rectification (malformed records are skipped), soonest first."""
        result = []
        for data in self.store.records(KIND):
            try:
                result.append(Rectification.from_wire(data))
            except (TypeError, ValueError):
                continue
        return sorted(result, key=lambda r: (r.is_closed, r.deadline, r.id))

    def outcome(self, mutation_id: str) -> Outcome:
        """Whether a queued action is still waiting, was refused (and why) or went through."""
        with self.store.reading() as db:
            queued = db.scalar(select(lm.Outbox.seq).where(lm.Outbox.mutation_id == mutation_id))
            if queued is not None:
                return Outcome("queued")
            problem = db.scalar(select(lm.Problem).where(lm.Problem.mutation_id == mutation_id))
            if problem is not None:
                return Outcome("refused", problem.reason)
        return Outcome("done")

    def cached_board(
        self, team_id: str, *, now: datetime, first_response_seconds: int, timeout_seconds: float
    ) -> Board:
        """The board from the cache, for when the server cannot be reached: presence as
        last synced (heartbeat times are not cached), no walkthrough titles."""
        agents = [
            AgentFacts(
                id=a.id,
                display_name=a.display_name,
                role=a.role,
                staff_number=a.staff_number,
                presence=a.presence,
                capacity=a.capacity,
            )
            for a in self.store.agents()
            if a.team_id == team_id
        ]
        with self.store.reading() as db:
            sessions = [
                dict(r.data)
                for r in db.scalars(select(lm.Session).where(lm.Session.team_id == team_id))
            ]
        return build_board(
            team_id=team_id,
            agents=agents,
            sessions=sessions,
            runs=self.store.records("walkthrough_run"),
            links=self.store.records("share_link"),
            now=now,
            first_response_seconds=first_response_seconds,
            presence_timeout_seconds=timeout_seconds,
            known_last_seen=False,
        )

    def team_agents(self, team_id: str | None) -> list[Agent]:
        return [a for a in self.store.agents() if a.team_id == team_id]

    # -- writes -----------------------------------------------------------------------------

    def _update(self, rectification_id: str, payload: Payload, **local: Any) -> str:
        with self.store.begin() as db:
            row = db.get(lm.Record, (KIND, rectification_id))
            if row is None:
                raise TeamActionError("本地没有该整改记录，请同步后再试")
            current = Rectification.from_wire(row.data)
            if current.is_closed:
                raise TeamActionError("该整改已办结，不能再修改")
            data = {**row.data, **local, "pending": True}
            row.data = data
            try:
                return enqueue_payload(db, payload)
            except ProtocolError as exc:
                raise TeamActionError(exc.reason) from None

    def assign(
        self, rectification_id: str, assignee_id: int, expected_assignee_id: int | None
    ) -> tuple[str, Changes]:
        """Hand the follow-up to a member of the team (compare-and-set on the assignee)."""
        state = "assigned"
        mutation_id = self._update(
            rectification_id,
            RectificationAssign(
                rectification_id=rectification_id,
                assignee_id=assignee_id,
                expected_assignee_id=expected_assignee_id,
            ),
            assignee_id=assignee_id,
            state=state,
        )
        return mutation_id, self._changes()

    def record(self, rectification_id: str, texts: dict[str, str]) -> tuple[str, Changes]:
        """Save the verification, the action and the outcome written so far."""
        try:
            clean = clean_texts(texts)
        except RectificationError as exc:
            raise TeamActionError(exc.message) from None
        if not any(clean.values()):
            raise TeamActionError("请填写核实情况、整改措施或整改结果")
        mutation_id = self._update(
            rectification_id,
            RectificationRecord(rectification_id=rectification_id, **clean),
            **clean,
        )
        return mutation_id, self._changes()

    def close(self, rectification_id: str, texts: dict[str, str]) -> tuple[str, Changes]:
        """Close it; verification, action and outcome must all be written."""
        try:
            clean = clean_texts(texts)
        except RectificationError as exc:
            raise TeamActionError(exc.message) from None
        missing = missing_for_close(clean)
        if missing:
            raise TeamActionError(f"办结整改前请填写：{'、'.join(missing)}")
        mutation_id = self._update(
            rectification_id,
            RectificationClose(rectification_id=rectification_id, **clean),
            **clean,
            state="closed",
            closed_at=datetime.now().replace(microsecond=0).isoformat(),
        )
        return mutation_id, self._changes()

    @staticmethod
    def _changes() -> Changes:
        changes = Changes()
        changes.touch(KIND)
        return changes
