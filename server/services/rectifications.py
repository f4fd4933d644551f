"""差评整改 on the server: the pull kind ``rectification`` and its lead-only mutations.

A rating of 1-2 opens a rectification (the ``evaluation`` / ``create`` handler does,
with a deadline in working days). It is the team lead's record: it syncs to the
leads of its team (and to admins) and to nobody else — its change rows carry only
the team as audience, which :func:`server.services.visibility.change_filter` shows
to the team's leads alone.

Mutations (each checked here, each in the audit log):

* ``rectification`` / ``assign`` ``{assignee_id, expected_assignee_id?}``: hand the
  follow-up to a member of the team; with ``expected_assignee_id`` it is a
  compare-and-set, so two leads never silently overwrite each other;
* ``rectification`` / ``record`` ``{verification?, action?, outcome?}``: write down
  what was verified (核实情况), what was done (整改措施) and the result (整改结果);
* ``rectification`` / ``close`` ``{verification?, action?, outcome?}``: the same, then
  close it; all three must be filled in by then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from core.enums import Role
from core.protocol import (
    Op,
    RecordKind,
    RectificationAssign,
    RectificationClose,
    RectificationRecord,
)
from core.rectifications import RectificationError, clean_texts, missing_for_close
from core.session_rules import leads_team
from core.session_timeline import when_text
from server import models as m
from server.audit import record_audit
from server.auth import CurrentUser
from server.changes import Audience, record
from server.services.events import publish
from server.services.mutations import Applied, Mutation, Rejected, handler
from server.services.pull import EXTRA_LOADERS, EXTRA_VISIBILITY
from server.services.sessions import add_event, log_session

KIND = RecordKind.RECTIFICATION


# -- the pull kind -----------------------------------------------------------------------


@dataclass
class RectificationView:
    """A rectification with what its wire shape needs from its session and evaluation."""

    row: m.Rectification
    summary: str
    score: int | None
    comment: str
    session_assignee_id: int | None

    @property
    def session_id(self) -> str:
        return self.row.session_id


def wire(view: RectificationView) -> dict[str, Any]:
    """The record leads receive by sync (no caller data: the summary only)."""
    r = view.row

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": r.id,
        "session_id": r.session_id,
        "evaluation_id": r.evaluation_id,
        "team_id": r.team_id,
        "assignee_id": r.assignee_id,
        "state": r.state,
        "deadline": r.deadline.isoformat(),
        "deadline_provisional": bool(r.deadline_provisional),
        "created_at": iso(r.created_at),
        "verification": r.verification or "",
        "action": r.action or "",
        "outcome": r.outcome or "",
        "closed_at": iso(r.closed_at),
        "closed_by": r.closed_by,
        "summary": view.summary,
        "score": view.score,
        "comment": view.comment,
        "session_assignee_id": view.session_assignee_id,
    }


def load_views(db: DbSession, ids: list[str]) -> dict[str, RectificationView]:
    rows = list(db.scalars(select(m.Rectification).where(m.Rectification.id.in_(ids))))
    return _views(db, rows)


def _views(db: DbSession, rows: list[m.Rectification]) -> dict[str, RectificationView]:
    if not rows:
        return {}
    sessions = {
        s.id: s
        for s in db.scalars(select(m.Session).where(m.Session.id.in_({r.session_id for r in rows})))
    }
    evaluations = {
        e.id: e
        for e in db.scalars(
            select(m.Evaluation).where(m.Evaluation.id.in_({r.evaluation_id for r in rows}))
        )
    }
    result = {}
    for r in rows:
        session = sessions.get(r.session_id)
        evaluation = evaluations.get(r.evaluation_id)
        result[r.id] = RectificationView(
            r,
            summary=(session.summary or "")[:120] if session else "",
            score=evaluation.score if evaluation else None,
            comment=(evaluation.comment or "")[:500] if evaluation else "",
            session_assignee_id=session.assignee_id if session else None,
        )
    return result


def team_views(db: DbSession, team_id: str) -> list[RectificationView]:
    """Every rectification of a team (for the figures)."""
    rows = list(db.scalars(select(m.Rectification).where(m.Rectification.team_id == team_id)))
    return list(_views(db, rows).values())


def visible(view: RectificationView, user: CurrentUser) -> bool:
    """A rectification is the lead's record: its team's leads and admins see it."""
    return leads_team(user.actor, view.row.team_id)


EXTRA_LOADERS[KIND] = (load_views, wire)
EXTRA_VISIBILITY[KIND] = visible


def log_rectification(db: DbSession, row: m.Rectification, *, now: datetime | None = None) -> int:
    """Record a change of ``row`` for the leads of its team (the only audience)."""
    return record(db, KIND, row.id, audience=Audience(team_id=row.team_id), now=now)


# -- mutations -----------------------------------------------------------------------------


def _load(db: DbSession, mutation: Mutation) -> m.Rectification:
    row = db.get(m.Rectification, mutation.payload.rectification_id, with_for_update=True)
    if row is None:
        raise Rejected("该差评整改不存在或已被删除")
    return row


def _name(db: DbSession, user_id: int | None) -> str:
    if user_id is None:
        return ""
    user = db.get(m.User, user_id)
    return user.display_name if user else f"#{user_id}"


def _check_lead(db: DbSession, user: CurrentUser, row: m.Rectification) -> None:
    if user.role is Role.ADMIN:
        return
    if user.role is not Role.LEAD or user.team_id != row.team_id:
        raise Rejected("只有本班组的班组长可以处理差评整改")


def _check_open(db: DbSession, row: m.Rectification) -> None:
    if row.state == "closed":
        raise Rejected(
            f"该整改已于 {when_text(row.closed_at)} 由 {_name(db, row.closed_by) or '班组长'} "
            "办结，不能再修改"
        )


def _texts(payload: RectificationRecord | RectificationClose) -> dict[str, str]:
    try:
        return clean_texts(payload.texts())
    except RectificationError as exc:
        raise Rejected(exc.message) from None


def _audit(
    db: DbSession,
    user: CurrentUser,
    action: str,
    row: m.Rectification,
    now: datetime,
    **detail: Any,
) -> None:
    record_audit(
        db,
        at=now,
        actor_id=user.id,
        action=f"rectification.{action}",
        target_kind=KIND,
        target_id=row.id,
        detail={"session_id": row.session_id, **detail},
    )


def _announce(db: DbSession, row: m.Rectification, what: str, by: str) -> None:
    publish(
        db,
        "rectification_updated",
        {
            "rectification_id": row.id,
            "session_id": row.session_id,
            "state": row.state,
            "assignee_id": row.assignee_id,
            "deadline": row.deadline.isoformat(),
            "what": what,
            "by": by,
        },
        team_id=row.team_id,
        for_leads=True,
    )


def _timeline(
    db: DbSession,
    row: m.Rectification,
    kind: str,
    author: m.User | None,
    now: datetime,
    **detail: Any,
) -> None:
    session = db.get(m.Session, row.session_id)
    if session is None:
        return
    add_event(db, session, kind, actor=author, at=now, rectification_id=row.id, **detail)
    log_session(db, session, now=now)


def _changed_hands(db: DbSession, row: m.Rectification) -> Rejected:
    now_name = _name(db, row.assignee_id) or "未分派"
    return Rejected(f"该整改的负责人已变更为 {now_name}，分派未执行，请刷新后再试")


@handler(KIND, Op.ASSIGN, target_kind=KIND)
def assign(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """Hand the follow-up to a member of the team: a compare-and-set on the assignee
    (``expected_assignee_id``), checked by the conditional UPDATE's row count."""
    p: RectificationAssign = mutation.payload
    row = _load(db, mutation)
    _check_lead(db, user, row)
    _check_open(db, row)
    assignee_id = p.assignee_id
    # Without an expected assignee, the one read here is expected: two leads racing
    # still never both win.
    expected = p.expected_assignee_id if p.expected_given else row.assignee_id
    if expected != row.assignee_id:
        raise _changed_hands(db, row)
    assignee = db.get(m.User, assignee_id)
    if (
        assignee is None
        or not assignee.active
        or assignee.team_id != row.team_id
        or assignee.role == Role.ADMIN.value
    ):
        raise Rejected("整改负责人须为本班组在岗人员")
    now = datetime.now()
    author = db.get(m.User, user.id)
    previous = row.assignee_id
    won = db.execute(
        update(m.Rectification)
        .where(
            m.Rectification.id == row.id,
            m.Rectification.state != "closed",
            m.Rectification.assignee_id.is_not_distinct_from(expected),
        )
        .values(assignee_id=assignee.id, state="assigned")
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        # Another lead got in between our read and our write: say who holds it now.
        db.rollback()
        row = db.get(m.Rectification, row.id) or row
        _check_open(db, row)
        raise _changed_hands(db, row)
    row.assignee_id = assignee.id
    row.state = "assigned"
    _audit(
        db, user, "assign", row, now, from_id=previous, to_id=assignee.id, to=assignee.display_name
    )
    _timeline(db, row, "rectification_assigned", author, now, to=assignee.display_name)
    log_rectification(db, row, now=now)
    _announce(db, row, "assign", user.display_name)
    publish(
        db,
        "rectification_assigned",
        {
            "rectification_id": row.id,
            "session_id": row.session_id,
            "deadline": row.deadline.isoformat(),
            "by": user.display_name,
            "summary": "差评整改由您负责，期限 " + row.deadline.isoformat(),
        },
        user_ids=[assignee.id],
    )
    return Applied(records=[(KIND, row.id), (RecordKind.SESSION, row.session_id)])


def _write_texts(row: m.Rectification, texts: dict[str, str]) -> dict[str, str]:
    changed = {}
    for key, value in texts.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed[key] = value
    return changed


@handler(KIND, Op.RECORD, target_kind=KIND)
def record_texts(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """Write down the verification, the action taken and the outcome so far."""
    row = _load(db, mutation)
    _check_lead(db, user, row)
    _check_open(db, row)
    texts = _texts(mutation.payload)
    if not texts:
        raise Rejected("请填写核实情况、整改措施或整改结果")
    now = datetime.now()
    changed = _write_texts(row, texts)
    if changed:
        _audit(db, user, "record", row, now, fields=sorted(changed))
        log_rectification(db, row, now=now)
        _announce(db, row, "record", user.display_name)
    return Applied(records=[(KIND, row.id)])


@handler(KIND, Op.CLOSE, target_kind=KIND)
def close(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """Close the rectification; verification, action and outcome must all be written."""
    row = _load(db, mutation)
    _check_lead(db, user, row)
    _check_open(db, row)
    texts = _texts(mutation.payload)
    _write_texts(row, texts)
    missing = missing_for_close(
        {"verification": row.verification, "action": row.action, "outcome": row.outcome}
    )
    if missing:
        raise Rejected(f"办结整改前请填写：{'、'.join(missing)}")
    now = datetime.now()
    author = db.get(m.User, user.id)
    db.flush()  # the texts first; then the close itself is a compare-and-set
    won = db.execute(
        update(m.Rectification)
        .where(m.Rectification.id == row.id, m.Rectification.state != "closed")
        .values(state="closed", closed_at=now, closed_by=user.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        db.rollback()
        row = db.get(m.Rectification, row.id) or row
        _check_open(db, row)
        raise Rejected("该整改刚被他人更改，办结未执行，请刷新后再试")
    row.state = "closed"
    row.closed_at = now
    row.closed_by = user.id
    on_time = now.date() <= row.deadline
    _audit(db, user, "close", row, now, on_time=on_time, deadline=row.deadline.isoformat())
    _timeline(db, row, "rectification_closed", author, now)
    log_rectification(db, row, now=now)
    _announce(db, row, "close", user.display_name)
    return Applied(records=[(KIND, row.id), (RecordKind.SESSION, row.session_id)])
