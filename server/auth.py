"""Passwords (argon2), bearer tokens and the role checks every route goes through."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DbSession

from core.enums import Role
from core.session_rules import Actor
from server.errors import forbidden, unauthorized
from server.models import AuthToken, User

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(db: DbSession, user: User, ttl_hours: float) -> tuple[str, datetime]:
    """Create a bearer token; only its digest is stored, so a database leak leaks no token."""
    now = datetime.now()
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=ttl_hours)
    db.execute(delete(AuthToken).where(AuthToken.expires_at < now))
    db.add(
        AuthToken(token_hash=_digest(token), user_id=user.id, created_at=now, expires_at=expires)
    )
    return token, expires


def revoke_user_tokens(db: DbSession, user_id: int) -> int:
    """Sign the user out everywhere (their bearer tokens stop working at once);
    returns how many tokens there were. In the caller's transaction."""
    result = db.execute(delete(AuthToken).where(AuthToken.user_id == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user, detached from the database session."""

    id: int
    username: str
    display_name: str
    role: Role
    team_id: str | None
    staff_number: str

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, role=self.role, team_id=self.team_id)

    @property
    def is_lead(self) -> bool:
        return self.role in (Role.LEAD, Role.ADMIN)

    @classmethod
    def of(cls, user: User) -> CurrentUser:
        return cls(
            user.id,
            user.username,
            user.display_name,
            Role(user.role),
            user.team_id,
            user.staff_number,
        )


def user_for_token(db: DbSession, token: str) -> CurrentUser | None:
    row = db.execute(
        select(User, AuthToken.expires_at)
        .join(AuthToken, AuthToken.user_id == User.id)
        .where(AuthToken.token_hash == _digest(token))
    ).first()
    if row is None:
        return None
    user, expires_at = row
    if expires_at < datetime.now() or not user.active:
        return None
    return CurrentUser.of(user)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("请先登录")
    return token.strip()


def current_user(request: Request, token: str = Depends(bearer_token)) -> CurrentUser:
    db_factory = request.app.state.db
    with db_factory() as db:
        user = user_for_token(db, token)
    if user is None:
        raise unauthorized()
    return user


def require_role(*roles: Role) -> Callable[[CurrentUser], CurrentUser]:
    """A dependency that admits only the given roles (403 with a message otherwise)."""
    allowed = frozenset(roles)
    names = "、".join(r.label for r in roles)

    def check(user: CurrentUser = Depends(current_user)) -> CurrentUser:
        if user.role not in allowed:
            raise forbidden(f"此操作仅限{names}")
        return user

    return check
