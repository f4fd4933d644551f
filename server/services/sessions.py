"""Sessions on the server: timeline events, notes and the change rows that carry them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from core.enums import SessionState
from core.protocol import RecordKind
from server import models as m
from server.changes import Audience, record


def audience_of(
    session: m.Session, *, prev_assignee_id: int | None = None, was_waiting: bool = False
) -> Audience:
    return Audience(
        team_id=session.team_id,
        user_a=session.assignee_id,
        user_b=prev_assignee_id,
        queue=was_waiting or session.state == SessionState.WAITING.value,
    )


def log_session(
    db: DbSession,
    session: m.Session,
    *,
    prev_assignee_id: int | None = None,
    was_waiting: bool = False,
    now: datetime | None = None,
) -> int:
    """Record that ``session`` changed, for everyone who saw it before or sees it now."""
    session.updated_at = now or datetime.now()
    return record(
        db,
        RecordKind.SESSION,
        session.id,
        audience=audience_of(session, prev_assignee_id=prev_assignee_id, was_waiting=was_waiting),
        now=now,
    )


def add_event(
    db: DbSession,
    session: m.Session,
    kind: str,
    *,
    actor: m.User | None = None,
    at: datetime | None = None,
    **detail: Any,
) -> m.SessionEvent:
    """Append a timeline event (who, when, what, why)."""
    event = m.SessionEvent(
        session_id=session.id,
        at=at or datetime.now(),
        actor_id=actor.id if actor else None,
        actor_name=actor.display_name if actor else "系统",
        kind=kind,
        detail={k: v for k, v in detail.items() if v is not None},
    )
    session.events.append(event)
    return event


def add_note(
    db: DbSession,
    session: m.Session,
    note_id: str,
    text: str,
    author: m.User | None,
    at: datetime | None = None,
) -> m.SessionNote:
    note = m.SessionNote(
        id=note_id,
        session_id=session.id,
        author_id=author.id if author else None,
        author_name=author.display_name if author else "",
        text=text,
        created_at=at or datetime.now(),
    )
    db.add(note)
    record(db, RecordKind.SESSION_NOTE, note_id, audience=audience_of(session), now=at)
    return note


def relog_children(db: DbSession, session: m.Session, *, prev_assignee_id: int | None) -> None:
    """Send a session's notes and evaluations again after it changed hands, so that the
    new assignee, whose cursor is already past them, receives them too."""
    audience = audience_of(session, prev_assignee_id=prev_assignee_id)
    for note_id in db.scalars(
        select(m.SessionNote.id).where(m.SessionNote.session_id == session.id)
    ):
        record(db, RecordKind.SESSION_NOTE, note_id, audience=audience)
    for eval_id in db.scalars(select(m.Evaluation.id).where(m.Evaluation.session_id == session.id)):
        record(db, RecordKind.EVALUATION, eval_id, audience=audience)
    # A running walkthrough goes with the session: the new assignee continues it.
    for run_id in db.scalars(
        select(m.WalkthroughRun.id).where(m.WalkthroughRun.session_id == session.id)
    ):
        record(db, RecordKind.WALKTHROUGH_RUN, run_id, audience=audience)
    # Share links too: the new assignee sees the session's link and may revoke it.
    for link_id in db.scalars(select(m.ShareLink.id).where(m.ShareLink.session_id == session.id)):
        record(db, RecordKind.SHARE_LINK, link_id, audience=audience)
    # And the conversation with the caller (online consultation).
    for message_id in db.scalars(select(m.Message.id).where(m.Message.session_id == session.id)):
        record(db, RecordKind.MESSAGE, message_id, audience=audience)
