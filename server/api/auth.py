from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from server.api.deps import get_db, get_settings
from server.auth import CurrentUser, current_user, issue_token, verify_password
from server.config import ServerSettings
from server.errors import unauthorized
from server.models import User

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


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


@router.post("/login", response_model=LoginResponse)
def login(
    body: LoginRequest,
    db: DbSession = Depends(get_db),
    settings: ServerSettings = Depends(get_settings),
) -> LoginResponse:
    """Exchange a username and password for a bearer token."""
    user = db.scalar(select(User).where(User.username == body.username.strip()))
    if user is None or not user.active or not verify_password(user.password_hash, body.password):
        raise unauthorized("用户名或密码错误")
    token, expires = issue_token(db, user, settings.token_ttl_hours)
    db.commit()
    return LoginResponse(
        access_token=token, expires_at=expires, user=user_out(CurrentUser.of(user))
    )


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser = Depends(current_user)) -> UserOut:
    return user_out(user)
