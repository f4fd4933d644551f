"""Qt item models of the session console: the sessions, the queues, my sessions by state.

``SessionTableModel`` holds every session the cache has for the user; the queues
待接入 and 今日已办结 are :class:`QueueProxy` views of it, and 我的会话 is
:class:`MySessionsModel`, a two-level tree grouped by state. Waiting times tick once
a second and turn amber near the first-response target and red past it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont

from core.entities import Session
from core.enums import Channel, Outcome, ServiceType, SessionState
from core.masking import mask_phone
from core.session_timeline import due_text
from ui.models.base import RowTableModel

Index = QModelIndex | QPersistentModelIndex
S = SessionState
log = logging.getLogger(__name__)

AMBER = QColor("#fff3cd")
RED = QColor("#fde0dc")
RED_TEXT = QColor("#b3261e")
AMBER_TEXT = QColor("#8a5a00")
PENDING_TEXT = QColor("#e65100")


def guarded(default: Any = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Qt calls these overrides from C++: an exception must not escape into Qt (it
    cannot be reported there, and PySide may crash trying). Log it, answer a default."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def safe(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception:
                log.exception("%s failed", fn.__qualname__)
                return default

        return safe

    return wrap


SessionRole = Qt.ItemDataRole.UserRole + 1
SortRole = Qt.ItemDataRole.UserRole + 2
UrgencyRole = Qt.ItemDataRole.UserRole + 3
"""0 fine, 1 near the first-response target, 2 past it."""


def waited_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}秒"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}分{seconds % 60:02d}秒"
    return f"{minutes // 60}小时{minutes % 60}分"


def _label(enum: type, value: str | None) -> str:
    try:
        return enum(value).label  # type: ignore[no-any-return]
    except ValueError:
        return value or ""


def is_pending(session: Session) -> bool:
    """Whether the session has local actions the server has not confirmed yet."""
    return any(e.get("pending") for e in session.timeline)


def awaiting_response_since(session: Session) -> datetime | None:
    """Since when the caller waits for a first response (None once accepted; for an
    online consultation, once staff wrote to the caller: the first-response rule of
    ``core.figures`` counts the first message there)."""
    if session.channel == Channel.WEB_CHAT.value and session.state in (
        S.WAITING,
        S.ASSIGNED,
        S.ACTIVE,
        S.ON_HOLD,
    ):
        answered = any(e.get("kind") == "first_response" for e in session.timeline)
        return None if answered else session.created_at
    if session.state == S.WAITING:
        return session.created_at
    if session.state == S.ASSIGNED and session.accepted_at is None:
        return session.created_at
    return None


class SessionTableModel(RowTableModel):
    """Every session the user may see, with masked phone numbers."""

    COLUMNS = (
        "状态",
        "来电人",
        "电话",
        "渠道",
        "服务",
        "诉求",
        "创建时间",
        "等待",
        "办结时间",
        "结果",
        "承办人",
    )
    (
        COL_STATE,
        COL_CALLER,
        COL_PHONE,
        COL_CHANNEL,
        COL_SERVICE,
        COL_SUMMARY,
        COL_CREATED,
        COL_WAITED,
        COL_CLOSED,
        COL_OUTCOME,
        COL_ASSIGNEE,
    ) = range(11)
    SessionRole = SessionRole

    def __init__(self, parent: Any = None, *, first_response_seconds: int = 60) -> None:
        super().__init__(parent)
        self._rows: list[Session] = []
        self._matter_names: dict[str, str] = {}
        self._agent_names: dict[int, str] = {}
        self.first_response_seconds = max(1, int(first_response_seconds))
        self.now: Callable[[], datetime] = datetime.now

    # -- data in -----------------------------------------------------------------------------

    def set_sessions(
        self, sessions: list[Session], matter_names: dict[str, str] | None = None
    ) -> None:
        self.beginResetModel()
        self._rows = list(sessions)
        if matter_names is not None:
            self._matter_names = dict(matter_names)
        self.endResetModel()

    def sessions(self) -> list[Session]:
        return list(self._rows)

    def set_agent_names(self, names: dict[int, str]) -> None:
        """Who holds each session, for the lead's view (shown with the next data)."""
        self._agent_names = dict(names)

    def session_at(self, row: int) -> Session | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, session_id: str) -> int:
        for i, s in enumerate(self._rows):
            if s.id == session_id:
                return i
        return -1

    def matter_name(self, code: str | None) -> str:
        return self._matter_names.get(code or "", "")

    def urgency(self, session: Session) -> int:
        since = awaiting_response_since(session)
        if since is None:
            return 0
        waited = (self.now() - since).total_seconds()
        if waited >= self.first_response_seconds:
            return 2
        if waited >= self.first_response_seconds * 0.75:
            return 1
        return 0

    def tick(self) -> None:
        """Waiting times moved on: repaint the rows that show one."""
        rows = [i for i, s in enumerate(self._rows) if awaiting_response_since(s) is not None]
        if rows:
            self.dataChanged.emit(
                self.index(min(rows), 0),
                self.index(max(rows), len(self.COLUMNS) - 1),
                [
                    Qt.ItemDataRole.DisplayRole,
                    Qt.ItemDataRole.BackgroundRole,
                    Qt.ItemDataRole.ForegroundRole,
                    SortRole,
                    UrgencyRole,
                ],
            )

    # -- Qt ------------------------------------------------------------------------------------

    @guarded()
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        s = self._rows[index.row()]
        column = index.column()
        if role == SessionRole:
            return s
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, column)
        if role == SortRole:
            return self._sort_key(s, column)
        if role == UrgencyRole:
            return self.urgency(s)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.COL_SUMMARY:
                return s.summary
            if column == self.COL_WAITED and self.urgency(s):
                return f"首次响应目标 {self.first_response_seconds} 秒"
            return None
        if role == Qt.ItemDataRole.BackgroundRole:
            urgency = self.urgency(s)
            return QBrush(RED if urgency == 2 else AMBER) if urgency else None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.COL_WAITED:
                urgency = self.urgency(s)
                if urgency:
                    return QBrush(RED_TEXT if urgency == 2 else AMBER_TEXT)
            if column == self.COL_STATE and is_pending(s):
                return QBrush(PENDING_TEXT)
            return None
        if role == Qt.ItemDataRole.FontRole and column == self.COL_WAITED and self.urgency(s):
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _display(self, s: Session, column: int) -> str:
        if column == self.COL_STATE:
            label = _label(SessionState, s.state)
            return f"{label}（待同步）" if is_pending(s) else label
        if column == self.COL_CALLER:
            return s.caller_name or "（未留姓名）"
        if column == self.COL_PHONE:
            return mask_phone(s.caller_phone)
        if column == self.COL_CHANNEL:
            return _label(Channel, s.channel)
        if column == self.COL_SERVICE:
            service = _label(ServiceType, s.service_type)
            matter = self.matter_name(s.matter_code)
            return f"{service}·{matter}" if matter else service
        if column == self.COL_SUMMARY:
            return s.summary.replace("\n", " ")
        if column == self.COL_CREATED:
            return self._time(s.created_at)
        if column == self.COL_WAITED:
            since = awaiting_response_since(s)
            return "" if since is None else waited_text((self.now() - since).total_seconds())
        if column == self.COL_CLOSED:
            return self._time(s.closed_at) if s.closed_at else ""
        if column == self.COL_OUTCOME:
            return _label(Outcome, s.outcome) if s.outcome else ""
        if column == self.COL_ASSIGNEE:
            if s.assignee_id is None:
                return "（队列中）"
            return self._agent_names.get(s.assignee_id, f"#{s.assignee_id}")
        return ""

    def _time(self, at: datetime) -> str:
        return (
            at.strftime("%H:%M") if at.date() == self.now().date() else at.strftime("%m-%d %H:%M")
        )

    def _sort_key(self, s: Session, column: int) -> Any:
        if column == self.COL_WAITED:
            since = awaiting_response_since(s)
            return (self.now() - since).total_seconds() if since else -1.0
        if column == self.COL_CREATED:
            return s.created_at.isoformat()
        if column == self.COL_CLOSED:
            return s.closed_at.isoformat() if s.closed_at else ""
        return self._display(s, column)


