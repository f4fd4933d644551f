"""Entities of the domain as plain values, in the shape the sync protocol carries.

The server builds these from its tables and sends ``to_wire()``; the client reads
pulled rows with ``from_wire()``. Unknown keys are ignored so that a newer server
can add fields without breaking an older client.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import date, datetime
from typing import Any, ClassVar, Self, get_args, get_type_hints

from core.enums import Channel, Role, ServiceType, SessionState


class Wire:
    """Mixin: conversion to and from the JSON-safe dicts of the protocol."""

    _hints: ClassVar[dict[str, Any]]

    def to_wire(self) -> dict[str, Any]:
        return {k: _to_json(v) for k, v in asdict(self).items()}  # type: ignore[call-overload]

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        hints = cls.__dict__.get("_hints_cache")
        if hints is None:
            hints = get_type_hints(cls)
            cls._hints_cache = hints  # type: ignore[attr-defined]
        kwargs: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                kwargs[f.name] = _from_json(hints[f.name], data[f.name])
            elif f.default is MISSING and f.default_factory is MISSING:
                raise ValueError(f"{cls.__name__}: missing field {f.name!r}")
        return cls(**kwargs)


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def _from_json(hint: Any, value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return value
    options = get_args(hint) or (hint,)
    if datetime in options:
        return datetime.fromisoformat(value)
    if date in options:
        return date.fromisoformat(value[:10])
    return value


@dataclass(frozen=True)
class Team(Wire):
    id: str
    name: str
    office: str = ""


@dataclass(frozen=True)
class Agent(Wire):
    """A member of the user's team as the client sees it."""

    id: int
    username: str
    display_name: str
    role: str = Role.AGENT.value
    team_id: str | None = None
    staff_number: str = ""
    office: str = ""
    capacity: int = 4
    presence: str = "offline"


@dataclass(frozen=True)
class MatterGuide(Wire):
    """办事指南 of one matter."""

    code: str
    name: str
    department: str
    summary: str = ""
    service_types: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    materials: list[dict[str, Any]] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    time_limit_days: int = 0
    time_limit_text: str = ""
    fee: str = ""
    legal_basis: list[str] = field(default_factory=list)
    place: str = ""
    online_entry: str = ""
    contact: str = ""
    hours: str = ""
    version: int = 1


@dataclass(frozen=True)
class KnowledgeEntry(Wire):
    """政策问答 / 知识条目."""

    id: str
    title: str
    answer: str
    category: str = ""
    issuing_unit: str = ""
    kind: str = "日常咨询"
    keywords: list[str] = field(default_factory=list)
    scope: str = ""
    region: str = ""
    matter_code: str | None = None
    department: str = ""
    service_type: str = ServiceType.CONSULT.value
    effective_date: date | None = None
    expiry_date: date | None = None
    version: int = 1
    review_state: str = "published"
    source: str = ""

    def is_expired(self, today: date) -> bool:
        return self.expiry_date is not None and self.expiry_date < today


@dataclass(frozen=True)
class Session(Wire):
    """服务会话 as synced to the client (caller data unmasked; the UI masks it)."""

    id: str
    team_id: str
    state: str
    service_type: str
    channel: str
    created_at: datetime
    assignee_id: int | None = None
    caller_name: str = ""
    caller_phone: str = ""
    caller_id_number: str = ""
    matter_code: str | None = None
    summary: str = ""
    accepted_at: datetime | None = None
    closed_at: datetime | None = None
    due_at: datetime | None = None
    outcome: str | None = None
    close_summary: str = ""
    updated_at: datetime | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    assigned_at: datetime | None = None
    escalation: dict[str, Any] | None = None
    """转办: department, reason, complexity, contact_due_at, due_at, answered_at."""
    callback_due_at: datetime | None = None

    @property
    def state_enum(self) -> SessionState:
        return SessionState(self.state)

    @property
    def service(self) -> ServiceType:
        return ServiceType(self.service_type)

    @property
    def channel_enum(self) -> Channel:
        return Channel(self.channel)


@dataclass(frozen=True)
class SessionNote(Wire):
    id: str
    session_id: str
    author_id: int | None
    author_name: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Evaluation(Wire):
    """好差评 given by the caller."""

    id: str
    session_id: str
    score: int
    comment: str = ""
    created_at: datetime | None = None
