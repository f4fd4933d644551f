"""Passwords (argon2), bearer and refresh tokens, sign-in throttling, and the role checks
every route goes through.

Sign-in throttling (kept in the database, so every server process sees the same counts):
failures are counted per username and per client address; after
:data:`FREE_FAILURES` the key is blocked for a delay that doubles with each further
failure (2 s, 4 s, 8 s … at most :data:`MAX_DELAY`); a blocked key is answered 429 with
``Retry-After`` without checking the password. A key's count is forgotten
:data:`FORGET_AFTER` after its last failure. An unknown username costs the same argon2
verification as a known one.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from core.enums import Role
from core.session_rules import Actor
from server.errors import forbidden, unauthorized
from server.models import AuthToken, RefreshToken, SigninThrottle, User

FREE_FAILURES = 5
"""Wrong passwords a username (or an address) may send before it is slowed down."""
MAX_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


_verifying = threading.BoundedSemaphore(4)
"""Password checks at once per process: each argon2 check takes 64 MB of memory."""


def verify_password(password_hash: str, password: str) -> bool:
    with _verifying:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def check_credentials(user: User | None, password: str) -> bool:
    """Whether ``password`` is the user's, at the same cost whether or not the user
    exists or is active (an unknown name is verified against a throw-away hash)."""
    if user is None:
        verify_password(_dummy_hash(), password)
        return False
    return verify_password(user.password_hash, password) and bool(user.active)


# -- sign-in throttling ---------------------------------------------------------------------


def throttle_keys(username: str, address: str) -> list[str]:
    return [f"user:{username.strip().lower()[:96]}", f"addr:{address[:96]}"]


def signin_wait(db: DbSession, keys: list[str], now: datetime | None = None) -> float:
    """Seconds before any of ``keys`` may try a password again (0: now)."""
    now = now or datetime.now()
    until = db.scalars(
        select(SigninThrottle.blocked_until).where(
            SigninThrottle.key.in_(keys), SigninThrottle.blocked_until > now
        )
    ).all()
    if not until:
        return 0.0
    return max((u - now).total_seconds() for u in until if u is not None)


def note_signin_failure(db: DbSession, keys: list[str], now: datetime | None = None) -> None:
    """Count one failure against each key; block a key past :data:`FREE_FAILURES`.
    One upsert per key, safe when several processes count at once."""
    now = now or datetime.now()
    # Counts nobody has added to for an hour are over: the table stays small however many
    # names and addresses a sprayer uses.
    db.execute(delete(SigninThrottle).where(SigninThrottle.last_failure_at < now - FORGET_AFTER))
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = SigninThrottle.__table__
    for key in keys:
        statement = insert(table).values(key=key, failures=1, last_failure_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": case(
                    (table.c.last_failure_at > now - FORGET_AFTER, table.c.failures + 1),
                    else_=1,
                ),
                "last_failure_at": now,
            },
        ).returning(table.c.failures)
        failures = int(db.execute(statement).scalar_one())
        if failures >= FREE_FAILURES:
            delay = min(timedelta(seconds=2 ** (failures - FREE_FAILURES + 1)), MAX_DELAY)
            db.execute(
                update(SigninThrottle)
                .where(SigninThrottle.key == key)
                .values(blocked_until=now + delay)
            )


def forget_signin_failures(db: DbSession, username: str) -> None:
    """A right password clears the username's count (not the address's: one good account
    must not buy an address more guesses at others)."""
    db.execute(delete(SigninThrottle).where(SigninThrottle.key == throttle_keys(username, "")[0]))


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


def revoke_token(db: DbSession, token: str) -> bool:
    """End one bearer token (sign-out). True when it existed."""
    result = db.execute(delete(AuthToken).where(AuthToken.token_hash == _digest(token)))
    return bool(getattr(result, "rowcount", 0))


def revoke_user_tokens(db: DbSession, user_id: int) -> int:
    """End every bearer token and refresh token of a user (deactivated, password changed).
    Returns how many bearer tokens were removed."""
    now = datetime.now()
    result = db.execute(delete(AuthToken).where(AuthToken.user_id == user_id))
    db.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def issue_refresh_token(
    db: DbSession, user_id: int, ttl_days: float, *, family: str | None = None
) -> tuple[str, datetime]:
    """A new refresh token (a new family at sign-in; the same family when rotated)."""
    now = datetime.now()
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(days=ttl_days)
    db.execute(delete(RefreshToken).where(RefreshToken.expires_at < now - timedelta(days=1)))
    db.add(
        RefreshToken(
            token_hash=_digest(token),
            family=family or uuid.uuid4().hex,
            user_id=user_id,
            created_at=now,
            expires_at=expires,
        )
    )
    return token, expires


@dataclass(frozen=True)
class Rotated:
    user: User
    refresh_token: str
    refresh_expires_at: datetime


class RefreshRefused(Exception):
    """The refresh token is unknown, expired, revoked, or was used before (``reused``)."""

    def __init__(self, reused: bool = False, user_id: int | None = None) -> None:
        super().__init__("refresh refused")
        self.reused = reused
        self.user_id = user_id


def rotate_refresh_token(db: DbSession, token: str, ttl_days: float) -> Rotated:
    """Use a refresh token once: it is spent and a new one of its family returned. A
    spent token presented again revokes the whole family (someone has a copy)."""
    now = datetime.now()
    row = db.get(RefreshToken, _digest(token))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise RefreshRefused(user_id=row.user_id if row else None)
    spent = db.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == row.token_hash,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
    )
    if getattr(spent, "rowcount", 0) != 1:
        revoke_refresh_family(db, row.family)
        raise RefreshRefused(reused=True, user_id=row.user_id)
    user = db.get(User, row.user_id)
    if user is None or not user.active:
        raise RefreshRefused(user_id=row.user_id)
    new_token, expires = issue_refresh_token(db, user.id, ttl_days, family=row.family)
    return Rotated(user, new_token, expires)


def revoke_refresh_family(db: DbSession, family: str) -> None:
    db.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now())
    )


def revoke_refresh_token(db: DbSession, token: str, user_id: int) -> None:
    """Sign-out: the family of the user's refresh token ends (someone else's is ignored)."""
    row = db.get(RefreshToken, _digest(token))
    if row is not None and row.user_id == user_id:
        revoke_refresh_family(db, row.family)


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
    checked = request.scope.get("bangban.user")  # already looked up by server.limits
    if checked is not None and checked[0] == token:
        return checked[1]
    db_factory = request.app.state.db
    with db_factory() as db:
        user = user_for_token(db, token)
    if user is None:
        raise unauthorized()
    request.state.user_id = user.id  # for the request's log line (server/logs.py)
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
