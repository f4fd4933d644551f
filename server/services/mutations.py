"""Applying pushed mutations (``POST /api/v1/sync/mutations``), each at most once.

Each mutation is first checked by :mod:`core.protocol` (a malformed one is refused,
naming its field), then runs in its own transaction together with the row that
remembers its id and a digest of its content. That row is written first, so a copy of
the same mutation racing in stops on its primary key: the one constraint that means
``duplicate``, and only when the content matches (other content under a used id is
refused). Any other constraint, or a fault in the handler, refuses that mutation with
a reason; it never blocks the ones behind it. Features register their handlers with
:func:`handler`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from core.masking import mask_text
from core.protocol import ProtocolError, parse_mutation
from core.session_rules import RuleViolation
from server import models as m
from server.audit import record_audit
from server.auth import CurrentUser

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mutation:
    """A pushed mutation. As it arrives ``payload`` is the wire dict; handlers receive
    it parsed (:func:`core.protocol.parse_mutation`): ``payload`` is then the typed
    :class:`core.protocol.Payload`, ``created_at`` a naive local time, and ``raw`` the
    payload as sent."""

    mutation_id: str
    kind: str
    op: str
    target_id: str | None
    base_seq: Any
    payload: Any
    created_at: Any = None
    raw: dict[str, Any] = field(default_factory=dict)


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
    """Apply in order; one answer per mutation, whatever becomes of the others."""
    results = []
    for mutation in mutations:
        results.append(_apply_one(sessions, user, mutation, source_ip))
    return results


MALFORMED = "数据格式有误："
FAILED = "服务器处理此操作时出错，操作未执行；请稍后重试，或联系管理员"
REUSED = "该操作编号已被另一项操作使用，本操作未执行"


def digest(user_id: int, kind: str, op: str, target_id: Any, payload: Any) -> str:
    """What a mutation id was first used for: a resend must match it exactly."""
    text = json.dumps(
        {"user": user_id, "kind": kind, "op": op, "target": target_id, "payload": payload},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _restore_keys(mutation: Mutation) -> list[tuple[str, str]]:
    target = mutation.target_id
    if isinstance(target, str) and 0 < len(target) <= 96 and mutation.kind in TARGET_KIND:
        return [(TARGET_KIND[mutation.kind], target)]
    return []


def _audit(
    db: DbSession,
    user: CurrentUser,
    mutation: Mutation,
    status: str,
    source_ip: str | None,
    reason: str = "",
) -> None:
    """The mutation's kind, op and target; never its payload (it carries callers' data)."""
    target = mutation.target_id
    record_audit(
        db,
        actor_id=user.id,
        action=f"mutation.{mutation.kind}.{mutation.op}"[:48],
        target_kind=str(TARGET_KIND.get(mutation.kind, mutation.kind))[:32],
        target_id=str(target)[:64] if isinstance(target, str | int) else "",
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
    restore = _restore_keys(mutation)
    raw = mutation.payload
    fingerprint = digest(user.id, mutation.kind, mutation.op, mutation.target_id, raw)
    with sessions() as db:
        seen = db.get(m.AppliedMutation, mutation.mutation_id)
        if seen is not None:
            _repeat(answer, seen, fingerprint)
            answer["records"] = _safe_records(db, user, restore)
            return answer
        try:
            envelope = parse_mutation(
                mutation.mutation_id,
                mutation.kind,
                mutation.op,
                mutation.target_id,
                mutation.base_seq,
                mutation.created_at,
                raw,
            )
        except ProtocolError as exc:
            log.info("mutation %s refused: bad %s", mutation.mutation_id, exc.field)
            return _refuse(
                db,
                user,
                mutation,
                answer,
                restore,
                fingerprint,
                MALFORMED + exc.reason,
                source_ip=source_ip,
            )
        parsed = replace(
            mutation,
            target_id=envelope.target_id,
            base_seq=envelope.base_seq,
            payload=envelope.payload,
            created_at=envelope.created_at,
            raw=dict(raw),
        )
        restore = _restore_keys(parsed)
        fn = HANDLERS.get((mutation.kind, mutation.op))
        # Claim the mutation id first: a second copy racing this one stops here, on the
        # one constraint that means "duplicate".
        db.add(_seen(mutation, user, "applied", "", fingerprint))
        try:
            db.flush()
        except IntegrityError:
            db.rollback()
            seen = db.get(m.AppliedMutation, mutation.mutation_id)
            if seen is None:  # pragma: no cover - the constraint fired, so a row exists
                return _refuse(
                    db, user, mutation, answer, restore, fingerprint, FAILED, source_ip=source_ip
                )
            _repeat(answer, seen, fingerprint)
            answer["records"] = _safe_records(db, user, restore)
            return answer
        try:
            if fn is None:
                raise Rejected(f"服务器不支持此操作（{mutation.kind}/{mutation.op}）")
            applied = fn(db, user, parsed)
            _audit(db, user, mutation, "applied", source_ip)
            db.commit()
        except (Rejected, RuleViolation) as exc:
            db.rollback()
            if isinstance(exc, Rejected):
                reason, status = exc.reason, exc.status
            else:
                reason, status = exc.message, "rejected"
            log.info("mutation %s rejected: %s", mutation.mutation_id, mask_text(reason))
            return _refuse(
                db, user, mutation, answer, restore, fingerprint, reason, status, source_ip
            )
        except IntegrityError as exc:
            # Another constraint than the mutation id's: an "at most one" that someone
            # else filled first. Never "duplicate": this write did not happen.
            db.rollback()
            reason = constraint_reason(exc)
            log.info("mutation %s refused by a constraint: %s", mutation.mutation_id, reason)
            return _refuse(
                db, user, mutation, answer, restore, fingerprint, reason, source_ip=source_ip
            )
        except OperationalError:
            # The database itself is in trouble (a lock timeout, a dropped connection):
            # not this action's fault, so not refused. The batch fails as a whole and
            # the client resends it; what was applied before is answered "duplicate".
            db.rollback()
            raise
        except Exception:
            # A fault in one handler must not answer 500 for the whole batch (the client
            # would resend it for ever); logged without the payload.
            db.rollback()
            log.exception(
                "mutation %s (%s/%s) failed in its handler",
                mutation.mutation_id,
                mutation.kind,
                mutation.op,
            )
            return _refuse(
                db, user, mutation, answer, restore, fingerprint, FAILED, source_ip=source_ip
            )
        answer["status"] = "applied"
        # The target always goes back too: the client holds pulled rows of it while
        # the action is queued, and relies on this answer for the server's version.
        answer["records"] = _safe_records(db, user, applied.records + restore)
    return answer


def _refuse(
    db: DbSession,
    user: CurrentUser,
    mutation: Mutation,
    answer: dict[str, Any],
    restore: list[tuple[str, str]],
    fingerprint: str,
    reason: str,
    status: str = "rejected",
    source_ip: str | None = None,
) -> dict[str, Any]:
    """Answer a refusal and remember it, so a resend gets the same answer."""
    try:
        db.add(_seen(mutation, user, status, reason, fingerprint))
        _audit(db, user, mutation, status, source_ip, reason)
        db.commit()
    except IntegrityError:
        # A copy of this mutation got in between; answer as that one was answered.
        db.rollback()
        seen = db.get(m.AppliedMutation, mutation.mutation_id)
        if seen is not None:
            _repeat(answer, seen, fingerprint)
            answer["records"] = _safe_records(db, user, restore)
            return answer
    answer["status"] = status
    answer["reason"] = reason
    answer["records"] = _safe_records(db, user, restore)
    return answer


def _safe_records(
    db: DbSession, user: CurrentUser, keys: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    try:
        return _records(db, user, keys)
    except Exception:  # the records are a courtesy; the answer itself must go back
        db.rollback()
        log.exception("records for a mutation answer could not be read")
        return []


def _repeat(answer: dict[str, Any], seen: m.AppliedMutation, fingerprint: str) -> None:
    """The answer to a mutation id the server has seen before.

    The same content again (a resend after a lost answer) is ``duplicate`` when it was
    applied, and the same refusal when it was refused (calling a refused write
    ``duplicate`` would tell the client it was saved). Other content under that id, or
    another user, is refused, and nothing of the first use is told.
    """
    if seen.digest and seen.digest != fingerprint:
        answer["status"] = "rejected"
        answer["reason"] = REUSED
        return
    answer["status"] = "duplicate" if seen.status == "applied" else seen.status
    answer["reason"] = seen.reason


_CONSTRAINTS: list[tuple[tuple[str, ...], str]] = [
    (("evaluations.session_id", "uq_evaluations_session_id"), "该会话已记录过评价，不能重复记录"),
    (
        ("rectifications.evaluation_id", "uq_rectifications_evaluation_id"),
        "该评价已开启差评整改，不能重复开启",
    ),
    (("evaluations.id", "evaluations_pkey"), "评价编号已被使用，本评价未保存"),
    (("session_notes.id", "session_notes_pkey"), "备注编号已被使用，本备注未保存"),
    (
        ("walkthrough_runs.id", "walkthrough_runs_pkey"),
        "导办进度刚被另一次保存更新，本次保存未执行，请刷新后查看",
    ),
    (("sessions.id", "sessions_pkey"), "会话编号重复，未能新建，请重新填写"),
    (("knowledge_feedback.id", "knowledge_feedback_pkey"), "反馈编号已被使用，本反馈未保存"),
]


def constraint_reason(exc: IntegrityError) -> str:
    """The refusal, in words, for the constraint that refused a write."""
    text = str(exc.orig)
    for needles, reason in _CONSTRAINTS:
        if any(n in text for n in needles):
            return reason
    if "FOREIGN KEY" in text.upper():
        return "操作引用的记录不存在或已被删除，操作未执行"
    return "操作与已有记录冲突，未执行；请刷新后查看"


def _seen(
    mutation: Mutation, user: CurrentUser, status: str, reason: str, fingerprint: str
) -> m.AppliedMutation:
    return m.AppliedMutation(
        mutation_id=mutation.mutation_id,
        user_id=user.id,
        status=status,
        reason=reason,
        digest=fingerprint,
        applied_at=datetime.now(),
    )
