"""Qt models of the admin page: the feedback review list, the users, and the special
days (holidays and 调休 working days) of one calendar year.

The rows are plain values read from the admin routes' answers (``from_wire``); a
row the server sent in a shape this code does not know is skipped, never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from core.enums import Presence, Role
from ui.models.base import RowTableModel
from ui.models.sessions import guarded

log = logging.getLogger(__name__)

Index = QModelIndex | QPersistentModelIndex

IdRole = Qt.ItemDataRole.UserRole + 1

GREY = QColor("#757575")
GREEN = QColor("#2e7d32")
RED = QColor("#b3261e")
BLUE = QColor("#1565c0")
AMBER = QColor("#e65100")

FEEDBACK_KINDS = {"correction": "纠错", "new_question": "新问题"}
FEEDBACK_STATES = {"open": "待处理", "accepted": "已采纳", "rejected": "不采纳"}
WEEKDAYS = "一二三四五六日"


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        result = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return result.astimezone().replace(tzinfo=None) if result.tzinfo else result


def _short_time(when: datetime | None, today: date | None = None) -> str:
    if when is None:
        return ""
    today = today or date.today()
    return when.strftime("%H:%M" if when.date() == today else "%Y-%m-%d %H:%M")


def _rows(cls: Any, items: Iterable[Mapping[str, Any]]) -> list[Any]:
    rows = []
    for item in items:
        try:
            rows.append(cls.from_wire(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("%s row skipped: %r", cls.__name__, item)
    return rows


# -- feedback -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackItem:
    """One 纠错 / 新问题 report on the review list."""

    id: str
    kind: str
    entry_id: str | None
    entry_title: str
    text: str
    author_name: str
    created_at: datetime | None
    status: str
    resolution_note: str = ""
    resolved_by_name: str = ""
    resolved_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def kind_text(self) -> str:
        return FEEDBACK_KINDS.get(self.kind, self.kind)

    @property
    def status_text(self) -> str:
        return FEEDBACK_STATES.get(self.status, self.status)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> FeedbackItem:
        return cls(
            id=str(data["id"]),
            kind=str(data.get("kind") or ""),
            entry_id=str(data["entry_id"]) if data.get("entry_id") else None,
            entry_title=str(data.get("entry_title") or ""),
            text=str(data.get("text") or ""),
            author_name=str(data.get("author_name") or ""),
            created_at=_when(data.get("created_at")),
            status=str(data.get("status") or "open"),
            resolution_note=str(data.get("resolution_note") or ""),
            resolved_by_name=str(data.get("resolved_by_name") or ""),
            resolved_at=_when(data.get("resolved_at")),
        )


class FeedbackModel(RowTableModel):
    """The review list: kind, entry, text, who, when, state."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("类型", "知识条目", "内容", "提交人", "提交时间", "状态")
    COL_KIND, COL_ENTRY, COL_TEXT, COL_AUTHOR, COL_WHEN, COL_STATE = range(6)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[FeedbackItem] = []

    def set_items(self, items: Iterable[Mapping[str, Any]]) -> None:
        self.beginResetModel()
        self._rows = _rows(FeedbackItem, items)
        self.endResetModel()

    def item_at(self, row: int) -> FeedbackItem | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, feedback_id: str) -> int:
        return next((i for i, f in enumerate(self._rows) if f.id == feedback_id), -1)

    @property
    def open_count(self) -> int:
        return sum(1 for f in self._rows if f.is_open)

    @guarded()
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        f = self._rows[index.row()]
        column = index.column()
        if role == IdRole:
            return f.id
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.COL_KIND:
                return f.kind_text
            if column == self.COL_ENTRY:
                return f.entry_title or ("（条目已删除）" if f.entry_id else "—")
            if column == self.COL_TEXT:
                return " ".join(f.text.split())
            if column == self.COL_AUTHOR:
                return f.author_name
            if column == self.COL_WHEN:
                return _short_time(f.created_at)
            if column == self.COL_STATE:
                return f.status_text
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.COL_TEXT:
                return f.text
            if column == self.COL_STATE and not f.is_open:
                note = f"：{f.resolution_note}" if f.resolution_note else ""
                return f"{f.resolved_by_name} {_short_time(f.resolved_at)} {f.status_text}{note}"
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.COL_STATE:
                colour = {"open": AMBER, "accepted": GREEN, "rejected": GREY}.get(f.status, GREY)
                return QBrush(colour)
            if not f.is_open:
                return QBrush(GREY)
        return None


