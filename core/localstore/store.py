"""Reading and writing the local cache. Every function runs on the database worker
and returns plain values, never live ORM objects."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from core.entities import Agent, KnowledgeEntry, MatterGuide, Session, SessionNote
from core.localstore import models as lm
from core.localstore.changes import Changes
from core.masking import CALLER_NUMBER_FIELDS, mask_text
from core.protocol import FeedbackCreate, NoteCreate, Payload, RecordKind, wire
from core.search import index as knowledge_index
from core.session_rules import check_note

CURSOR = "cursor"
HORIZON = "horizon_seq"
"""The server's tombstone horizon as of the last applied page (see ``sync.client.changes``)."""
LAST_SYNC = "last_sync_at"


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    mutation_id: str
    kind: str
    op: str
    target_id: str | None
    base_seq: int | None
    payload: dict[str, Any]
    created_at: datetime
    attempts: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "mutation_id": self.mutation_id,
            "kind": self.kind,
            "op": self.op,
            "target_id": self.target_id,
            "base_seq": self.base_seq,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class ProblemItem:
    id: int
    kind: str
    op: str
    target_id: str | None
    reason: str
    at: datetime


class LocalStore:
    """The cache's operations. Not thread-safe by itself: call from one worker."""

    def __init__(self, sessions: sessionmaker[DbSession]) -> None:
        self._sessions = sessions

    # -- meta -------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self._sessions() as db:
            value = db.scalar(select(lm.Meta.value).where(lm.Meta.key == key))
        return default if value is None else value

    def set_meta(self, key: str, value: str) -> None:
        with self._sessions.begin() as db:
            _set_meta(db, key, value)

    def cursor(self) -> int:
        return int(self.get_meta(CURSOR, "0") or 0)

    def horizon(self) -> int | None:
        """The server's tombstone horizon that came with the stored cursor, if any."""
        value = self.get_meta(HORIZON)
        return int(value) if value else None

    def begin(self) -> AbstractContextManager[DbSession]:
        """A write transaction for feature modules of the cache (session actions …),
        which must write a local effect and its outbox row together."""
        return self._sessions.begin()

    def reading(self) -> DbSession:
        """A read-only unit of work for feature modules (use as a context manager)."""
        return self._sessions()

    # -- pull ---------------------------------------------------------------------------

    def apply_page(
        self, changes: Sequence[dict[str, Any]], cursor: int, horizon: int | None = None
    ) -> Changes:
        """Apply one pulled page and store its cursor (and the server's horizon, when
        given) in the same transaction."""
        result = Changes()
        with self._sessions.begin() as db:
            pending = set(
                db.scalars(select(lm.Outbox.target_id).where(lm.Outbox.target_id.is_not(None)))
            )
            knowledge_rows: list[dict[str, Any]] = []
            knowledge_deleted: list[str] = []
            for change in changes:
                kind, entity_id, data = change["kind"], str(change["id"]), change.get("data")
                # A record with unsent local actions keeps its local state, even against
                # a tombstone; the push's answer brings the server's record (or its
                # removal) once those actions are confirmed or refused.
                if entity_id in pending and kind != RecordKind.KNOWLEDGE_ENTRY:
                    continue
                if change.get("deleted") or data is None:
                    if kind == RecordKind.KNOWLEDGE_ENTRY:
                        knowledge_deleted.append(entity_id)
                    else:
                        _delete_record(db, kind, entity_id)
                    result.touch(kind)
                    continue
                if kind == RecordKind.KNOWLEDGE_ENTRY:
                    knowledge_rows.append(data)
                    result.touch(kind)
                    continue
                _upsert_record(db, kind, data)
                result.touch(
                    kind,
                    data.get("session_id") or (data["id"] if kind == RecordKind.SESSION else None),
                )
            if knowledge_deleted:
                self._delete_knowledge(db, knowledge_deleted)
            if knowledge_rows:
                self._upsert_knowledge(db, knowledge_rows)
            _set_meta(db, CURSOR, str(cursor))
            if horizon is not None:
                _set_meta(db, HORIZON, str(horizon))
        return result

    def _upsert_knowledge(self, db: DbSession, rows: list[dict[str, Any]]) -> None:
        # The search index is written with the rows, in this transaction.
        knowledge_index.upsert_entries(db, rows)

    def _delete_knowledge(self, db: DbSession, ids: list[str]) -> None:
        knowledge_index.delete_entries(db, ids)

    def reset(self) -> Changes:
        """Forget every pulled record and the cursor, to download everything again.

        The outbox stays, and so does every record it still has actions for (a note
        written offline, a session changed offline): the push's answers bring the
        server's version of those, and pulled rows leave them alone until then.
        """
        with self._sessions.begin() as db:
            pending = list(
                db.scalars(select(lm.Outbox.target_id).where(lm.Outbox.target_id.is_not(None)))
            )
            knowledge_index.clear(db)
            for table in (lm.Matter, lm.CalendarYear, lm.Agent):
                db.execute(delete(table))
            db.execute(delete(lm.Record).where(lm.Record.id.not_in(pending)))
            db.execute(
                delete(lm.Session).where(lm.Session.local.is_(False), lm.Session.id.not_in(pending))
            )
            db.execute(
                delete(lm.SessionNote).where(
                    lm.SessionNote.pending.is_(False), lm.SessionNote.id.not_in(pending)
                )
            )
            db.execute(
                delete(lm.Evaluation).where(
                    lm.Evaluation.pending.is_(False), lm.Evaluation.id.not_in(pending)
                )
            )
            _set_meta(db, CURSOR, "0")
            _set_meta(db, HORIZON, "")
        return Changes(
            {"knowledge_entry", "matter_guide", "calendar", "agent", "session", "session_note"}
            | {"evaluation", "walkthrough", "walkthrough_run"}
        )

    # -- outbox ------------------------------------------------------------------------

    def pending_mutations(self, limit: int = 100) -> list[OutboxItem]:
        with self._sessions() as db:
            rows = db.scalars(select(lm.Outbox).order_by(lm.Outbox.seq).limit(limit)).all()
            return [
                OutboxItem(
                    r.seq,
                    r.mutation_id,
                    r.kind,
                    r.op,
                    r.target_id,
                    r.base_seq,
                    dict(r.payload),
                    r.created_at,
                    r.attempts,
                )
                for r in rows
            ]

    def outbox_size(self) -> int:
        with self._sessions() as db:
            return int(db.scalar(select(func.count()).select_from(lm.Outbox)) or 0)

    def adopt_outbox(self, items: Sequence[OutboxItem]) -> int:
        """Queue actions taken in another cache of the same user and server (a cache left
        behind when the server's address changed), keeping their mutation ids, so a
        copy the server already has is answered ``duplicate``. Returns how many were new.

        They go after the actions already queued here; ``created_at`` keeps their time.
        """
        if not items:
            return 0
        with self._sessions.begin() as db:
            known = set(
                db.scalars(
                    select(lm.Outbox.mutation_id).where(
                        lm.Outbox.mutation_id.in_([i.mutation_id for i in items])
                    )
                )
            )
            added = 0
            for item in sorted(items, key=lambda i: (i.created_at, i.seq)):
                if item.mutation_id in known:
                    continue
                db.add(
                    lm.Outbox(
                        mutation_id=item.mutation_id,
                        kind=item.kind,
                        op=item.op,
                        target_id=item.target_id,
                        base_seq=item.base_seq,
                        payload=dict(item.payload),
                        created_at=item.created_at,
                        attempts=item.attempts,
                        last_error="",
                    )
                )
                added += 1
        return added

    def drop_outbox(self, mutation_ids: Iterable[str]) -> None:
        """Forget queued actions that another cache has taken over (see ``adopt_outbox``)."""
        ids = list(mutation_ids)
        if ids:
            with self._sessions.begin() as db:
                db.execute(delete(lm.Outbox).where(lm.Outbox.mutation_id.in_(ids)))

    def note_push_failure(self, mutation_ids: Iterable[str], error: str) -> None:
        with self._sessions.begin() as db:
            for row in db.scalars(
                select(lm.Outbox).where(lm.Outbox.mutation_id.in_(list(mutation_ids)))
            ):
                row.attempts += 1
                row.last_error = error[:500]

    def resolve_mutations(self, results: Sequence[dict[str, Any]]) -> Changes:
        """Take the server's answers: confirmed or refused writes leave the outbox; a
        refusal is kept as a problem to show; returned records replace local state."""
        changes = Changes()
        sent_numbers = False
        with self._sessions.begin() as db:
            for res in results:
                row = db.scalar(
                    select(lm.Outbox).where(lm.Outbox.mutation_id == res["mutation_id"])
                )
                if row is None:
                    continue
                status = res.get("status")
                if status in ("rejected", "conflict"):
                    db.add(
                        lm.Problem(
                            mutation_id=row.mutation_id,
                            kind=row.kind,
                            op=row.op,
                            target_id=row.target_id,
                            reason=_refusal_text(res.get("reason"), row.payload),
                            at=datetime.now(),
                        )
                    )
                    changes.touch("problem")
                    if row.kind == RecordKind.MESSAGE and row.target_id:
                        # A refused message stays on screen, marked 未发送 with why.
                        message = db.get(lm.Record, (row.kind, row.target_id))
                        if message is not None:
                            reason = _refusal_text(res.get("reason"), row.payload)
                            message.data = {**message.data, "failed": reason or "未发送"}
                elif status not in ("applied", "duplicate"):
                    continue
                sent_numbers = sent_numbers or _carries_numbers(row.payload)
                db.delete(row)
                db.flush()
                _confirm_local(
                    db,
                    row.kind,
                    row.payload,
                    row.target_id,
                    status == "applied" or status == "duplicate",
                )
                for record in res.get("records") or []:
                    kind, rid, data = record["kind"], str(record["id"]), record.get("data")
                    refused_message = (
                        kind == RecordKind.MESSAGE
                        and rid == row.target_id
                        and status in ("rejected", "conflict")
                    )
                    if refused_message:
                        pass  # never on the server: it stays here, marked 未发送
                    elif record.get("deleted") or data is None:
                        if not _has_pending(db, rid):
                            _delete_record(db, kind, rid)
                    elif _has_pending(db, rid):
                        # A later action on this record is still queued (a later save of
                        # a run, a second transition): the answer to an earlier one must
                        # not move the local record back a step; the last answer will.
                        pass
                    else:
                        _upsert_record(db, kind, data)
                    parent = (data or {}).get("session_id") or (
                        rid if kind == RecordKind.SESSION else None
                    )
                    changes.touch(kind, parent)
                changes.touch(row.kind, row.target_id)
        if sent_numbers:
            self.forget_old_pages()
        return changes

    def forget_old_pages(self) -> None:
        """Fold the write-ahead log into the file and empty it. A deleted outbox row is
        zeroed in the file (``secure_delete``), but older copies of its page stay in the
        log until it is reused; after a caller's number typed in by hand has been sent,
        they go at once. Harmless when a reader holds the log (it is emptied later)."""
        with self._sessions() as db:
            db.connection().exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def open_problems(self) -> list[ProblemItem]:
        with self._sessions() as db:
            rows = db.scalars(
                select(lm.Problem).where(lm.Problem.seen.is_(False)).order_by(lm.Problem.id)
            )
            return [ProblemItem(r.id, r.kind, r.op, r.target_id, r.reason, r.at) for r in rows]

    def mark_problems_seen(self, ids: Iterable[int]) -> None:
        with self._sessions.begin() as db:
            for row in db.scalars(select(lm.Problem).where(lm.Problem.id.in_(list(ids)))):
                row.seen = True

    # -- local actions -------------------------------------------------------------------

    def add_note(self, session_id: str, text: str, author: Agent | None) -> tuple[str, Changes]:
        """Write a note locally and queue it, in one transaction.

        Raises:
            RuleViolation: the session is closed.
            ProtocolError: the note would be refused (empty, too long, control characters).
        """
        note_id = str(uuid.uuid4())
        now = datetime.now().replace(microsecond=0)
        note = SessionNote(
            id=note_id,
            session_id=session_id,
            author_id=author.id if author else None,
            author_name=author.display_name if author else "",
            text=text,
            created_at=now,
        )
        with self._sessions.begin() as db:
            row = db.get(lm.Session, session_id)
            if row is not None:
                # The server's rule, checked here first: a closed session takes no notes.
                check_note(visible=True, held_until=None, closed_at=row.closed_at, written_at=now)
            db.add(
                lm.SessionNote(
                    id=note_id,
                    session_id=session_id,
                    created_at=now,
                    data=note.to_wire(),
                    pending=True,
                )
            )
            enqueue_payload(db, NoteCreate(note_id=note_id, session_id=session_id, text=text))
        changes = Changes()
        changes.touch("session_note", session_id)
        return note_id, changes

    def add_knowledge_feedback(self, entry_id: str | None, kind: str, text: str) -> str:
        feedback_id = str(uuid.uuid4())
        with self._sessions.begin() as db:
            enqueue_payload(
                db, FeedbackCreate(feedback_id=feedback_id, entry_id=entry_id, kind=kind, text=text)
            )
        return feedback_id

    def enqueue(self, kind: str, op: str, target_id: str | None, payload: dict[str, Any]) -> str:
        with self._sessions.begin() as db:
            return _enqueue(db, kind, op, target_id, payload)

    # -- queries ------------------------------------------------------------------------

    def sessions(self) -> list[Session]:
        with self._sessions() as db:
            rows = db.scalars(select(lm.Session).order_by(lm.Session.created_at.desc()))
            return [Session.from_wire(r.data) for r in rows]

    def session(self, session_id: str) -> Session | None:
        with self._sessions() as db:
            row = db.get(lm.Session, session_id)
            return Session.from_wire(row.data) if row else None

    def notes(self, session_id: str) -> list[tuple[SessionNote, bool]]:
        with self._sessions() as db:
            rows = db.scalars(
                select(lm.SessionNote)
                .where(lm.SessionNote.session_id == session_id)
                .order_by(lm.SessionNote.created_at)
            )
            return [(SessionNote.from_wire(r.data), r.pending) for r in rows]

    def agents(self) -> list[Agent]:
        with self._sessions() as db:
            return [
                Agent.from_wire(r.data) for r in db.scalars(select(lm.Agent).order_by(lm.Agent.id))
            ]

    def matters(self) -> list[MatterGuide]:
        with self._sessions() as db:
            rows = db.scalars(select(lm.Matter).order_by(lm.Matter.department, lm.Matter.code))
            return [MatterGuide.from_wire(r.data) for r in rows]

    def matter(self, code: str) -> MatterGuide | None:
        with self._sessions() as db:
            row = db.get(lm.Matter, code)
            return MatterGuide.from_wire(row.data) if row else None

    def knowledge_count(self) -> int:
        with self._sessions() as db:
            return int(db.scalar(select(func.count()).select_from(lm.Knowledge)) or 0)

    def knowledge(self, entry_id: str) -> KnowledgeEntry | None:
        with self._sessions() as db:
            row = db.scalar(select(lm.Knowledge).where(lm.Knowledge.id == entry_id))
            return _knowledge(row) if row else None

    def knowledge_list(self, limit: int = 500) -> list[KnowledgeEntry]:
        with self._sessions() as db:
            rows = db.scalars(
                select(lm.Knowledge)
                .order_by(lm.Knowledge.category, lm.Knowledge.title)
                .limit(limit)
            )
            return [_knowledge(r) for r in rows]

    def calendar_years(self) -> list[dict[str, Any]]:
        with self._sessions() as db:
            return [dict(r.data) for r in db.scalars(select(lm.CalendarYear))]

    def records(self, kind: str, parent_id: str | None = None) -> list[dict[str, Any]]:
        with self._sessions() as db:
            stmt = select(lm.Record).where(lm.Record.kind == kind)
            if parent_id is not None:
                stmt = stmt.where(lm.Record.parent_id == parent_id)
            return [dict(r.data) for r in db.scalars(stmt)]


