"""The audit trail: one function that every route and handler calls to leave a row.

Who did what to what, when, from where and why. ``detail`` holds facts that help a
reader (never a password, a token or a caller's full number). The read side
(``GET /api/v1/admin/audit``) and retention live with the admin routes and
``services/compaction.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session as Db

from server import models as m


def record_audit(
    db: Db,
    *,
    actor_id: int | None,
    action: str,
    target_kind: str,
    target_id: str | int,
    detail: dict[str, Any] | None = None,
    source_ip: str | None = None,
    reason: str | None = None,
) -> None:
    """Add one audit row in the caller's transaction.

    ``action`` is a dotted name (``auth.login``, ``auth.login_failed``,
    ``session.reassign``, ``user.create``, ``share.create`` …). ``source_ip`` and
    ``reason`` are kept inside ``detail`` until the audit table has columns for them.
    """
    facts = dict(detail or {})
    if source_ip:
        facts["source_ip"] = source_ip
    if reason:
        facts["reason"] = reason
    db.add(
        m.AuditLog(
            at=datetime.now(UTC).replace(tzinfo=None),
            actor_id=actor_id,
            action=action,
            target_kind=target_kind,
            target_id=str(target_id),
            detail=facts,
        )
    )