# -- users ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminUser:
    """An account as the admin's user list shows it."""

    id: int
    username: str
    display_name: str
    role: str
    team_id: str | None
    staff_number: str
    capacity: int
    active: bool
    presence: str

    @property
    def role_text(self) -> str:
        try:
            return Role(self.role).label
        except ValueError:
            return self.role

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AdminUser:
        return cls(
            id=int(data["id"]),
            username=str(data["username"]),
            display_name=str(data.get("display_name") or ""),
            role=str(data.get("role") or ""),
            team_id=str(data["team_id"]) if data.get("team_id") else None,
            staff_number=str(data.get("staff_number") or ""),
            capacity=int(data.get("capacity") or 0),
            active=bool(data.get("active", True)),
            presence=str(data.get("presence") or Presence.OFFLINE.value),
        )


class UserModel(RowTableModel):
    """Every account: who, role, team, capacity, and whether it may sign in."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "用户名",
        "姓名",
        "角色",
        "班组",
        "工号",
        "接待上限",
        "账号",
    )
    COL_USERNAME, COL_NAME, COL_ROLE, COL_TEAM, COL_STAFF, COL_CAPACITY, COL_ACTIVE = range(7)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[AdminUser] = []
        self._teams: dict[str, str] = {}

    def set_users(
        self, users: Iterable[Mapping[str, Any]], teams: Mapping[str, str] | None = None
    ) -> None:
        self.beginResetModel()
        self._rows = _rows(AdminUser, users)
        if teams is not None:
            self._teams = dict(teams)
        self.endResetModel()

    def user_at(self, row: int) -> AdminUser | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, user_id: int) -> int:
        return next((i for i, u in enumerate(self._rows) if u.id == user_id), -1)

    @property
    def active_count(self) -> int:
        return sum(1 for u in self._rows if u.active)

    def team_name(self, team_id: str | None) -> str:
        if not team_id:
            return "—"
        return self._teams.get(team_id, team_id)

    @guarded()
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        u = self._rows[index.row()]
        column = index.column()
        if role == IdRole:
            return u.id
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                self.COL_USERNAME: u.username,
                self.COL_NAME: u.display_name,
                self.COL_ROLE: u.role_text,
                self.COL_TEAM: self.team_name(u.team_id),
                self.COL_STAFF: u.staff_number,
                self.COL_CAPACITY: str(u.capacity),
                self.COL_ACTIVE: "启用" if u.active else "已停用",
            }.get(column)
        if role == Qt.ItemDataRole.ForegroundRole:
            if not u.active:
                return QBrush(RED if column == self.COL_ACTIVE else GREY)
            if column == self.COL_ACTIVE:
                return QBrush(GREEN)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.COL_CAPACITY:
            return int(Qt.AlignmentFlag.AlignCenter)
        return None


# -- the calendar ---------------------------------------------------------------------------

HOLIDAY = "holiday"
WORKDAY = "workday"
DAY_KINDS = {HOLIDAY: "法定假日（休息）", WORKDAY: "调休上班"}


@dataclass(frozen=True)
class SpecialDay:
    day: date
    kind: str
    """:data:`HOLIDAY` or :data:`WORKDAY`."""


class CalendarDaysModel(RowTableModel):
    """The year's special days in date order: holidays in red, 调休 working days in blue."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("日期", "星期", "类型")
    COL_DATE, COL_WEEKDAY, COL_KIND = range(3)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[SpecialDay] = []

    def set_days(self, holidays: Iterable[date], workdays: Iterable[date]) -> None:
        self.beginResetModel()
        days = [SpecialDay(d, HOLIDAY) for d in holidays]
        days += [SpecialDay(d, WORKDAY) for d in workdays]
        self._rows = sorted(days, key=lambda s: s.day)
        self.endResetModel()

    def day_at(self, row: int) -> SpecialDay | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, day: date) -> int:
        return next((i for i, s in enumerate(self._rows) if s.day == day), -1)

    @guarded()
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        s = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.COL_DATE:
                return s.day.isoformat()
            if column == self.COL_WEEKDAY:
                return f"周{WEEKDAYS[s.day.weekday()]}"
            if column == self.COL_KIND:
                return DAY_KINDS.get(s.kind, s.kind)
            return None
        if role == Qt.ItemDataRole.ForegroundRole and column == self.COL_KIND:
            return QBrush(RED if s.kind == HOLIDAY else BLUE)
        return None