def _knowledge(row: lm.Knowledge) -> KnowledgeEntry:
    return KnowledgeEntry(**{c: getattr(row, c) for c in knowledge_index.COLUMNS})


def _carries_numbers(payload: Any) -> bool:
    """Whether a queued action holds a caller's number in clear (a session logged by hand)."""
    return isinstance(payload, dict) and any(payload.get(f) for f in CALLER_NUMBER_FIELDS)


def _refusal_text(reason: str | None, payload: dict[str, Any]) -> str:
    """The reason shown for a refused action, with the start of what the person wrote
    (a refused note's text would otherwise be gone from the screen without a trace);
    phone and ID numbers masked, as everywhere on screen."""
    text = reason or "服务器拒绝了此操作"
    written = payload.get("text") if isinstance(payload, dict) else None
    if isinstance(written, str) and written.strip():
        excerpt = " ".join(written.split())
        if len(excerpt) > 40:
            excerpt = excerpt[:40] + "…"
        text += f"（内容：{mask_text(excerpt)}）"
    return text


def _set_meta(db: DbSession, key: str, value: str) -> None:
    stmt = insert(lm.Meta).values(key=key, value=value)
    db.execute(stmt.on_conflict_do_update(index_elements=[lm.Meta.key], set_={"value": value}))


