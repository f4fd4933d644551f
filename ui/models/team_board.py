"""Qt models of the lead's board: the team's agents (a drop target for sessions) and
the team's open sessions (a drag source), both over a :class:`core.board.Board`.

A session is dragged as :data:`SESSION_MIME`: JSON of ``[{session_id,
expected_assignee_id}]``, the assignee the lead saw, which the reassignment then
compares against the server's (a compare-and-set). Dropping onto an agent emits
:attr:`AgentBoardModel.session_dropped`; the model never changes itself on a drop —
the board changes when the server confirms.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont

from core.board import Board, BoardAgent, BoardSession, urgency
from core.enums import Channel, Presence, ServiceType, SessionState
from ui.models.base import RowTableModel

Index = QModelIndex | QPersistentModelIndex

SESSION_MIME = "application/x-bangban-sessions"

AgentIdRole = Qt.ItemDataRole.UserRole + 1
SessionIdRole = Qt.ItemDataRole.UserRole + 2
UrgencyRole = Qt.ItemDataRole.UserRole + 3

PRESENCE_COLOURS = {
    Presence.ONLINE: QColor("#2e7d32"),
    Presence.BUSY: QColor("#e65100"),
    Presence.AWAY: QColor("#8a5a00"),
    Presence.OFFLINE: QColor("#757575"),
}
AMBER = QColor("#fff3cd")
RED = QColor("#fde0dc")
RED_TEXT = QColor("#b3261e")
AMBER_TEXT = QColor("#8a5a00")
FULL = QColor("#fff3e0")


def _label(enum: type, value: str | None) -> str:
    try:
        return enum(value).label  # type: ignore[no-any-return]
    except ValueError:
        return value or ""


def waited_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}秒"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}分{seconds % 60:02d}秒"
    return f"{minutes // 60}小时{minutes % 60}分"


def encode_sessions(items: Sequence[BoardSession]) -> QMimeData:
    """The drag payload of some sessions (what a drop onto an agent needs)."""
    mime = QMimeData()
    payload = [{"session_id": s.id, "expected_assignee_id": s.assignee_id} for s in items]
    mime.setData(SESSION_MIME, json.dumps(payload).encode("utf-8"))
    mime.setText("\n".join(s.summary for s in items))
    return mime


def decode_sessions(mime: QMimeData) -> list[tuple[str, int | None]]:
    """(session id, expected assignee id) pairs of a drag; empty when it is not ours."""
    if not mime.hasFormat(SESSION_MIME):
        return []
    try:
        raw = json.loads(bytes(mime.data(SESSION_MIME).data()).decode("utf-8"))
        return [
            (
                str(item["session_id"]),
                int(item["expected_assignee_id"])
                if item.get("expected_assignee_id") is not None
                else None,
            )
            for item in raw
        ]
    except (ValueError, TypeError, KeyError, AttributeError):
        return []


class AgentBoardModel(QAbstractTableModel):
    """The team's members: presence, load against capacity, what they are doing."""

    COLUMNS = ("坐席", "状态", "在办/上限", "导办进度", "屏幕共享")
    COL_NAME, COL_PRESENCE, COL_LOAD, COL_WALKTHROUGH, COL_SHARE = range(5)

    session_dropped = Signal(str, object, int)
    """(session id, expected assignee id or None, target agent id)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._agents: list[BoardAgent] = []
        self._board: Board | None = None

    def set_board(self, board: Board) -> None:
        self.beginResetModel()
        self._board = board
        self._agents = list(board.agents)
        self.endResetModel()

    def agent_at(self, row: int) -> BoardAgent | None:
        return self._agents[row] if 0 <= row < len(self._agents) else None

    def row_of(self, agent_id: int) -> int:
        for i, a in enumerate(self._agents):
            if a.id == agent_id:
                return i
        return -1

    def _sessions(self, agent: BoardAgent) -> list[BoardSession]:
        return self._board.sessions_of(agent.id) if self._board else []

    # -- Qt ------------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._agents)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if role == Qt.ItemDataRole.DisplayRole and horizontal and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if not index.isValid():
            return base
        return base | Qt.ItemFlag.ItemIsDropEnabled

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._agents)):
            return None
        a = self._agents[index.row()]
        column = index.column()
        if role == AgentIdRole:
            return a.id
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(a, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(a, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == self.COL_PRESENCE:
            return QBrush(PRESENCE_COLOURS[a.presence_enum])
        if role == Qt.ItemDataRole.BackgroundRole and column == self.COL_LOAD:
            return QBrush(FULL) if a.capacity and a.load >= a.capacity else None
        if role == Qt.ItemDataRole.FontRole and column == self.COL_PRESENCE:
            font = QFont()
            font.setBold(a.presence_enum is not Presence.OFFLINE)
            return font
        return None

    def _display(self, a: BoardAgent, column: int) -> str:
        if column == self.COL_NAME:
            lead = "（班组长）" if a.role == "lead" else ""
            return f"{a.display_name}{lead}"
        if column == self.COL_PRESENCE:
            return f"● {a.presence_enum.label}"
        if column == self.COL_LOAD:
            extra = a.open - a.load
            text = f"{a.load}/{a.capacity}"
            return f"{text}（+{extra}）" if extra > 0 else text
        if column == self.COL_WALKTHROUGH:
            steps = [s.walkthrough for s in self._sessions(a) if s.walkthrough]
            if not steps:
                return ""
            return steps[0] if len(steps) == 1 else f"{steps[0]} 等 {len(steps)} 个"
        if column == self.COL_SHARE:
            live = [s for s in self._sessions(a) if s.share_live]
            if not live:
                return ""
            states = {"live": "已发链接", "opened": "群众已打开", "consented": "共享中"}
            return states.get(live[-1].share_state, "共享中")
        return ""

    def _tooltip(self, a: BoardAgent, column: int) -> str | None:
        if column == self.COL_LOAD:
            extra = a.open - a.load
            text = "计入上限：已分配、处理中、已挂起"
            return text + (f"；另有 {extra} 个转办或待回电（+{extra}）" if extra > 0 else "")
        if column == self.COL_PRESENCE and a.last_seen_at is not None:
            return f"最后心跳 {a.last_seen_at:%H:%M:%S}"
        if column == self.COL_WALKTHROUGH:
            steps = [s.walkthrough for s in self._sessions(a) if s.walkthrough]
            return "\n".join(steps) or None
        return None

    # -- drop ----------------------------------------------------------------------------------

    def mimeTypes(self) -> list[str]:
        return [SESSION_MIME]

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def _target_row(self, row: int, parent: Index) -> int:
        # Dropped onto an agent's row: parent is that row. Between rows: the row below.
        if parent.isValid():
            return parent.row()
        return row

    def canDropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: Index
    ) -> bool:
        if not decode_sessions(data):
            return False
        return self.agent_at(self._target_row(row, parent)) is not None

    def dropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: Index
    ) -> bool:
        if action == Qt.DropAction.IgnoreAction:
            return True
        agent = self.agent_at(self._target_row(row, parent))
        items = decode_sessions(data)
        if agent is None or not items:
            return False
        for session_id, expected in items:
            self.session_dropped.emit(session_id, expected, agent.id)
        # Nothing moves in this model: the board changes when the server has confirmed,
        # and the source rows must not be removed by the view.
        return False


class BoardSessionModel(RowTableModel):
    """Open sessions of the team (all, the unassigned queue, or one agent's)."""

    COLUMNS = ("状态", "诉求", "渠道", "服务", "承办人", "等待", "导办进度", "屏幕共享")
    (
        COL_STATE,
        COL_SUMMARY,
        COL_CHANNEL,
        COL_SERVICE,
        COL_ASSIGNEE,
        COL_WAITED,
        COL_WALKTHROUGH,
        COL_SHARE,
    ) = range(8)

    def __init__(self, parent: Any = None, *, first_response_seconds: int = 60) -> None:
        super().__init__(parent)
        self._rows: list[BoardSession] = []
        self._names: dict[int, str] = {}
        self.first_response_seconds = max(1, int(first_response_seconds))
        self.now: Callable[[], datetime] = datetime.now
        self._filter: Callable[[BoardSession], bool] = lambda s: True

    def set_filter(self, belongs: Callable[[BoardSession], bool]) -> None:
        self._filter = belongs

    def set_board(self, board: Board) -> None:
        self.beginResetModel()
        self._names = {a.id: a.display_name for a in board.agents}
        self.first_response_seconds = max(1, board.first_response_seconds)
        self._rows = [s for s in board.sessions if self._filter(s)]
        self.endResetModel()

    def session_at(self, row: int) -> BoardSession | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def sessions(self) -> list[BoardSession]:
        return list(self._rows)

    def row_of(self, session_id: str) -> int:
        for i, s in enumerate(self._rows):
            if s.id == session_id:
                return i
        return -1

    def urgency(self, s: BoardSession) -> int:
        return urgency(s.waited_seconds(self.now()), self.first_response_seconds)

    def tick(self) -> None:
        """Waiting times moved on: repaint the rows that show one."""
        rows = [i for i, s in enumerate(self._rows) if s.awaiting_since is not None]
        if rows:
            self.dataChanged.emit(
                self.index(min(rows), 0),
                self.index(max(rows), len(self.COLUMNS) - 1),
                [
                    Qt.ItemDataRole.DisplayRole,
                    Qt.ItemDataRole.BackgroundRole,
                    Qt.ItemDataRole.ForegroundRole,
                    UrgencyRole,
                ],
            )

    # -- Qt ------------------------------------------------------------------------------------

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if not index.isValid():
            return base
        return base | Qt.ItemFlag.ItemIsDragEnabled

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        s = self._rows[index.row()]
        column = index.column()
        if role == SessionIdRole:
            return s.id
        if role == UrgencyRole:
            return self.urgency(s)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.COL_SUMMARY:
                return s.summary
            if column == self.COL_WAITED and self.urgency(s):
                return f"首次响应目标 {self.first_response_seconds} 秒"
            if column == self.COL_WALKTHROUGH:
                return s.walkthrough or None
            if column == self.COL_ASSIGNEE and s.reassigned is not None:
                r = s.reassigned
                return f"{r.at:%H:%M} {r.by} 改派：{r.reason}"
            return None
        if role == Qt.ItemDataRole.BackgroundRole:
            level = self.urgency(s)
            return QBrush(RED if level == 2 else AMBER) if level else None
        if role == Qt.ItemDataRole.ForegroundRole and column == self.COL_WAITED:
            level = self.urgency(s)
            return QBrush(RED_TEXT if level == 2 else AMBER_TEXT) if level else None
        if role == Qt.ItemDataRole.FontRole and column == self.COL_WAITED and self.urgency(s):
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _display(self, s: BoardSession, column: int) -> str:
        if column == self.COL_STATE:
            return _label(SessionState, s.state)
        if column == self.COL_SUMMARY:
            return s.summary.replace("\n", " ")
        if column == self.COL_CHANNEL:
            return _label(Channel, s.channel)
        if column == self.COL_SERVICE:
            return _label(ServiceType, s.service_type)
        if column == self.COL_ASSIGNEE:
            if s.assignee_id is None:
                return "（待接入）"
            return self._names.get(s.assignee_id, f"#{s.assignee_id}")
        if column == self.COL_WAITED:
            return waited_text(s.waited_seconds(self.now()))
        if column == self.COL_WALKTHROUGH:
            return s.walkthrough
        if column == self.COL_SHARE:
            states = {"live": "已发链接", "opened": "群众已打开", "consented": "共享中"}
            return states.get(s.share_state, "") if s.share_live else ""
        return ""

    # -- drag ----------------------------------------------------------------------------------

    def mimeTypes(self) -> list[str]:
        return [SESSION_MIME]

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        rows = sorted({i.row() for i in indexes if i.isValid()})
        return encode_sessions([self._rows[r] for r in rows if 0 <= r < len(self._rows)])
