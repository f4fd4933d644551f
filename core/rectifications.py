"""差评整改 (rectification of a bad review): its record and the rules of its follow-up.

A rating of 1-2 opens one with a deadline in working days. The team lead assigns it
to someone, records what was verified (核实情况), what was done (整改措施) and the
result (整改结果), and closes it once all three are written. The client checks these
rules before it queues an action; the server checks them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from core.calendar import WorkCalendar

MAX_TEXT = 2000
TEXT_FIELDS: dict[str, str] = {
    "verification": "核实情况",
    "action": "整改措施",
    "outcome": "整改结果",
}
STATE_LABELS = {"open": "待分派", "assigned": "整改中", "closed": "已办结"}


class RectificationError(Exception):
    """A follow-up step that is not allowed; ``message`` is shown as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def clean_texts(payload: Mapping[str, Any]) -> dict[str, str]:
    """The text fields present in ``payload``, stripped.

    Raises:
        RectificationError: a field is not text or is too long.
    """
    found: dict[str, str] = {}
    for key, label in TEXT_FIELDS.items():
        value = payload.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise RectificationError(f"{label}应为文字")
        value = value.strip()
        if len(value) > MAX_TEXT:
            raise RectificationError(f"{label}过长（最多 {MAX_TEXT} 字）")
        found[key] = value
    return found


def missing_for_close(texts: Mapping[str, str]) -> list[str]:
    """The labels of the fields still empty, which must be written before closing."""
    return [label for key, label in TEXT_FIELDS.items() if not (texts.get(key) or "").strip()]


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class Rectification:
    """A rectification as synced to the team's leads."""

    id: str
    session_id: str
    state: str
    deadline: date
    deadline_provisional: bool = False
    assignee_id: int | None = None
    created_at: datetime | None = None
    verification: str = ""
    action: str = ""
    outcome: str = ""
    closed_at: datetime | None = None
    closed_by: int | None = None
    summary: str = ""
    score: int | None = None
    comment: str = ""
    session_assignee_id: int | None = None
    pending: bool = False
    """Changed here by an action the server has not confirmed yet."""

    @property
    def is_closed(self) -> bool:
        return self.state == "closed"

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    def overdue(self, today: date) -> bool:
        """Open after its deadline day (a closed one is judged by its closing day)."""
        if self.is_closed:
            return self.closed_at is not None and self.closed_at.date() > self.deadline
        return today > self.deadline

    def working_days_left(self, calendar: WorkCalendar, today: date) -> int:
        """Working days in ``(today, deadline]``; negative once the deadline has passed."""
        if self.deadline >= today:
            return calendar.working_days_between(today, self.deadline)
        return -max(1, calendar.working_days_between(self.deadline, today))

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Rectification:
        """Read a synced record.

        Raises:
            ValueError: no id or no valid deadline.
        """
        try:
            deadline = date.fromisoformat(str(data.get("deadline"))[:10])
        except ValueError:
            raise ValueError("rectification without a valid deadline") from None
        if not data.get("id"):
            raise ValueError("rectification without id")

        def opt_int(key: str) -> int | None:
            value = data.get(key)
            return int(value) if value is not None else None

        return cls(
            id=str(data["id"]),
            session_id=str(data.get("session_id") or ""),
            state=str(data.get("state") or "open"),
            deadline=deadline,
            deadline_provisional=bool(data.get("deadline_provisional")),
            assignee_id=opt_int("assignee_id"),
            created_at=_dt(data.get("created_at")),
            verification=str(data.get("verification") or ""),
            action=str(data.get("action") or ""),
            outcome=str(data.get("outcome") or ""),
            closed_at=_dt(data.get("closed_at")),
            closed_by=opt_int("closed_by"),
            summary=str(data.get("summary") or ""),
            score=opt_int("score"),
            comment=str(data.get("comment") or ""),
            session_assignee_id=opt_int("session_assignee_id"),
            pending=bool(data.get("pending")),
        )