class QueueProxy(QSortFilterProxyModel):
    """One queue over :class:`SessionTableModel`: which sessions belong, plus the
    person's text filter and service-type filter."""

    def __init__(self, belongs: Callable[[Session], bool], parent: Any = None) -> None:
        super().__init__(parent)
        self.belongs = belongs
        self._text = ""
        self._service = ""
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    def set_filter(self, text: str, service_type: str = "") -> None:
        self.beginFilterChange()
        self._text = text.strip().lower()
        self._service = service_type
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @guarded(False)
    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        if not isinstance(model, SessionTableModel):
            return False
        s = model.session_at(source_row)
        if s is None or not self.belongs(s):
            return False
        return matches(s, self._text, self._service, model.matter_name(s.matter_code))

    def session_at(self, row: int) -> Session | None:
        value = self.index(row, 0).data(SessionRole)
        return value if isinstance(value, Session) else None

    def row_of(self, session_id: str) -> int:
        for row in range(self.rowCount()):
            s = self.session_at(row)
            if s is not None and s.id == session_id:
                return row
        return -1


def matches(s: Session, text: str, service_type: str, matter_name: str = "") -> bool:
    """The console's filter: words in the caller's name, the matter, the summary, or the
    last digits of the phone number (never the masked middle)."""
    if service_type and s.service_type != service_type:
        return False
    if not text:
        return True
    haystack = " ".join([s.caller_name, s.summary, matter_name or "", s.matter_code or ""]).lower()
    if text in haystack:
        return True
    return text.isdigit() and len(text) <= 4 and s.caller_phone.endswith(text)


