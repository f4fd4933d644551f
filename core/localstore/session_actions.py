"""Session actions in the local cache: the effect at once, the mutation in the outbox.

Every action checks the move with :mod:`core.session_rules` (the server checks it
again), then writes its local effect — the new state, the assignee, a timeline entry
marked ``pending`` — and its outbox row in one transaction, so the screen shows the
action immediately, online or not, and a crash can never keep one without the other.
The push's answer replaces the local record with the server's.

Also the reads the session console needs (evaluations, the cached teams and the
working-day calendar), so that the UI has one module to ask.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from core.calendar import Deadline, WorkCalendar, YearSchedule, escalation_deadline
from core.entities import Evaluation, Session
from core.enums import Role, SessionState
from core.localstore import models as lm
from core.localstore.changes import Changes
from core.localstore.store import LocalStore, enqueue_payload
from core.masking import mask_caller_numbers
from core.protocol import (
    Payload,
    ProtocolError,
    SessionCreate,
    SessionReassign,
    SessionReveal,
    SessionTransfer,
    SessionTransition,
)
from core.session_rules import (
    Action,
    Actor,
    RuleViolation,
    check_reassign,
    check_reveal_reason,
    check_transfer,
    transition_effect,
)
from core.validation import normalize_phone, validate_new_session

TEAMS_KEY = "teams"


def _queue(db: DbSession, payload: Payload) -> str:
    """Queue a payload, checked as the server will check it."""
    try:
        return enqueue_payload(db, payload)
    except ProtocolError as exc:
        raise ActionError(exc.reason, {exc.field: exc.reason}) from None


class ActionError(Exception):
    """An action that cannot be taken; ``message`` is shown to the person as it is."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


@dataclass(frozen=True)
class Me:
    """The signed-in person, as the rules and the timeline need them."""

    id: int
    display_name: str
    role: str
    team_id: str | None

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, role=Role(self.role), team_id=self.team_id)


@dataclass(frozen=True)
class TransitionRequest:
    """接入 / 开始 / 挂起 / 恢复 / 转办 / 待回电 / 办结 with what each one needs."""

    action: Action
    reason: str = ""
    outcome: str | None = None
    close_summary: str = ""
    department: str = ""
    complexity: str = "simple"
    due_at: datetime | None = None
    """For 待回电: when to call back (default: one working day)."""


@dataclass(frozen=True)
class TransferRequest:
    """转交 to a colleague (``to_agent_id``) or to a team's queue (``to_team_id``)."""

    reason: str
    to_agent_id: int | None = None
    to_team_id: str | None = None
    to_name: str = ""


@dataclass(frozen=True)
class ReassignRequest:
    """改派 by a lead; ``expected_assignee_id`` is the assignee the lead saw."""

    to_agent_id: int
    expected_assignee_id: int | None
    reason: str
    to_name: str = ""


@dataclass(frozen=True)
class NewSessionRequest:
    """A phone call or a walk-in referral logged by hand."""

    channel: str
    service_type: str
    summary: str
    caller_name: str = ""
    caller_phone: str = ""
    caller_id_number: str = ""
    matter_code: str | None = None
    take: bool = True
    """Take it now (active, mine) rather than put it in the team's queue."""
    ticket_number: str = ""
    """The queue ticket (叫号) of a walk-in (现场), if any."""

    def fields(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "service_type": self.service_type,
            "summary": self.summary,
            "caller_name": self.caller_name,
            "caller_phone": self.caller_phone,
            "caller_id_number": self.caller_id_number,
            "ticket_number": self.ticket_number,
        }


@dataclass
class ActionResult:
    session_id: str
    changes: Changes = field(default_factory=Changes)
    mutation_id: str = ""


@dataclass(frozen=True)
class Escalation1515:
    """The deadlines of a 转办 under the "1515" rule, for the dialog to show."""

    contact: Deadline
    answer: Deadline

    @property
    def provisional(self) -> bool:
        return self.contact.provisional or self.answer.provisional


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


def _entry(me: Me, kind: str, at: datetime, **detail: Any) -> dict[str, Any]:
    return {
        "id": f"local-{uuid.uuid4()}",
        "at": at.isoformat(),
        "actor_id": me.id,
        "actor_name": me.display_name,
        "kind": kind,
        "detail": {k: v for k, v in detail.items() if v not in (None, "")},
        "pending": True,
    }


