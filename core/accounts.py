"""The rules of a user account that an admin creates or edits (用户管理).

The admin page checks a form with these before it sends anything, and the server
checks every request with the same functions, so the two never disagree on what a
good username or a long enough password is. Each check returns problems as
``(field, 中文 message)`` pairs; an empty list means the values are fine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.enums import Role

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MAX_DISPLAY_NAME = 64
MAX_STAFF_NUMBER = 32
MAX_CAPACITY = 50
"""The most sessions one person may carry at a time (a typo guard, not a policy)."""

USERNAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{1,31}$")
"""2-32 characters: a letter first, then letters, digits, ``_``, ``.`` or ``-``."""

Problem = tuple[str, str]


def check_username(username: str) -> list[Problem]:
    if not username:
        return [("username", "请填写用户名")]
    if not USERNAME_PATTERN.match(username):
        return [
            (
                "username",
                "用户名应为 2-32 位英文字母、数字、下划线、点或横线，并以字母开头",
            )
        ]
    return []


def check_password(password: str) -> list[Problem]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return [("password", f"密码至少需要 {MIN_PASSWORD_LENGTH} 位")]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [("password", f"密码最多 {MAX_PASSWORD_LENGTH} 位")]
    if password.strip() != password:
        return [("password", "密码的开头和结尾不能是空格")]
    return []


def check_display_name(name: str) -> list[Problem]:
    if not name.strip():
        return [("display_name", "请填写姓名")]
    if len(name) > MAX_DISPLAY_NAME:
        return [("display_name", f"姓名最多 {MAX_DISPLAY_NAME} 字")]
    return []


def check_role(role: str) -> list[Problem]:
    if role not in {r.value for r in Role}:
        return [("role", "角色应为坐席、班组长或管理员")]
    return []


def check_staff_number(staff_number: str) -> list[Problem]:
    if len(staff_number) > MAX_STAFF_NUMBER:
        return [("staff_number", f"工号最多 {MAX_STAFF_NUMBER} 位")]
    return []


def check_capacity(capacity: int) -> list[Problem]:
    if not 0 <= capacity <= MAX_CAPACITY:
        return [("capacity", f"同时接待上限应在 0 到 {MAX_CAPACITY} 之间")]
    return []


def check_team(role: str, team_id: str | None) -> list[Problem]:
    """Agents and leads carry sessions of a team, so they need one; an admin may have none."""
    if role in (Role.AGENT.value, Role.LEAD.value) and not team_id:
        return [("team_id", "坐席和班组长必须属于一个班组")]
    return []


@dataclass(frozen=True)
class NewUser:
    """What the admin fills in to create an account."""

    username: str
    display_name: str
    role: str
    team_id: str | None
    staff_number: str
    capacity: int
    password: str

    def problems(self) -> list[Problem]:
        return [
            *check_username(self.username),
            *check_display_name(self.display_name),
            *check_role(self.role),
            *check_team(self.role, self.team_id),
            *check_staff_number(self.staff_number),
            *check_capacity(self.capacity),
            *check_password(self.password),
        ]


@dataclass(frozen=True)
class UserEdit:
    """A change to an account; ``None`` leaves a field as it is."""

    display_name: str | None = None
    role: str | None = None
    team_id: str | None = None
    clear_team: bool = False
    staff_number: str | None = None
    capacity: int | None = None
    active: bool | None = None

    def problems(self, current_role: str, current_team: str | None) -> list[Problem]:
        found: list[Problem] = []
        if self.display_name is not None:
            found += check_display_name(self.display_name)
        if self.role is not None:
            found += check_role(self.role)
        if self.staff_number is not None:
            found += check_staff_number(self.staff_number)
        if self.capacity is not None:
            found += check_capacity(self.capacity)
        role = self.role if self.role is not None else current_role
        team = None if self.clear_team else (self.team_id or current_team)
        return found + check_team(role, team)
