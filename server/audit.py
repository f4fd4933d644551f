"""The audit trail: one function that every route and handler calls to leave a row.

Who did what to what, when, from where and why. ``detail`` holds facts that help a
reader (never a password, a token or a caller's full number: every text in it is
passed through :func:`core.masking.mask_text` on the way in, so a number that slips
in by mistake is stored masked). The read side is ``GET /api/v1/admin/audit``
(``server/api/audit.py``); retention is ``services/compaction.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session as Db

from core.masking import mask_text
from server import models as m

SECRET_KEYS = frozenset({"password", "token", "access_token", "secret", "authorization"})


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {
            str(k): ("***" if str(k).lower() in SECRET_KEYS else _clean(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


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
    at: datetime | None = None,
) -> m.AuditLog:
    """Add one audit row in the caller's transaction (committed or rolled back with it).

    ``action`` is a dotted name (``auth.login``, ``auth.login_failed``,
    ``session.reveal``, ``mutation.session.transition``, ``user.create``,
    ``share.create`` …). ``at`` defaults to now, naive local time like every other
    timestamp the server writes (``datetime.now()``).
    """
    row = m.AuditLog(
        at=at or datetime.now(),
        actor_id=actor_id,
        action=action[:48],
        target_kind=target_kind[:32],
        target_id=str(target_id)[:64],
        detail=_clean(dict(detail or {})),
        source_ip=(source_ip or None) and source_ip[:64],
        reason=mask_text(reason) if reason else None,
    )
    db.add(row)
    return row


def client_ip(request: Request | None) -> str | None:
    """The address a request came from (as the server saw it; no proxy headers trusted)."""
    if request is None or request.client is None:
        return None
    return request.client.host
