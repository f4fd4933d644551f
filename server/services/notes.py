"""Mutation handlers for append-only facts: session notes and knowledge feedback.

A note's id and a feedback's id are the client's own; the same id again with the same
content is the same fact (answered as applied), with other content it is refused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from core.protocol import FeedbackCreate, NoteCreate, Op, RecordKind
from core.session_rules import RuleViolation, check_note
from server import models as m
from server.auth import CurrentUser
from server.services.events import publish
from server.services.mutations import Applied, Mutation, Rejected, handler
from server.services.sessions import add_note
from server.services.visibility import session_visible


def _held_until(db: DbSession, session: m.Session, user_id: int) -> datetime | None:
    """When the session was last handed away from the user (reassigned or transferred)."""
    at = db.scalar(
        select(func.max(m.SessionEvent.at))
        .where(m.SessionEvent.session_id == session.id)
        .where(m.SessionEvent.kind.in_(("reassigned", "transferred")))
        .where(m.SessionEvent.detail["from_id"].as_integer() == user_id)
    )
    return at if isinstance(at, datetime) else None


@handler(RecordKind.SESSION_NOTE, Op.CREATE, target_kind=RecordKind.SESSION_NOTE)
def create_note(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    p: NoteCreate = mutation.payload
    now = datetime.now()
    written = min(mutation.created_at or now, now)
    earlier = db.get(m.SessionNote, p.note_id)
    if earlier is not None:
        if (earlier.session_id, earlier.author_id, earlier.text) == (p.session_id, user.id, p.text):
            return Applied(records=[(RecordKind.SESSION_NOTE, p.note_id)])
        raise Rejected("备注编号已被使用，本备注未保存")
    session = db.get(m.Session, p.session_id)
    if session is None:
        raise Rejected("该会话不存在，备注未能保存")
    visible = session_visible(session, user)
    try:
        check_note(
            visible=visible,
            held_until=None if visible else _held_until(db, session, user.id),
            closed_at=session.closed_at,
            written_at=written,
        )
    except RuleViolation as exc:
        raise Rejected(exc.message) from None
    author = db.get(m.User, user.id)
    add_note(db, session, p.note_id, p.text, author, at=now)
    recipients = {session.assignee_id} - {user.id}
    publish(
        db,
        "note_added",
        {"session_id": session.id, "note_id": p.note_id, "author": user.display_name},
        user_ids=recipients,
    )
    return Applied(records=[(RecordKind.SESSION_NOTE, p.note_id)])


@handler(RecordKind.KNOWLEDGE_FEEDBACK, Op.CREATE)
def create_feedback(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    p: FeedbackCreate = mutation.payload
    earlier = db.get(m.KnowledgeFeedback, p.feedback_id)
    if earlier is not None:
        if (earlier.author_id, earlier.kind, earlier.text, earlier.entry_id) == (
            user.id,
            p.kind,
            p.text,
            p.entry_id,
        ):
            return Applied()
        raise Rejected("反馈编号已被使用，本反馈未保存")
    if p.entry_id is not None and db.get(m.KnowledgeEntry, p.entry_id) is None:
        raise Rejected("所反馈的知识条目已不存在")
    db.add(
        m.KnowledgeFeedback(
            id=p.feedback_id,
            entry_id=p.entry_id,
            kind=p.kind,
            text=p.text,
            author_id=user.id,
            created_at=datetime.now(),
        )
    )
    return Applied()
