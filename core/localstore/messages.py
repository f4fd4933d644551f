"""The conversation of a chat session (``web_chat``) in the local cache.

A staff message is written like every action: the local record and its outbox row in
one transaction, so a reply typed offline shows at once as 发送中 and goes out once the
link returns; the push's answer replaces the local record with the server's (with its
``seq``), and the caller's page receiving it sets ``read_at`` (已读). A refused message
stays on screen marked 未发送 with its text, never silently dropped.

Also what the console's suggestions start from: the caller's latest question.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from core.entities import KnowledgeEntry, Session
from core.enums import Channel, SessionState
from core.localstore import models as lm
from core.localstore.changes import Changes
from core.localstore.session_actions import ActionError, ActionResult, Me
from core.localstore.store import LocalStore, enqueue_payload
from core.protocol import MESSAGE_MAX_LEN, MessageCreate, ProtocolError, RecordKind
from core.session_rules import leads_team

KIND = RecordKind.MESSAGE.value
PHOTO_KIND = "photo"
"""A caller's photo fetched from ``/attachments/{id}``, kept for offline reading (a
record of the session, so it goes when the session leaves the cache)."""


class MessageState(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    READ = "read"
    FAILED = "failed"
    RECEIVED = "received"
    """From the caller."""

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]


_STATE_LABELS = {
    MessageState.SENDING: "发送中",
    MessageState.SENT: "已送达",
    MessageState.READ: "群众已读",
    MessageState.FAILED: "未发送",
    MessageState.RECEIVED: "",
}


def _dt(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ChatMessage:
    id: str
    session_id: str
    from_caller: bool
    author_name: str
    text: str
    created_at: datetime
    state: MessageState
    seq: int | None = None
    attachment_ids: tuple[str, ...] = ()
    knowledge_id: str | None = None
    notice: bool = False
    """A walkthrough's 一次性告知 (the caller can print it)."""
    problem: str = ""
    """Why the server refused it (state FAILED; the reason is also in 待处理问题)."""

    @classmethod
    def from_record(cls, data: dict[str, Any], pending: bool) -> ChatMessage:
        caller = data.get("sender") == "caller"
        if caller:
            state = MessageState.RECEIVED
        elif data.get("failed"):
            state = MessageState.FAILED
        elif pending or data.get("seq") is None:
            state = MessageState.SENDING
        elif data.get("read_at"):
            state = MessageState.READ
        else:
            state = MessageState.SENT
        seq = data.get("seq")
        return cls(
            id=str(data["id"]),
            session_id=str(data.get("session_id") or ""),
            from_caller=caller,
            author_name=str(data.get("author_name") or ""),
            text=str(data.get("text") or ""),
            created_at=_dt(data.get("created_at")) or datetime.min,
            state=state,
            seq=int(seq) if isinstance(seq, int) else None,
            attachment_ids=tuple(str(a) for a in data.get("attachment_ids") or ()),
            knowledge_id=data.get("knowledge_id") or None,
            notice=data.get("kind") == "notice",
            problem=str(data.get("failed") or "") if data.get("failed") else "",
        )


def write_refusal(session: Session, me: Me) -> str:
    """Why ``me`` may not write to the caller of ``session`` ("" when they may): the
    server's rule (``conversations.may_write``) — the assignee, or a lead of its team."""
    if session.channel != Channel.WEB_CHAT.value:
        return "只有线上咨询会话可以给群众发消息"
    if session.state == SessionState.CLOSED.value:
        return "该会话已办结，不能再发送消息"
    if session.assignee_id != me.id and not leads_team(me.actor, session.team_id):
        return "接入该会话后才能回复群众（只有承办人或本班组组长可以给群众发消息）"
    return ""


def answer_with_source(entry: KnowledgeEntry) -> str:
    """A knowledge entry as a message to the caller: the answer, then where it comes
    from (issuing unit, title, version), so the caller can check it and staff can later
    find the text they were given."""
    source = entry.issuing_unit or "本中心"
    stamp = f"第 {entry.version} 版"
    if entry.effective_date:
        stamp += f"，{entry.effective_date.isoformat()} 起施行"
    return f"{entry.answer.strip()}\n\n——依据：{source}《{entry.title}》（{stamp}）"


def order_key(message: ChatMessage) -> tuple[int, int, datetime]:
    """Server messages in their ``seq`` order, then the ones still on their way."""
    if message.seq is not None:
        return (0, message.seq, message.created_at)
    return (1, 0, message.created_at)


