"""The server's tables (SQLAlchemy 2.0, typed mappings)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    office: Mapped[str] = mapped_column(String(128), default="")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"))
    staff_number: Mapped[str] = mapped_column(String(32), default="")
    capacity: Mapped[int] = mapped_column(Integer, default=4)
    skills: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    presence: Mapped[str] = mapped_column(String(16), default="offline")
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)

    team: Mapped[Team | None] = relationship()


class AuthToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "auth_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class RefreshToken(Base):
    """A refresh token (kept in the client's keyring); only its SHA-256 is stored.

    Each use replaces it with a new one of the same ``family``; a token used twice means
    a copy is in someone else's hands, and the whole family is revoked.
    """

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class SigninThrottle(Base):
    """Failed sign-ins per key (``user:<name>`` or ``addr:<address>``), shared by every
    server process through the database."""

    __tablename__ = "signin_throttle"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime)


class MatterGuide(Base):
    __tablename__ = "matter_guides"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    department: Mapped[str] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The rest of the 办事指南 (conditions, materials, steps …) as the wire shape."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class KnowledgeEntry(Base):
    __tablename__ = "knowledge_entries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(128), unique=True)
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(256), default="")
    issuing_unit: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(16), default="日常咨询")
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    scope: Mapped[str] = mapped_column(String(16), default="")
    region: Mapped[str] = mapped_column(String(64), default="")
    matter_code: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(128), default="")
    service_type: Mapped[str] = mapped_column(String(16), default="consult")
    effective_date: Mapped[date | None] = mapped_column(Date)
    expiry_date: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    review_state: Mapped[str] = mapped_column(String(32), default="published")
    source: Mapped[str] = mapped_column(String(256), default="")
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)


class CalendarYear(Base):
    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(256), default="")
    holidays: Mapped[list[Any]] = mapped_column(default=list)
    workdays: Mapped[list[Any]] = mapped_column(default=list)


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    service_type: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    caller_name: Mapped[str] = mapped_column(String(64), default="")
    caller_phone: Mapped[str] = mapped_column(String(32), default="")
    caller_id_number: Mapped[str] = mapped_column(String(32), default="")
    matter_code: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str | None] = mapped_column(String(24))
    close_summary: Mapped[str] = mapped_column(Text, default="")
    escalation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """转办: department, reason, complexity, contact_due_at, due_at, answered_at."""
    callback_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime)
    """The first staff message of a chat session (the first response of issue 13)."""

    events: Mapped[list[SessionEvent]] = relationship(
        back_populates="session", order_by="SessionEvent.id", cascade="all, delete-orphan"
    )


class SessionEvent(Base):
    """One line of a session's timeline: who, when, what and why."""

    __tablename__ = "session_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    session: Mapped[Session] = relationship(back_populates="events")


class SessionNote(Base):
    __tablename__ = "session_notes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author_name: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Evaluation(Base):
    """好差评: at most one per session (the unique index is the guarantee)."""

    __tablename__ = "evaluations"
    __table_args__ = (Index("uq_evaluations_session_id", "session_id", unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class KnowledgeFeedback(Base):
    """纠错 / 新问题 sent by staff, for the admins' review list."""

    __tablename__ = "knowledge_feedback"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")
    resolution: Mapped[str | None] = mapped_column(String(16))
    """``accepted`` or ``rejected`` once an editor resolved it."""
    resolved_entry_id: Mapped[str | None] = mapped_column(String(64))
    resolution_note: Mapped[str] = mapped_column(Text, default="")
    resolved_by: Mapped[int | None] = mapped_column(Integer)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)


class KnowledgeDraft(Base):
    """An edit of a knowledge entry that agents do not see: a draft, under review, or
    returned. ``open_entry_id`` is the entry id while the draft is open (NULL once it
    is published or withdrawn), so its unique index allows one open draft per entry."""

    __tablename__ = "knowledge_drafts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64), index=True)
    open_entry_id: Mapped[str | None] = mapped_column(String(96), unique=True)
    record_kind: Mapped[str] = mapped_column(String(24), default="knowledge_entry")
    """``knowledge_entry``, or ``matter_guide`` (then ``open_entry_id`` is
    ``matter_guide:<code>`` and the history rows use that key too)."""
    base_version: Mapped[int] = mapped_column(Integer, default=0)
    """The published version it edits (0: a new entry)."""
    rev: Mapped[int] = mapped_column(Integer, default=1)
    """Bumped by every save (the compare-and-set of two editors saving one draft)."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    """Why the change is made (kept with the published version)."""
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    """Who saved it last."""
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    return_reason: Mapped[str] = mapped_column(Text, default="")
    published_version: Mapped[int | None] = mapped_column(Integer)


class KnowledgeVersion(Base):
    """Every published version of an entry (and its retirement), with who, when, why.
    The unique (entry, version) pair means a version is published once."""

    __tablename__ = "knowledge_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version", name="uq_knowledge_versions"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(96), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16), default="publish")
    """``publish`` or ``retire``."""
    title: Mapped[str] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime] = mapped_column(DateTime)


class SynonymGroup(Base):
    """Terms that mean the same to a caller (社保 = 社会保险), kept by editors."""

    __tablename__ = "synonym_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terms: Mapped[list[Any]] = mapped_column(default=list)


class AppliedMutation(Base):
    """Every mutation id the server has seen, with its answer, so a resend is a no-op."""

    __tablename__ = "applied_mutations"

    mutation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    digest: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of (user, kind, op, target, payload): a resend must match it."""
    applied_at: Mapped[datetime] = mapped_column(DateTime)


class Counter(Base):
    """Named counters bumped under a row lock: ``change_seq`` (``changes.py``) and
    ``event_seq`` (``services/events.py``)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class ChangeLog(Base):
    """One row per change a client may pull. ``seq`` orders all changes server-wide.

    The audience columns say who may see the row: ``team_id`` and the assignee before
    and after the change (``user_a``/``user_b``); ``queue`` marks a session that was
    in its team's waiting queue before or after, which every agent of the team sees.
    """

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_kind_entity", "kind", "entity_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    team_id: Mapped[str | None] = mapped_column(String(64))
    user_a: Mapped[int | None] = mapped_column(Integer)
    user_b: Mapped[int | None] = mapped_column(Integer)
    queue: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(DateTime)


class Meta(Base):
    """Key/value facts about the database (tombstone horizon …)."""

    __tablename__ = "meta"
    __table_args__ = (UniqueConstraint("key"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Event(Base):
    """A live event for the long-poll stream (new session in my queue, reassignment …).

    Delivered to ``user_id`` when set, and to the leads of ``team_id`` when
    ``for_leads``; ``team_id`` with ``for_team`` reaches every member of the team.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    """Numbered at commit from the ``event_seq`` counter, so ids commit in order
    (``server/services/events.py``)."""
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    team_id: Mapped[str | None] = mapped_column(String(64), index=True)
    for_team: Mapped[bool] = mapped_column(Boolean, default=False)
    for_leads: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditLog(Base):
    """Who did what to what, for the record (reassignments, reveals, admin edits)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    target_kind: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)


class Walkthrough(Base):
    """One published version of a walkthrough script (YAML source kept as written)."""

    __tablename__ = "walkthroughs"
    __table_args__ = (UniqueConstraint("walkthrough_id", "version"),)

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    """``<walkthrough_id>@<version>``: the id clients see."""
    walkthrough_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    matter_code: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[int | None] = mapped_column(Integer)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    review_note: Mapped[str] = mapped_column(Text, default="")


class WalkthroughRun(Base):
    """A running walkthrough of a session: position, answers and ticks."""

    __tablename__ = "walkthrough_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    walkthrough_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """The number of the last save; a save based on another number is stale."""
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[int | None] = mapped_column(Integer)


class ShareLink(Base):
    """A screen-share room for one session, with a short join code."""

    __tablename__ = "share_links"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), index=True)
    room: Mapped[str] = mapped_column(String(128))
    check_phrase: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="live")
    """live → opened → consented; or expired / revoked."""
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime)
    consented_at: Mapped[datetime | None] = mapped_column(DateTime)
    consent_detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class JoinAttempt(Base):
    """Join-code attempts per client address, for rate limiting wrong codes."""

    __tablename__ = "join_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_join_attempts_ok_at", "ok", "at"),)


class JoinHold(Base):
    """An answer held for a slowed address while it waits: at most
    ``share.MAX_HELD_PER_ADDRESS`` at once, whichever server process holds it (a slot
    is a row; the primary key refuses a third). ``until`` frees a slot whose process
    died while holding it."""

    __tablename__ = "join_holds"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    until: Mapped[datetime] = mapped_column(DateTime)


class Rectification(Base):
    """差评整改: the follow-up a rating of 1-2 opens, with a deadline in working days."""

    __tablename__ = "rectifications"
    __table_args__ = (
        # One rectification per evaluation, however many copies of a rating race in.
        Index("uq_rectifications_evaluation_id", "evaluation_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    evaluation_id: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[str] = mapped_column(String(64), index=True)
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="open")
    """open → assigned → closed."""
    deadline: Mapped[date] = mapped_column(Date)
    deadline_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    verification: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[int | None] = mapped_column(Integer)


class ApiKey(Base):
    """An integration key of another system (12345 hotline, portal, queue tickets).

    Only the key's SHA-256 is stored; ``signing_secret`` signs the callbacks sent to
    ``callback_url`` and has to be kept readable for that. ``team_ids`` are the teams
    the key may put sessions into; ``routes`` maps a matter code to one of them.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    team_ids: Mapped[list[Any]] = mapped_column(default=list)
    routes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    callback_url: Mapped[str] = mapped_column(String(512), default="")
    signing_secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[int | None] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)


class IntakeRecord(Base):
    """A session that arrived through the intake API: whose it is and under which id."""

    __tablename__ = "intake_records"
    __table_args__ = (
        # The same external id from the same key is the same session, however many
        # copies of the request race in.
        Index("uq_intake_records_key_external", "api_key_id", "external_id", unique=True),
    )

    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(64))
    ticket_number: Mapped[str] = mapped_column(String(32), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class WebhookDelivery(Base):
    """The callback outbox: one row per event for a key's callback URL, written in the
    transaction of the change it tells of and delivered by ``services/callbacks.py``.

    ``state`` is ``pending`` until the receiver answers 2xx, then ``delivered``;
    ``claimed_until`` is the lease of the process sending it (a conditional UPDATE).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_state_next", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_session", "session_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[str] = mapped_column(String(32), index=True)
    session_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_status: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)


class MatterTeam(Base):
    """Which team answers a matter's online consultations (admins edit it)."""

    __tablename__ = "matter_teams"

    matter_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))


