"""Integration keys and sessions sent by other systems (issue 14).

A key (``bbk_…``) is shown once when it is made and stored as its SHA-256 only. It may
use the intake routes and nothing else, for its own teams: :func:`key_for_token` is the
only way it is read, and a user's bearer token is never a key. A session sent with a
key lands in the team's waiting queue and is dispatched like any other; the same
external id from the same key is the same session (a unique index decides).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from core.enums import Channel, SessionState
from core.protocol import IntakeSession
from core.validation import normalize_phone
from server import models as m
from server.audit import record_audit
from server.errors import ApiError
from server.services import callbacks
from server.services.dispatch import dispatch_team, session_brief
from server.services.events import publish
from server.services.sessions import add_event, log_session

KEY_PREFIX = "bbk_"
SECRET_PREFIX = "whsec_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """A key as the intake routes see it (detached from the database session)."""

    id: str
    name: str
    team_ids: tuple[str, ...]
    routes: dict[str, str]


@dataclass(frozen=True)
class NewKey:
    """A key just made: the only time ``key`` and ``signing_secret`` are told."""

    id: str
    key: str
    signing_secret: str


def check_callback_url(url: str) -> str:
    """The URL stripped, or ValueError with words (http/https with a host only)."""
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 512:
        raise ValueError("回调地址应为 http:// 或 https:// 开头的完整网址（最多 512 个字符）")
    return url


def check_key_fields(
    db: DbSession, name: str, team_ids: list[str], routes: dict[str, str]
) -> tuple[str, list[str], dict[str, str]]:
    """Checked name, teams and matter routes, or ValueError with words."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise ValueError("请填写集成密钥的名称（最多 64 字）")
    teams = list(dict.fromkeys(t.strip() for t in team_ids if t and t.strip()))
    if not teams:
        raise ValueError("请至少指定一个班组")
    for team in teams:
        if db.get(m.Team, team) is None:
            raise ValueError(f"班组 {team[:64]} 不存在")
    for matter, team in routes.items():
        if team not in teams:
            raise ValueError(f"事项 {matter[:64]} 指向的班组不在该密钥的班组之中")
    return name, teams, dict(routes)


def create_key(
    db: DbSession,
    *,
    name: str,
    team_ids: list[str],
    callback_url: str = "",
    routes: dict[str, str] | None = None,
    actor_id: int | None = None,
    source_ip: str | None = None,
    via: str = "api",
) -> NewKey:
    """Make a key (audited ``api_key.create``); raises ValueError with words."""
    name, teams, routes = check_key_fields(db, name, team_ids, routes or {})
    url = check_callback_url(callback_url)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key_id = "key_" + secrets.token_hex(6)
    now = datetime.now()
    db.add(
        m.ApiKey(
            id=key_id,
            name=name,
            key_digest=digest(key),
            key_prefix=key[:10],
            team_ids=teams,
            routes=routes,
            callback_url=url,
            signing_secret=secret,
            created_at=now,
            created_by=actor_id,
        )
    )
    record_audit(
        db,
        at=now,
        actor_id=actor_id,
        action="api_key.create",
        target_kind="api_key",
        target_id=key_id,
        detail={"name": name, "team_ids": teams, "callback": bool(url), "via": via},
        source_ip=source_ip,
    )
    return NewKey(key_id, key, secret)


