"""The service's own rules in numbers, held on the server and edited by admins.

Each setting is declared once in :data:`REGISTRY` with its type, default, range and
Chinese label. Its value is the one an admin saved (a ``meta`` row ``setting.<name>``,
shared by every server process), else the process's :class:`server.config.
ServerSettings` attribute of the same name (arguments and ``BANGBAN_*`` variables),
else the declared default. :func:`setting` is how code with a database session
reads one; :func:`change` checks and saves an admin's edit, refusing every bad value
with a message naming the setting in Chinese.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from server import models as m

PREFIX = "setting."


@dataclass(frozen=True)
class Spec:
    """One setting: what it is called, what it holds and which values it accepts."""

    name: str
    label: str
    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    help: str = ""

    def check(self, value: Any) -> Any:
        """``value`` as this setting holds it; ValueError (Chinese) when it does not fit."""
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{self.label}：应为是或否（true/false）")
            return value
        if self.kind is str:
            if not isinstance(value, str) or len(value) > 200:
                raise ValueError(f"{self.label}：应为不超过 200 字的文字")
            return value.strip()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.label}：应为数字")
        if self.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{self.label}：应为整数")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{self.label}：应为有限的数字")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.label}：不能小于 {_number(self.minimum)}{self.unit}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{self.label}：不能大于 {_number(self.maximum)}{self.unit}")
        return value

    def describe(self) -> dict[str, Any]:
        kinds = {bool: "bool", int: "int", float: "float", str: "str"}
        return {
            "name": self.name,
            "label": self.label,
            "kind": kinds[self.kind],
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "unit": self.unit,
            "help": self.help,
        }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


REGISTRY: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        Spec("auto_assign", "自动分派", bool, True, help="把待接入会话分给空闲的在线坐席"),
        Spec("agent_capacity_default", "坐席默认并发上限", int, 4, 1, 50, " 个"),
        Spec("presence_timeout_seconds", "心跳超时判为离线", int, 90, 15, 3600, " 秒"),
        Spec("accept_timeout_seconds", "分派后接入时限", int, 60, 10, 3600, " 秒",
             "超时未接入的会话退回队列，改派下一位坐席"),
        Spec("skill_wait_seconds", "按技能等待时长", int, 30, 0, 3600, " 秒",
             "超过此时长仍无匹配技能的坐席，则分给班组内任一空闲坐席"),
        Spec("alert_share", "期限预警比例", float, 0.75, 0.1, 0.99, "",
             "已用时间达到期限的这一比例时提醒承办人和班组长"),
        Spec("first_response_seconds", "首次响应时限", int, 60, 10, 3600, " 秒"),
        Spec("rectification_working_days", "差评整改期限", int, 5, 1, 30, " 个工作日"),
        Spec("callback_working_days", "待回电期限", int, 1, 1, 10, " 个工作日"),
        Spec("contact_working_days", "转办联系群众期限", int, 1, 1, 10, " 个工作日",
             "1515 规则：转办后多少个工作日内联系群众"),
    )
}  # fmt: skip


class SettingsRefused(ValueError):
    """An admin's edit that does not fit: ``errors`` maps each setting to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("；".join(errors.values()))
        self.errors = errors


def _saved(db: DbSession, names: list[str] | None = None) -> dict[str, Any]:
    query = select(m.Meta.key, m.Meta.value).where(m.Meta.key.startswith(PREFIX))
    values: dict[str, Any] = {}
    for key, text in db.execute(query):
        name = key[len(PREFIX) :]
        spec = REGISTRY.get(name)
        if spec is None or (names is not None and name not in names):
            continue
        try:
            values[name] = spec.check(json.loads(text))
        except ValueError:
            continue  # a value that no longer fits (the range narrowed): the default holds
    return values


def _fallback(db: DbSession, spec: Spec) -> Any:
    configured = getattr(db.info.get("settings"), spec.name, None)
    if configured is None:
        return spec.default
    try:
        return spec.check(configured)
    except ValueError:
        return spec.default


def setting(db: DbSession, name: str) -> Any:
    """The value of one setting for code that has a database session."""
    spec = REGISTRY[name]
    saved = _saved(db, [name])
    return saved[name] if name in saved else _fallback(db, spec)


def current(db: DbSession) -> dict[str, Any]:
    """Every setting's value, by name, in the registry's order."""
    saved = _saved(db)
    return {
        name: saved[name] if name in saved else _fallback(db, spec)
        for name, spec in REGISTRY.items()
    }


def change(db: DbSession, edits: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Check and save ``edits`` (all or nothing) in the caller's transaction.

    Returns ``{name: (before, after)}`` for the settings that changed.

    Raises:
        SettingsRefused: an unknown name or a value out of type or range, each named.
    """
    errors: dict[str, str] = {}
    checked: dict[str, Any] = {}
    for name, value in edits.items():
        spec = REGISTRY.get(name)
        if spec is None:
            errors[name] = "没有这项设置"
            continue
        try:
            checked[name] = spec.check(value)
        except ValueError as refused:
            errors[name] = str(refused)
    if errors:
        raise SettingsRefused(errors)
    before = current(db)
    changed: dict[str, tuple[Any, Any]] = {}
    for name, value in checked.items():
        if before[name] == value:
            continue
        changed[name] = (before[name], value)
        row = db.get(m.Meta, PREFIX + name)
        text = json.dumps(value)
        if row is None:
            db.add(m.Meta(key=PREFIX + name, value=text))
        else:
            row.value = text
    db.flush()
    return changed