def enqueue_payload(db: DbSession, payload: Payload) -> str:
    """Queue one action built from its protocol type (:mod:`core.protocol`), checked
    as the server will check it; returns its mutation id.

    Raises:
        ProtocolError: the action would be refused; nothing is queued.
    """
    return _enqueue(db, payload.KIND, payload.OP, payload.target_id(), wire(payload))


def _enqueue(
    db: DbSession, kind: str, op: str, target_id: str | None, payload: dict[str, Any]
) -> str:
    mutation_id = str(uuid.uuid4())
    base = db.scalar(select(lm.Meta.value).where(lm.Meta.key == CURSOR))
    db.add(
        lm.Outbox(
            mutation_id=mutation_id,
            kind=kind,
            op=op,
            target_id=target_id,
            base_seq=int(base) if base else None,
            payload=payload,
            created_at=datetime.now(),
        )
    )
    return mutation_id


def _delete_record(db: DbSession, kind: str, entity_id: str) -> None:
    if kind == RecordKind.MATTER_GUIDE:
        db.execute(delete(lm.Matter).where(lm.Matter.code == entity_id))
    elif kind == RecordKind.CALENDAR:
        db.execute(delete(lm.CalendarYear).where(lm.CalendarYear.year == int(entity_id)))
    elif kind == RecordKind.AGENT:
        db.execute(delete(lm.Agent).where(lm.Agent.id == int(entity_id)))
    elif kind == RecordKind.SESSION:
        db.execute(delete(lm.Session).where(lm.Session.id == entity_id))
        db.execute(
            delete(lm.SessionNote).where(
                lm.SessionNote.session_id == entity_id, lm.SessionNote.pending.is_(False)
            )
        )
        db.execute(delete(lm.Evaluation).where(lm.Evaluation.session_id == entity_id))
        db.execute(delete(lm.Record).where(lm.Record.parent_id == entity_id))
    elif kind == RecordKind.SESSION_NOTE:
        db.execute(delete(lm.SessionNote).where(lm.SessionNote.id == entity_id))
    elif kind == RecordKind.EVALUATION:
        db.execute(delete(lm.Evaluation).where(lm.Evaluation.id == entity_id))
    elif kind == RecordKind.KNOWLEDGE_ENTRY:
        knowledge_index.delete_entries(db, [entity_id])
    else:
        db.execute(delete(lm.Record).where(lm.Record.kind == kind, lm.Record.id == entity_id))


