"""Sign-in, token refresh and sign-out (every one of them audited, never a password)."""

from __future__ import annotations

import math
from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from server.api.deps import get_db, get_settings
from server.audit import record_audit
from server.auth import (
    CurrentUser,
    RefreshRefused,
    bearer_token,
    check_credentials,
    current_user,
    forget_signin_failures,
    issue_refresh_token,
    issue_token,
    note_signin_failure,
    revoke_refresh_token,
    revoke_token,
    rotate_refresh_token,
    signin_wait,
    throttle_keys,
)
from server.config import ServerSettings
from server.errors import ApiError, unauthorized
from server.models import User

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=128)


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(None, max_length=128)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    team_id: str | None
    staff_number: str = ""


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user: UserOut


def user_out(user: CurrentUser) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role.value,
        team_id=user.team_id,
        staff_number=user.staff_number,
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _throttled(seconds: float) -> ApiError:
    wait = max(1, math.ceil(seconds))
    words = f"{wait} 秒" if wait < 120 else f"{math.ceil(wait / 60)} 分钟"
    return ApiError(
        429,
        "too_many_attempts",
        f"密码错误次数过多，请 {words}后再试",
        headers={"Retry-After": str(wait)},
    )


@router.post("/login", response_model=LoginResponse)
def login(
    body: LoginRequest,
    request: Request,
    db: DbSession = Depends(get_db),
    settings: ServerSettings = Depends(get_settings),
) -> LoginResponse:
    """Exchange a username and password for a bearer token and a refresh token."""
    username = body.username.strip()
    address = _address(request)
    keys = throttle_keys(username, address)
    wait = signin_wait(db, keys)
    if wait > 0:
        raise _throttled(wait)
    user = db.scalar(select(User).where(User.username == username))
    if not check_credentials(user, body.password):
        note_signin_failure(db, keys)
        # An unknown name may be a password typed into the wrong field: only a hint of it.
        shown = username[:64] if user is not None else f"{username[:1]}***（{len(username)} 位）"
        record_audit(
            db,
            actor_id=None,
            action="auth.login_failed",
            target_kind="user",
            target_id=user.id if user is not None else "unknown",
            detail={"username": shown, "known": user is not None},
            source_ip=address,
        )
        db.commit()
        raise unauthorized("用户名或密码错误")
    assert user is not None
    forget_signin_failures(db, username)
    token, expires = issue_token(db, user, settings.token_ttl_hours)
    refresh, refresh_expires = issue_refresh_token(db, user.id, settings.refresh_ttl_days)
    record_audit(
        db,
        actor_id=user.id,
        action="auth.login",
        target_kind="user",
        target_id=user.id,
        detail={"username": user.username},
        source_ip=address,
    )
    db.commit()
    return LoginResponse(
        access_token=token,
        expires_at=expires,
        refresh_token=refresh,
        refresh_expires_at=refresh_expires,
        user=user_out(CurrentUser.of(user)),
    )


@router.post("/refresh", response_model=LoginResponse)
def refresh(
    body: RefreshRequest,
    request: Request,
    db: DbSession = Depends(get_db),
    settings: ServerSettings = Depends(get_settings),
) -> LoginResponse:
    """A new bearer token for a refresh token; the refresh token is replaced (rotated)."""
    address = _address(request)
    try:
        rotated = rotate_refresh_token(db, body.refresh_token, settings.refresh_ttl_days)
    except RefreshRefused as refused:
        if refused.reused:
            record_audit(
                db,
                actor_id=None,
                action="auth.refresh_reused",
                target_kind="user",
                target_id=refused.user_id or "",
                detail={"revoked": "family"},
                source_ip=address,
            )
        db.commit()
        raise unauthorized("登录已失效，请重新登录") from None
    token, expires = issue_token(db, rotated.user, settings.token_ttl_hours)
    db.commit()
    return LoginResponse(
        access_token=token,
        expires_at=expires,
        refresh_token=rotated.refresh_token,
        refresh_expires_at=rotated.refresh_expires_at,
        user=user_out(CurrentUser.of(rotated.user)),
    )


@router.post("/logout", status_code=204)
def logout(
    request: Request,
    body: LogoutRequest | None = None,
    token: str = Depends(bearer_token),
    user: CurrentUser = Depends(current_user),
    db: DbSession = Depends(get_db),
) -> None:
    """Sign out: the bearer token, and the refresh token when sent, stop working."""
    revoke_token(db, token)
    if body is not None and body.refresh_token:
        revoke_refresh_token(db, body.refresh_token, user.id)
    record_audit(
        db,
        actor_id=user.id,
        action="auth.logout",
        target_kind="user",
        target_id=user.id,
        source_ip=_address(request),
    )
    db.commit()


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser = Depends(current_user)) -> UserOut:
    return user_out(user)