class CallerToken(Base):
    """A caller's way back in: the conversation page (bound to a cookie) or a rating
    link. Only digests are stored."""

    __tablename__ = "caller_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    """``conversation`` or ``rating``."""
    cookie_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[int | None] = mapped_column(Integer)


class Message(Base):
    """One chat message of a session; ``seq`` orders them (the caller's ``after=``)."""

    __tablename__ = "messages"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    sender: Mapped[str] = mapped_column(String(16))
    """``caller``, ``staff`` or ``system``."""
    author_id: Mapped[int | None] = mapped_column(Integer)
    author_name: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    attachment_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
    """When the caller's page received it (staff messages only)."""
    knowledge_id: Mapped[str | None] = mapped_column(String(64))
    """The knowledge entry a staff message quoted, if any."""
    kind: Mapped[str | None] = mapped_column(String(16))
    """``notice`` for a 一次性告知 (printable on the caller's page); null: plain text."""


class Attachment(Base):
    """A photo the caller sent, re-encoded (no metadata)."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class PublicAttempt(Base):
    """New conversations and caller messages per address, for the abuse limits."""

    __tablename__ = "public_attempts"
    __table_args__ = (
        Index("ix_public_attempts_kind_at", "kind", "at"),
        Index("ix_public_attempts_address_kind_at", "address", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime)