class ChatActions:
    """Reads and writes of conversations on one user's cache (database worker only)."""

    def __init__(self, store: LocalStore, me: Me) -> None:
        self.store = store
        self.me = me

    def messages(self, session_id: str) -> list[ChatMessage]:
        with self.store.begin() as db:
            rows = list(
                db.scalars(
                    select(lm.Record).where(
                        lm.Record.kind == KIND, lm.Record.parent_id == session_id
                    )
                )
            )
            pending = _pending(db, [r.id for r in rows])
            out = []
            for row in rows:
                try:
                    out.append(ChatMessage.from_record(dict(row.data), row.id in pending))
                except (KeyError, TypeError):
                    continue
        return sorted(out, key=order_key)

    def photo(self, attachment_id: str) -> bytes | None:
        """A photo fetched before (None: not here yet)."""
        with self.store.begin() as db:
            row = db.get(lm.Record, (PHOTO_KIND, attachment_id))
            if row is None:
                return None
            try:
                return base64.b64decode(str(row.data.get("b64") or ""), validate=True)
            except (ValueError, TypeError):
                return None

    def keep_photo(self, session_id: str, attachment_id: str, data: bytes) -> None:
        with self.store.begin() as db:
            db.merge(
                lm.Record(
                    kind=PHOTO_KIND,
                    id=attachment_id,
                    parent_id=session_id,
                    data={
                        "id": attachment_id,
                        "session_id": session_id,
                        "b64": base64.b64encode(data).decode("ascii"),
                    },
                )
            )

    def missing_photos(self, session_id: str) -> list[str]:
        """Photos of the conversation not fetched yet, oldest first."""
        wanted = [a for m in self.messages(session_id) for a in m.attachment_ids]
        if not wanted:
            return []
        with self.store.begin() as db:
            have = set(
                db.scalars(
                    select(lm.Record.id).where(
                        lm.Record.kind == PHOTO_KIND, lm.Record.id.in_(wanted)
                    )
                )
            )
        return [a for a in dict.fromkeys(wanted) if a not in have]

    def latest_question(self, session_id: str) -> str:
        """The caller's latest message (the question the suggestions answer)."""
        for message in reversed(self.messages(session_id)):
            if message.from_caller and message.text.strip():
                return message.text.strip()
        return ""

    def send(
        self,
        session_id: str,
        text: str,
        *,
        knowledge_id: str | None = None,
        suggested: bool = False,
        notice: bool = False,
    ) -> ActionResult:
        """Queue a message to the caller and show it at once (发送中).

        Raises:
            ActionError: empty or too long, not a chat session, closed, not mine.
        """
        text = text.strip()
        if not text:
            raise ActionError("请输入要发送的内容")
        if len(text) > MESSAGE_MAX_LEN:
            raise ActionError(
                f"一条消息最多 {MESSAGE_MAX_LEN} 字（现为 {len(text)} 字），请分几条发送"
            )
        message_id = f"m-{uuid.uuid4().hex}"
        now = datetime.now().replace(microsecond=0)
        with self.store.begin() as db:
            row = db.get(lm.Session, session_id)
            if row is None:
                raise ActionError("本地没有该会话，请同步后再试")
            refusal = write_refusal(Session.from_wire(row.data), self.me)
            if refusal:
                raise ActionError(refusal)
            data: dict[str, Any] = {
                "id": message_id,
                "session_id": session_id,
                "seq": None,
                "sender": "staff",
                "author_id": self.me.id,
                "author_name": self.me.display_name,
                "text": text,
                "attachment_ids": [],
                "created_at": now.isoformat(),
                "read_at": None,
                "knowledge_id": knowledge_id,
                "kind": "notice" if notice else "text",
                "local": True,
            }
            db.add(lm.Record(kind=KIND, id=message_id, parent_id=session_id, data=data))
            try:
                mutation_id = enqueue_payload(
                    db,
                    MessageCreate(
                        message_id=message_id,
                        session_id=session_id,
                        text=text,
                        knowledge_id=knowledge_id,
                        suggested=suggested,
                        kind="notice" if notice else "text",
                    ),
                )
            except ProtocolError as exc:
                raise ActionError(exc.reason, {exc.field: exc.reason}) from None
        changes = Changes()
        changes.touch(KIND, session_id)
        return ActionResult(session_id, changes, mutation_id)


def _pending(db: DbSession, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return {
        str(t)
        for t in db.scalars(
            select(lm.Outbox.target_id).where(lm.Outbox.kind == KIND, lm.Outbox.target_id.in_(ids))
        )
    }