def revoke_key(
    db: DbSession,
    key_id: str,
    *,
    actor_id: int | None = None,
    source_ip: str | None = None,
    via: str = "api",
) -> bool:
    """Revoke a key (audited ``api_key.revoke``); False when there is no such live key."""
    row = db.get(m.ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return False
    now = datetime.now()
    row.revoked_at = now
    record_audit(
        db,
        at=now,
        actor_id=actor_id,
        action="api_key.revoke",
        target_kind="api_key",
        target_id=key_id,
        detail={"name": row.name, "via": via},
        source_ip=source_ip,
    )
    return True


def key_out(row: m.ApiKey) -> dict[str, Any]:
    """A key for lists: never the key or the signing secret."""
    return {
        "id": row.id,
        "name": row.name,
        "key_prefix": row.key_prefix,
        "team_ids": list(row.team_ids or []),
        "routes": dict(row.routes or {}),
        "callback_url": row.callback_url,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
    }


def list_keys(db: DbSession) -> list[m.ApiKey]:
    return list(db.scalars(select(m.ApiKey).order_by(m.ApiKey.created_at, m.ApiKey.id)))


def key_for_token(db: DbSession, token: str) -> KeyInfo | None:
    """The live key ``token`` is, or None (unknown, revoked, or not a key at all)."""
    if not token.startswith(KEY_PREFIX):
        return None
    row = db.scalar(select(m.ApiKey).where(m.ApiKey.key_digest == digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    return KeyInfo(row.id, row.name, tuple(row.team_ids or ()), dict(row.routes or {}))


def check_key(db: DbSession, authorization: str) -> KeyInfo:
    """The key of an ``Authorization: Bearer <key>`` header, or :class:`ApiError`:
    401 without a live key, 403 for a staff member's sign-in token."""
    from server.auth import user_for_token

    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "请在 Authorization 请求头中提供集成密钥（Bearer）")
    key = key_for_token(db, token)
    if key is not None:
        return key
    if user_for_token(db, token) is not None:
        raise ApiError(403, "forbidden", "接入接口只接受集成密钥，不能使用工作人员的登录令牌")
    raise ApiError(401, "unauthorized", "集成密钥无效或已被吊销")


# -- sessions ------------------------------------------------------------------------------


def _team_for(db: DbSession, key: KeyInfo, wanted: str | None, matter: str | None) -> str:
    if wanted is not None:
        if wanted not in key.team_ids:
            raise ApiError(403, "team_not_allowed", "该集成密钥不能向这个班组派送会话")
        return wanted
    if matter is not None and key.routes.get(matter) in key.team_ids:
        return key.routes[matter]
    return key.team_ids[0]


def find(db: DbSession, key: KeyInfo, external_id: str) -> m.IntakeRecord | None:
    return db.scalar(
        select(m.IntakeRecord).where(
            m.IntakeRecord.api_key_id == key.id, m.IntakeRecord.external_id == external_id
        )
    )


def submit(db: DbSession, key: KeyInfo, p: IntakeSession) -> tuple[m.IntakeRecord, bool]:
    """The session for ``p`` and whether it was made now (False: the same external id
    was sent before). Commits. Raises :class:`ApiError` with words."""
    earlier = find(db, key, p.external_id)
    if earlier is not None:
        return earlier, False
    if not key.team_ids:
        raise ApiError(403, "team_not_allowed", "该集成密钥没有可派送的班组")
    team_id = _team_for(db, key, p.team_id, p.matter_code)
    if p.matter_code is not None:
        guide = db.get(m.MatterGuide, p.matter_code)
        if guide is None or guide.deleted:
            raise ApiError(422, "unknown_matter", "事项编码（matter_code）不存在")
    now = datetime.now()
    session = m.Session(
        id="in-" + secrets.token_hex(12),
        team_id=team_id,
        assignee_id=None,
        state=SessionState.WAITING.value,
        service_type=p.service_type,
        channel=p.channel,
        caller_name=p.caller_name,
        caller_phone=normalize_phone(p.caller_phone),
        caller_id_number=p.caller_id_number.upper(),
        matter_code=p.matter_code,
        summary=p.summary,
        created_at=now,
        due_at=p.due_at,
    )
    record = m.IntakeRecord(
        session_id=session.id,
        api_key_id=key.id,
        external_id=p.external_id,
        ticket_number=p.ticket_number,
        received_at=p.received_at or now,
        attachments=[dict(a) for a in p.attachments],
        created_at=now,
    )
    add_event(
        db,
        session,
        "created",
        at=now,
        channel=session.channel,
        summary=p.summary[:200],
        source=key.name,
        external_id=p.external_id,
        ticket_number=p.ticket_number or None,
        received_at=record.received_at.isoformat(),
        due_at=p.due_at.isoformat() if p.due_at else None,
        attachments=[a["name"] for a in p.attachments] or None,
    )
    db.add(session)
    db.flush()
    db.add(record)
    try:
        db.flush()
    except IntegrityError:
        # The same external id raced in from another request: that one made it.
        db.rollback()
        earlier = find(db, key, p.external_id)
        if earlier is None:
            raise
        return earlier, False
    log_session(db, session, was_waiting=True, now=now)
    publish(db, "session_waiting", session_brief(session), team_id=team_id, for_team=True)
    publish(
        db,
        "session_updated",
        {**session_brief(session), "what": "created"},
        team_id=team_id,
        for_leads=True,
    )
    row = db.get(m.ApiKey, key.id)
    if row is not None:
        row.last_used_at = now
    record_audit(
        db,
        at=now,
        actor_id=None,
        action="intake.create",
        target_kind="session",
        target_id=session.id,
        detail={"api_key_id": key.id, "external_id": p.external_id, "channel": p.channel},
    )
    dispatch_team(db, team_id, now=now)
    db.commit()
    return record, True


def status_of(db: DbSession, record: m.IntakeRecord) -> dict[str, Any]:
    """An intake session as its sender sees it (``GET /intake/sessions/{external_id}``)."""
    session = db.get(m.Session, record.session_id)
    if session is None:
        raise ApiError(404, "not_found", "没有这个外部编号的会话")
    rating = db.scalar(select(m.Evaluation).where(m.Evaluation.session_id == session.id))
    channel = Channel(session.channel)
    return {
        "external_id": record.external_id,
        "channel": channel.value,
        "channel_label": channel.label,
        "team_id": session.team_id,
        "ticket_number": record.ticket_number,
        "received_at": record.received_at.isoformat(),
        "attachments": list(record.attachments or []),
        **callbacks.session_status(session, rating),
    }
