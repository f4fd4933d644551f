"""Qt models of the team's figures (one row per indicator, a column per agent) and of
the rectification list (差评整改), overdue ones highlighted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from core.calendar import WorkCalendar
from core.enums import EVALUATION_LABELS
from core.figures import TeamFigures, indicator_text, indicator_value, indicators
from core.rectifications import Rectification
from ui.models.base import RowTableModel

Index = QModelIndex | QPersistentModelIndex

RectificationIdRole = Qt.ItemDataRole.UserRole + 1
OverdueRole = Qt.ItemDataRole.UserRole + 2

RED = QColor("#fde0dc")
RED_TEXT = QColor("#b3261e")
GREY_TEXT = QColor("#757575")
PENDING_TEXT = QColor("#e65100")


class FiguresTableModel(QAbstractTableModel):
    """Indicators down, the team and each agent across."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._figures: TeamFigures | None = None
        self._rows = indicators()

    def set_figures(self, figures: TeamFigures | None) -> None:
        self.beginResetModel()
        self._figures = figures
        self.endResetModel()

    @property
    def figures(self) -> TeamFigures | None:
        return self._figures

    def _columns(self) -> list[tuple[str, Any]]:
        if self._figures is None:
            return []
        return [("班组合计", self._figures.team)] + [
            (a.name, a.figures) for a in self._figures.agents
        ]

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() or self._figures is None else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._columns())

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            columns = self._columns()
            return columns[section][0] if 0 <= section < len(columns) else None
        if self._figures is not None and 0 <= section < len(self._rows):
            return self._rows[section].label
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        columns = self._columns()
        if not index.isValid() or not columns:
            return None
        if not (0 <= index.row() < len(self._rows) and 0 <= index.column() < len(columns)):
            return None
        ind = self._rows[index.row()]
        figures = columns[index.column()][1]
        value = indicator_value(figures, ind.key)
        if role == Qt.ItemDataRole.DisplayRole:
            return indicator_text(ind, value)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ForegroundRole and ind.key == "overdue_rect" and value:
            return QBrush(RED_TEXT)
        if role == Qt.ItemDataRole.FontRole and index.column() == 0:
            font = QFont()
            font.setBold(True)
            return font
        return None


class RectificationModel(RowTableModel):
    """The team's rectifications: soonest deadline first, overdue ones in red."""

    COLUMNS = ("诉求", "评价", "整改期限", "剩余", "状态", "负责人", "承办坐席")
    COL_SUMMARY, COL_SCORE, COL_DEADLINE, COL_LEFT, COL_STATE, COL_ASSIGNEE, COL_AGENT = range(7)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Rectification] = []
        self._names: Mapping[int, str] = {}
        self.calendar = WorkCalendar.builtin()
        self.today: Callable[[], date] = date.today

    def set_rectifications(
        self,
        rows: list[Rectification],
        names: Mapping[int, str],
        calendar: WorkCalendar | None = None,
    ) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._names = dict(names)
        if calendar is not None:
            self.calendar = calendar
        self.endResetModel()

    def rectification_at(self, row: int) -> Rectification | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, rectification_id: str) -> int:
        for i, r in enumerate(self._rows):
            if r.id == rectification_id:
                return i
        return -1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        r = self._rows[index.row()]
        column = index.column()
        overdue = r.overdue(self.today()) and not r.is_closed
        if role == RectificationIdRole:
            return r.id
        if role == OverdueRole:
            return overdue
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(r, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.COL_SUMMARY:
                return r.summary
            if column == self.COL_SCORE and r.comment:
                return f"群众评价：{r.comment}"
            if column == self.COL_DEADLINE and r.deadline_provisional:
                return "次年工作日历尚未公布，期限按周末推算，为暂定"
            return None
        if role == Qt.ItemDataRole.BackgroundRole and overdue:
            return QBrush(RED)
        if role == Qt.ItemDataRole.ForegroundRole:
            if overdue and column in (self.COL_DEADLINE, self.COL_LEFT):
                return QBrush(RED_TEXT)
            if r.is_closed:
                return QBrush(GREY_TEXT)
            if r.pending and column == self.COL_STATE:
                return QBrush(PENDING_TEXT)
        if role == Qt.ItemDataRole.FontRole and overdue and column == self.COL_LEFT:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _display(self, r: Rectification, column: int) -> str:
        if column == self.COL_SUMMARY:
            return r.summary.replace("\n", " ") or r.session_id
        if column == self.COL_SCORE:
            return EVALUATION_LABELS.get(r.score or 0, "")
        if column == self.COL_DEADLINE:
            return r.deadline.isoformat() + ("（暂定）" if r.deadline_provisional else "")
        if column == self.COL_LEFT:
            if r.is_closed:
                when = r.closed_at.date().isoformat() if r.closed_at else ""
                late = "，逾期办结" if r.overdue(self.today()) else ""
                return f"{when} 办结{late}"
            left = r.working_days_left(self.calendar, self.today())
            if left < 0:
                return f"逾期 {-left} 个工作日"
            return "今日到期" if left == 0 else f"{left} 个工作日"
        if column == self.COL_STATE:
            return r.state_label + ("（待同步）" if r.pending else "")
        if column == self.COL_ASSIGNEE:
            return self._names.get(r.assignee_id, "") if r.assignee_id is not None else "未分派"
        if column == self.COL_AGENT:
            if r.session_assignee_id is None:
                return ""
            return self._names.get(r.session_assignee_id, "")
        return ""
