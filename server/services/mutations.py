"""Applying pushed mutations (``POST /api/v1/sync/mutations``), each at most once.

Each mutation runs in its own transaction together with the row that remembers its
id, so a resend after a lost answer finds that row and is answered ``duplicate``;
a refusal rolls back only that mutation and never blocks the ones behind it.
Features register their handlers with :func:`handler`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from core.masking import mask_text
from core.session_rules import RuleViolation
from server import models as m
from server.audit import record_audit
from server.auth import CurrentUser

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mutation:
    mutation_id: str
    kind: str
    op: str
    target_id: str | None
    base_seq: int | None
    payload: dict[str, Any]
    created_at: datetime | None = None


class Rejected(Exception):
    """The server refuses this mutation; ``reason`` is shown to the person as it is."""

    def __init__(self, reason: str, *, status: str = "rejected") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass
class Applied:
    """What a handler changed: records to return to the client, and events to wake."""

    records: list[tuple[str, str]] = field(default_factory=list)
    """(kind, id) of records whose current state goes back in the answer."""


Handler = Callable[[DbSession, CurrentUser, Mutation], Applied]
HANDLERS: dict[tuple[str, str], Handler] = {}
TARGET_KIND: dict[str, str] = {}
"""For a rejected mutation: which record kind its target_id names (to restore)."""


def handler(kind: str, op: str, *, target_kind: str | None = None) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[(kind, op)] = fn
        if target_kind:
            TARGET_KIND[kind] = target_kind
        return fn

    return register


def _records(db: DbSession, user: CurrentUser, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    from server.services.pull import records_for

    return records_for(db, user, keys)


def apply_all(
    sessions: sessionmaker[DbSession],
    user: CurrentUser,
    mutations: list[Mutation],
    *,
    source_ip: str | None = None,
) -> list[dict[str, Any]]:
    """Apply in order; one answer per mutation, and one audit row per mutation that was
    applied or refused (a repeat of one already seen leaves none)."""
    results = []
    for mutation in mutations:
        results.append(_apply_one(sessions, user, mutation, source_ip))
    return results


def _audit(
    db: DbSession,
    user: CurrentUser,
    mutation: Mutation,
    status: str,
    source_ip: str | None,
    reason: str = "",
) -> None:
    """The mutation's kind, op and target; never its payload (it carries callers' data)."""
    record_audit(
        db,
        actor_id=user.id,
        action=f"mutation.{mutation.kind}.{mutation.op}",
        target_kind=TARGET_KIND.get(mutation.kind, mutation.kind),
        target_id=mutation.target_id or "",
        detail={"mutation_id": mutation.mutation_id, "status": status},
        source_ip=source_ip,
        reason=reason or None,
    )


def _apply_one(
    sessions: sessionmaker[DbSession],
    user: CurrentUser,
    mutation: Mutation,
    source_ip: str | None = None,
) -> dict[str, Any]:
    answer: dict[str, Any] = {"mutation_id": mutation.mutation_id, "reason": "", "records": []}
    restore: list[tuple[str, str]] = []
    if mutation.target_id and mutation.kind in TARGET_KIND:
        restore = [(TARGET_KIND[mutation.kind], mutation.target_id)]
    with sessions() as db:
        seen = db.get(m.AppliedMutation, mutation.mutation_id)
        if seen is not None:
            _repeat(answer, seen)
            answer["records"] = _records(db, user, restore)
            return answer
        fn = HANDLERS.get((mutation.kind, mutation.op))
        try:
            if fn is None:
                raise Rejected(f"服务器不支持此操作（{mutation.kind}/{mutation.op}）")
            applied = fn(db, user, mutation)
            db.add(_seen(mutation, user, "applied", ""))
            _audit(db, user, mutation, "applied", source_ip)
            db.commit()
            answer["status"] = "applied"
            # The target always goes back too: the client holds pulled rows of it while
            # the action is queued, and relies on this answer for the server's version.
            answer["records"] = _records(db, user, applied.records + restore)
        except (
            Rejected,
            RuleViolation,
            KeyError,
            TypeError,
            ValueError,
            OverflowError,  # a number too large for the database (SQLite)
            DataError,  # the same on PostgreSQL
        ) as exc:
            db.rollback()
            if isinstance(exc, Rejected):
                reason, status = exc.reason, exc.status
            elif isinstance(exc, RuleViolation):
                reason, status = exc.message, "rejected"
            else:
                # A payload of the wrong shape would fail the same way on every resend:
                # refuse it (remembered, so a resend is a duplicate) rather than answer
                # 500 and block the client's queue behind it for ever.
                log.warning("mutation %s has a malformed payload: %r", mutation.mutation_id, exc)
                reason, status = "服务器无法处理此操作：数据格式有误", "rejected"
            log.info("mutation %s rejected: %s", mutation.mutation_id, mask_text(reason))
            try:
                db.add(_seen(mutation, user, status, reason))
                _audit(db, user, mutation, status, source_ip, reason)
                db.commit()
            except IntegrityError:
                db.rollback()
            answer["status"] = status
            answer["reason"] = reason
            answer["records"] = _records(db, user, restore)
        except IntegrityError:
            # Two copies of one mutation raced; the other one won.
            db.rollback()
            answer["status"] = "duplicate"
            seen = db.get(m.AppliedMutation, mutation.mutation_id)
            if seen is not None:
                _repeat(answer, seen)
            answer["records"] = _records(db, user, restore)
    return answer


def _repeat(answer: dict[str, Any], seen: m.AppliedMutation) -> None:
    """The answer to a mutation the server has seen before: ``duplicate`` when it was
    applied, and the same refusal again when it was refused (the first answer may have
    been lost; calling a refused write ``duplicate`` would tell the client it was saved)."""
    answer["status"] = "duplicate" if seen.status == "applied" else seen.status
    answer["reason"] = seen.reason


def _seen(mutation: Mutation, user: CurrentUser, status: str, reason: str) -> m.AppliedMutation:
    return m.AppliedMutation(
        mutation_id=mutation.mutation_id,
        user_id=user.id,
        status=status,
        reason=reason,
        applied_at=datetime.now(),
    )