def _upsert_record(db: DbSession, kind: str, data: dict[str, Any], *, force: bool = False) -> None:
    if kind == RecordKind.MATTER_GUIDE:
        db.merge(
            lm.Matter(
                code=data["code"], name=data["name"], department=data["department"], data=data
            )
        )
    elif kind == RecordKind.CALENDAR:
        db.merge(lm.CalendarYear(year=int(data["year"]), data=data))
    elif kind == RecordKind.AGENT:
        db.merge(
            lm.Agent(
                id=int(data["id"]),
                display_name=data["display_name"],
                team_id=data.get("team_id"),
                data=data,
            )
        )
    elif kind == RecordKind.SESSION:
        s = Session.from_wire(data)
        db.merge(
            lm.Session(
                id=s.id,
                team_id=s.team_id,
                assignee_id=s.assignee_id,
                state=s.state,
                created_at=s.created_at,
                closed_at=s.closed_at,
                data=data,
                local=False,
            )
        )
    elif kind == RecordKind.SESSION_NOTE:
        n = SessionNote.from_wire(data)
        db.merge(
            lm.SessionNote(
                id=n.id, session_id=n.session_id, created_at=n.created_at, data=data, pending=False
            )
        )
    elif kind == RecordKind.EVALUATION:
        db.merge(
            lm.Evaluation(id=data["id"], session_id=data["session_id"], data=data, pending=False)
        )
    elif kind == RecordKind.KNOWLEDGE_ENTRY:
        knowledge_index.upsert_entries(db, [data])
    else:
        db.merge(
            lm.Record(kind=kind, id=str(data["id"]), parent_id=data.get("session_id"), data=data)
        )


def _has_pending(db: DbSession, target_id: str) -> bool:
    count = db.scalar(
        select(func.count()).select_from(lm.Outbox).where(lm.Outbox.target_id == target_id)
    )
    return bool(count)


def _confirm_local(
    db: DbSession, kind: str, payload: dict[str, Any], target_id: str | None, ok: bool
) -> None:
    """Clear the 'pending' mark of a local record once the server has answered."""
    if kind == RecordKind.SESSION_NOTE and target_id:
        row = db.get(lm.SessionNote, target_id)
        if row is not None:
            if ok:
                row.pending = False
            else:
                db.delete(row)
    elif kind == RecordKind.EVALUATION and target_id:
        row2 = db.get(lm.Evaluation, target_id)
        if row2 is not None:
            if ok:
                row2.pending = False
            else:
                db.delete(row2)
    elif kind == RecordKind.SESSION and target_id:
        still = db.scalar(
            select(func.count()).select_from(lm.Outbox).where(lm.Outbox.target_id == target_id)
        )
        row3 = db.get(lm.Session, target_id)
        if row3 is not None and not still:
            row3.local = False
