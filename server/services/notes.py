"""Mutation handlers for append-only facts: session notes and knowledge feedback."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from server import models as m
from server.auth import CurrentUser
from server.services.events import publish
from server.services.mutations import Applied, Mutation, Rejected, handler
from server.services.sessions import add_note
from server.services.visibility import session_visible

MAX_NOTE = 4000


def _was_assignee(db, session: m.Session, user_id: int) -> bool:  # type: ignore[no-untyped-def]
    """Whether the user ever held the session (a note written offline before a
    reassignment is still theirs to add)."""
    return bool(
        db.scalar(
            select(m.SessionEvent.id)
            .where(m.SessionEvent.session_id == session.id)
            .where(
                (m.SessionEvent.actor_id == user_id)
                | (m.SessionEvent.detail["to_id"].as_integer() == user_id)
            )
            .limit(1)
        )
    )


@handler("session_note", "create", target_kind="session_note")
def create_note(db, user: CurrentUser, mutation: Mutation) -> Applied:  # type: ignore[no-untyped-def]
    p = mutation.payload
    note_id = str(p.get("note_id") or mutation.target_id or "")
    text = str(p.get("text") or "").strip()
    if not note_id:
        raise Rejected("备注缺少编号")
    if not text:
        raise Rejected("备注内容不能为空")
    if len(text) > MAX_NOTE:
        raise Rejected(f"备注过长（最多 {MAX_NOTE} 字）")
    session = db.get(m.Session, str(p.get("session_id") or ""))
    if session is None:
        raise Rejected("该会话不存在，备注未能保存")
    if db.get(m.SessionNote, note_id) is not None:
        return Applied(records=[("session_note", note_id)])
    allowed = (
        session_visible(session, user)
        or session.team_id == user.team_id
        or _was_assignee(db, session, user.id)
    )
    if not allowed:
        raise Rejected("您无权在该会话上添加备注")
    author = db.get(m.User, user.id)
    created = datetime.now()
    add_note(db, session, note_id, text, author, at=created)
    recipients = {session.assignee_id} - {user.id}
    publish(
        db,
        "note_added",
        {"session_id": session.id, "note_id": note_id, "author": user.display_name},
        user_ids=recipients,
    )
    return Applied(records=[("session_note", note_id)])


@handler("knowledge_feedback", "create")
def create_feedback(db, user: CurrentUser, mutation: Mutation) -> Applied:  # type: ignore[no-untyped-def]
    p = mutation.payload
    feedback_id = str(p.get("feedback_id") or mutation.target_id or "")
    kind = str(p.get("kind") or "")
    text = str(p.get("text") or "").strip()
    if kind not in ("correction", "new_question"):
        raise Rejected("反馈类型应为纠错或新问题")
    if not text:
        raise Rejected("反馈内容不能为空")
    if len(text) > MAX_NOTE:
        raise Rejected(f"反馈过长（最多 {MAX_NOTE} 字）")
    entry_id = p.get("entry_id")
    if entry_id is not None and db.get(m.KnowledgeEntry, str(entry_id)) is None:
        raise Rejected("所反馈的知识条目已不存在")
    if not feedback_id or db.get(m.KnowledgeFeedback, feedback_id) is not None:
        return Applied()
    db.add(
        m.KnowledgeFeedback(
            id=feedback_id,
            entry_id=entry_id,
            kind=kind,
            text=text,
            author_id=user.id,
            created_at=datetime.now(),
        )
    )
    return Applied()