MY_GROUPS = (S.ACTIVE, S.ON_HOLD, S.ASSIGNED, S.CALLBACK_PENDING, S.ESCALATED)
"""我的会话 grouped by state, in the order an agent works them."""

GROUP_TITLES = {
    S.ACTIVE: "处理中",
    S.ON_HOLD: "已挂起",
    S.ASSIGNED: "新分配，待接入",
    S.CALLBACK_PENDING: "待回电",
    S.ESCALATED: "已转办，待部门答复",
}


class MySessionsModel(QAbstractItemModel):
    """我的会话: the user's open sessions under one row per state (empty states hidden)."""

    COLUMNS = ("来电人", "时长/期限", "服务", "诉求")
    COL_CALLER, COL_TIME, COL_SERVICE, COL_SUMMARY = range(4)
    SessionRole = SessionRole

    def __init__(self, parent: Any = None, *, first_response_seconds: int = 60) -> None:
        super().__init__(parent)
        self._groups: list[tuple[SessionState, list[Session]]] = []
        self._matter_names: dict[str, str] = {}
        self.first_response_seconds = max(1, int(first_response_seconds))
        self.now: Callable[[], datetime] = datetime.now

    def set_sessions(self, sessions: list[Session], matter_names: dict[str, str]) -> None:
        self.beginResetModel()
        self._matter_names = dict(matter_names)
        by_state: dict[str, list[Session]] = {}
        for s in sessions:
            by_state.setdefault(s.state, []).append(s)
        self._groups = [
            (state, sorted(by_state[state.value], key=lambda s: s.created_at))
            for state in MY_GROUPS
            if by_state.get(state.value)
        ]
        self.endResetModel()

    def count(self) -> int:
        return sum(len(children) for _, children in self._groups)

    def matter_name(self, code: str | None) -> str:
        return self._matter_names.get(code or "", "")

    def group_rows(self) -> list[SessionState]:
        return [state for state, _ in self._groups]

    def sessions(self) -> list[Session]:
        return [s for _, children in self._groups for s in children]

    def index_of(self, session_id: str) -> QModelIndex:
        for g, (_, children) in enumerate(self._groups):
            for r, s in enumerate(children):
                if s.id == session_id:
                    return self.index(r, 0, self.index(g, 0))
        return QModelIndex()

    def tick(self) -> None:
        for g, (_, children) in enumerate(self._groups):
            if children:
                parent = self.index(g, 0)
                self.dataChanged.emit(
                    self.index(0, self.COL_TIME, parent),
                    self.index(len(children) - 1, self.COL_TIME, parent),
                    [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, SortRole],
                )

    # -- tree plumbing: internalId 0 is a group row, g+1 a session of group g ------------

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:
        if column < 0 or column >= len(self.COLUMNS) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0) if row < len(self._groups) else QModelIndex()
        if parent.internalId() != 0 or parent.column() != 0:
            return QModelIndex()
        g = parent.row()
        if g >= len(self._groups) or row >= len(self._groups[g][1]):
            return QModelIndex()
        return self.createIndex(row, column, g + 1)

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        return self.createIndex(int(index.internalId()) - 1, 0, 0)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        if not parent.isValid():
            return len(self._groups)
        if parent.internalId() == 0 and parent.column() == 0 and parent.row() < len(self._groups):
            return len(self._groups[parent.row()][1])
        return 0

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if role == Qt.ItemDataRole.DisplayRole and horizontal and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def session_of(self, index: Index) -> Session | None:
        if not index.isValid() or index.internalId() == 0:
            return None
        g = int(index.internalId()) - 1
        if g >= len(self._groups) or index.row() >= len(self._groups[g][1]):
            return None
        return self._groups[g][1][index.row()]

    @guarded()
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.internalId() == 0:
            return self._group_data(index, role)
        s = self.session_of(index)
        if s is None:
            return None
        column = index.column()
        if role == SessionRole:
            return s
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, column)
        if role == SortRole:
            if column == self.COL_TIME:
                return self._time_sort(s)
            return self._display(s, column)
        if role == Qt.ItemDataRole.ToolTipRole and column == self.COL_SUMMARY:
            return s.summary
        if role == Qt.ItemDataRole.ToolTipRole and column == self.COL_TIME and s.due_at:
            return f"期限 {due_text(s.due_at)}"
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.COL_CALLER and is_pending(s):
                return QBrush(PENDING_TEXT)
            since = awaiting_response_since(s)
            if column == self.COL_TIME and since is not None:
                waited = (self.now() - since).total_seconds()
                if waited >= self.first_response_seconds:
                    return QBrush(RED_TEXT)
                if waited >= self.first_response_seconds * 0.75:
                    return QBrush(AMBER_TEXT)
            if column == self.COL_TIME and s.due_at is not None and s.due_at < self.now():
                return QBrush(RED_TEXT)
        return None

    def _group_data(self, index: Index, role: int) -> Any:
        if index.row() >= len(self._groups):
            return None
        state, children = self._groups[index.row()]
        if role == Qt.ItemDataRole.DisplayRole and index.column() == 0:
            return f"{GROUP_TITLES[state]}（{len(children)}）"
        if role == Qt.ItemDataRole.FontRole and index.column() == 0:
            font = QFont()
            font.setBold(True)
            return font
        if role == SortRole:
            return f"{MY_GROUPS.index(state):02d}"
        return None

    def _display(self, s: Session, column: int) -> str:
        if column == self.COL_CALLER:
            name = s.caller_name or "（未留姓名）"
            return f"{name}（待同步）" if is_pending(s) else name
        if column == self.COL_SERVICE:
            service = _label(ServiceType, s.service_type)
            matter = self._matter_names.get(s.matter_code or "", "")
            return f"{service}·{matter}" if matter else service
        if column == self.COL_SUMMARY:
            return s.summary.replace("\n", " ")
        if column == self.COL_TIME:
            now = self.now()
            if s.state in (S.ESCALATED, S.CALLBACK_PENDING) and s.due_at is not None:
                return f"{s.due_at.month}月{s.due_at.day}日 {s.due_at:%H:%M} 前"
            if s.state == S.ASSIGNED:
                return f"已等 {waited_text((now - s.created_at).total_seconds())}"
            start = s.accepted_at or s.created_at
            return f"用时 {waited_text((now - start).total_seconds())}"
        return ""

    def _time_sort(self, s: Session) -> str:
        if s.due_at is not None:
            return s.due_at.isoformat()
        return (s.accepted_at or s.created_at).isoformat()