class SessionActions:
    """The session console's writes and reads on one user's cache (database worker only)."""

    def __init__(self, store: LocalStore, me: Me) -> None:
        self.store = store
        self.me = me

    # -- reads ------------------------------------------------------------------------------

    def calendar(self) -> WorkCalendar:
        """The working-day calendar synced from the server, or the built-in one."""
        years = []
        for data in self.store.calendar_years():
            try:
                years.append(YearSchedule.from_wire(data))
            except (KeyError, TypeError, ValueError):
                continue
        if not years:
            return WorkCalendar.builtin()
        calendar = WorkCalendar.builtin()
        calendar.schedules.update({y.year: y for y in years})
        return calendar

    def escalation_deadlines(self, start: datetime, complexity: str) -> Escalation1515:
        calendar = self.calendar()
        return Escalation1515(
            contact=calendar.add_working_days(start, 1),
            answer=escalation_deadline(calendar, start, complexity),
        )

    def default_callback_due(self, start: datetime, working_days: int = 1) -> datetime:
        return self.calendar().add_working_days(start, working_days).at_end_of_day()

    def evaluations(self, session_id: str) -> list[tuple[Evaluation, bool]]:
        with self.store.reading() as db:
            rows = db.scalars(select(lm.Evaluation).where(lm.Evaluation.session_id == session_id))
            return [(Evaluation.from_wire(r.data), r.pending) for r in rows]

    def teams(self) -> list[dict[str, str]]:
        """Teams as last fetched from the server (for 转交 to another team)."""
        raw = self.store.get_meta(TEAMS_KEY)
        if not raw:
            return []
        try:
            value = json.loads(raw)
        except ValueError:
            return []
        return [t for t in value if isinstance(t, dict) and t.get("id")]

    def save_teams(self, teams: list[dict[str, Any]]) -> None:
        clean = [
            {"id": str(t["id"]), "name": str(t.get("name") or t["id"])}
            for t in teams
            if isinstance(t, dict) and t.get("id")
        ]
        self.store.set_meta(TEAMS_KEY, json.dumps(clean, ensure_ascii=False))

    # -- writes -----------------------------------------------------------------------------

    def _load(self, db: DbSession, session_id: str) -> tuple[lm.Session, Session]:
        row = db.get(lm.Session, session_id)
        if row is None:
            raise ActionError("本地没有该会话，请同步后再试")
        return row, Session.from_wire(row.data)

    @staticmethod
    def _store(row: lm.Session, data: dict[str, Any]) -> None:
        data = mask_caller_numbers(data)
        session = Session.from_wire(data)
        row.data = data
        row.state = session.state
        row.assignee_id = session.assignee_id
        row.team_id = session.team_id
        row.closed_at = session.closed_at
        row.local = True

    @classmethod
    def _store_with_event(
        cls,
        row: lm.Session,
        data: dict[str, Any],
        entry: dict[str, Any],
        *,
        touched: datetime | None,
    ) -> None:
        """Append a pending timeline entry and store; ``touched`` moves ``updated_at``
        (a reveal is logged without counting as a change of the session)."""
        data["timeline"] = [*data.get("timeline", []), entry]
        if touched is not None:
            data["updated_at"] = touched.isoformat()
        cls._store(row, data)

    def transition(self, session_id: str, request: TransitionRequest) -> ActionResult:
        """接入 / 开始 / … / 办结: the effect is :func:`core.session_rules.transition_effect`,
        the same function the server applies when the action arrives."""
        action = Action(request.action)
        now = _now()
        calendar = self.calendar()
        with self.store.begin() as db:
            row, session = self._load(db, session_id)
            try:
                effect = transition_effect(
                    session,
                    action,
                    self.me.actor,
                    acted_at=now,
                    now=now,
                    calendar=calendar,
                    reason=request.reason,
                    outcome=request.outcome,
                    close_summary=request.close_summary,
                    department=request.department,
                    complexity=request.complexity,
                    due_at=request.due_at if action is Action.CALLBACK else None,
                )
            except RuleViolation as exc:
                raise ActionError(exc.message) from None
            data = dict(row.data)
            for name, value in effect.fields.items():
                data[name] = value.isoformat() if isinstance(value, datetime) else value
            self._store_with_event(
                row,
                data,
                _entry(self.me, effect.event, now, **effect.detail),
                touched=now,
            )
            due = effect.fields.get("due_at")
            mutation_id = _queue(
                db,
                SessionTransition(
                    session_id=session_id,
                    action=action.value,
                    to=effect.target.value,
                    reason=request.reason.strip(),
                    outcome=request.outcome if action is Action.CLOSE else None,
                    close_summary=str(effect.fields.get("close_summary") or ""),
                    department=request.department.strip() if action is Action.ESCALATE else "",
                    complexity=request.complexity if action is Action.ESCALATE else "simple",
                    due_at=due if action in (Action.ESCALATE, Action.CALLBACK) else None,
                ),
            )
        return self._result(session_id, mutation_id)

    def transfer(self, session_id: str, request: TransferRequest) -> ActionResult:
        reason = request.reason.strip()
        now = _now()
        with self.store.begin() as db:
            row, session = self._load(db, session_id)
            try:
                target = check_transfer(
                    session,
                    self.me.actor,
                    to_agent_id=request.to_agent_id,
                    to_team_id=request.to_team_id,
                    reason=reason,
                )
            except RuleViolation as exc:
                raise ActionError(exc.message) from None
            data = dict(row.data)
            data["state"] = target.value
            data["assignee_id"] = request.to_agent_id
            if request.to_team_id:
                data["team_id"] = request.to_team_id
            self._store_with_event(
                row,
                data,
                _entry(
                    self.me,
                    "transferred",
                    now,
                    from_id=self.me.id,
                    to_id=request.to_agent_id,
                    to=request.to_name if request.to_agent_id else None,
                    to_team=request.to_team_id,
                    to_team_name=request.to_name if request.to_team_id else None,
                    reason=reason,
                ),
                touched=now,
            )
            mutation_id = _queue(
                db,
                SessionTransfer(
                    session_id=session_id,
                    to_agent_id=request.to_agent_id,
                    to_team_id=request.to_team_id,
                    reason=reason,
                ),
            )
        return self._result(session_id, mutation_id)

    def reassign(self, session_id: str, request: ReassignRequest) -> ActionResult:
        reason = request.reason.strip()
        now = _now()
        with self.store.begin() as db:
            row, session = self._load(db, session_id)
            try:
                check_reassign(
                    session,
                    self.me.actor,
                    expected_assignee_id=request.expected_assignee_id,
                    to_agent_id=request.to_agent_id,
                    reason=reason,
                )
            except RuleViolation as exc:
                raise ActionError(exc.message) from None
            data = dict(row.data)
            data["state"] = SessionState.ASSIGNED.value
            data["assignee_id"] = request.to_agent_id
            self._store_with_event(
                row,
                data,
                _entry(
                    self.me,
                    "reassigned",
                    now,
                    from_id=request.expected_assignee_id,
                    to_id=request.to_agent_id,
                    to=request.to_name,
                    reason=reason,
                ),
                touched=now,
            )
            mutation_id = _queue(
                db,
                SessionReassign(
                    session_id=session_id,
                    to_agent_id=request.to_agent_id,
                    expected_assignee_id=request.expected_assignee_id,
                    reason=reason,
                ),
            )
        return self._result(session_id, mutation_id)

    def create(self, request: NewSessionRequest) -> ActionResult:
        errors = validate_new_session(request.fields())
        if errors:
            raise ActionError("；".join(errors.values()), errors)
        if self.me.team_id is None:
            raise ActionError("您不属于任何班组，不能新建会话")
        session_id = str(uuid.uuid4())
        now = _now()
        take = request.take
        timeline = [
            _entry(
                self.me,
                "created",
                now,
                channel=request.channel,
                summary=request.summary.strip()[:200],
                manual=True,
                ticket_number=request.ticket_number.strip() or None,
            )
        ]
        if take:
            timeline.append(_entry(self.me, "accepted", now))
        session = Session(
            id=session_id,
            team_id=self.me.team_id,
            state=(SessionState.ACTIVE if take else SessionState.WAITING).value,
            service_type=request.service_type,
            channel=request.channel,
            created_at=now,
            assignee_id=self.me.id if take else None,
            caller_name=request.caller_name.strip(),
            caller_phone=normalize_phone(request.caller_phone),
            caller_id_number=request.caller_id_number.strip().upper(),
            matter_code=request.matter_code or None,
            summary=request.summary.strip(),
            accepted_at=now if take else None,
            assigned_at=now if take else None,
            updated_at=now,
            timeline=timeline,
        )
        data = session.to_wire()
        with self.store.begin() as db:
            row = lm.Session(id=session_id, created_at=now, data=data)
            self._store(row, data)
            db.add(row)
            mutation_id = _queue(
                db,
                SessionCreate(
                    session_id=session_id,
                    service_type=request.service_type,
                    channel=request.channel,
                    summary=request.summary,
                    caller_name=request.caller_name,
                    caller_phone=request.caller_phone,
                    caller_id_number=request.caller_id_number,
                    matter_code=request.matter_code or None,
                    take=take,
                    ticket_number=request.ticket_number.strip(),
                ),
            )
        return self._result(session_id, mutation_id)

    def reveal(self, session_id: str, field: str = "all", reason: str = "") -> ActionResult:
        """Log that the person looked at the caller's full numbers, and why (queued like
        any action; the reason goes into the server's audit row).

        The console no longer uses this: the full numbers are not in the cache, so it asks
        the server (``POST /api/v1/sessions/{id}/reveal``), which logs the reveal itself.

        Raises:
            ActionError: No reason given, or one too long.
        """
        try:
            reason = check_reveal_reason(reason)
        except RuleViolation as exc:
            raise ActionError(exc.message) from None
        now = _now()
        with self.store.begin() as db:
            row, _session = self._load(db, session_id)
            data = dict(row.data)
            self._store_with_event(
                row,
                data,
                _entry(self.me, "revealed", now, field=field),
                touched=None,
            )
            mutation_id = _queue(
                db, SessionReveal(session_id=session_id, field=field, reason=reason)
            )
        return self._result(session_id, mutation_id)

    @staticmethod
    def _result(session_id: str, mutation_id: str) -> ActionResult:
        changes = Changes()
        changes.touch("session", session_id)
        return ActionResult(session_id, changes, mutation_id)