class TreeFilterProxy(QSortFilterProxyModel):
    """The person's filter over :class:`MySessionsModel` (groups stay while a child matches)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._service = ""
        self.setRecursiveFilteringEnabled(True)
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    def set_filter(self, text: str, service_type: str = "") -> None:
        self.beginFilterChange()
        self._text = text.strip().lower()
        self._service = service_type
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @guarded(False)
    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        if not isinstance(model, MySessionsModel):
            return False
        if not source_parent.isValid():
            # A group row is shown when a child matches (recursive filtering).
            return not (self._text or self._service)
        s = model.session_of(model.index(source_row, 0, source_parent))
        if s is None:
            return False
        return matches(s, self._text, self._service, model.matter_name(s.matter_code))

    @guarded(False)
    def lessThan(self, left: Index, right: Index) -> bool:
        # Groups keep their working order whatever column the person sorts by.
        if not left.parent().isValid() and not right.parent().isValid():
            a = self.sourceModel().data(left.siblingAtColumn(0), SortRole) or ""
            b = self.sourceModel().data(right.siblingAtColumn(0), SortRole) or ""
            ascending = self.sortOrder() == Qt.SortOrder.AscendingOrder
            return (a < b) if ascending else (a > b)
        return super().lessThan(left, right)


def closed_today(me_id: int, today: Callable[[], date] = date.today) -> Callable[[Session], bool]:
    def belongs(s: Session) -> bool:
        return (
            s.state == S.CLOSED
            and s.assignee_id == me_id
            and s.closed_at is not None
            and s.closed_at.date() == today()
        )

    return belongs


def waiting_in_team(team_id: str | None) -> Callable[[Session], bool]:
    def belongs(s: Session) -> bool:
        return s.state == S.WAITING and s.team_id == team_id

    return belongs


def open_in_team(team_id: str | None) -> Callable[[Session], bool]:
    """A lead's view: the team's sessions still open, whoever holds them."""

    def belongs(s: Session) -> bool:
        return s.state != S.CLOSED and s.team_id == team_id

    return belongs
