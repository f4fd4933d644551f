"""管理: the admin's page (admins only).

Tabs:

* 纠错/新问题 — the review list of reports staff send from the knowledge pane
  (``GET /admin/knowledge-feedback``); 处理 accepts or rejects one with a note
  (``POST …/{id}/resolve``; the first admin to answer wins, a second is told who).
* 用户 — every account; 新建用户, 编辑 (name, role, team, staff number, capacity),
  停用 / 启用 (a deactivated user is signed out at once), 重置密码.
* 工作日历 — one year at a time: a month grid with holidays in red and 调休 working
  days in blue, and the list of those days; mark the selected day, then 保存 (``PUT
  /admin/calendar/{year}``), which every client pulls with its next sync.

More tabs (an 审计日志, say) are added with :meth:`AdminPane.add_tab`. Every call
goes to the server as a :class:`ui.operations.Op` with the account's ``ApiClient``;
every question is a dialog future (``ui.asking``), never a nested event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from datetime import date
from functools import partial
from typing import Any

import shiboken6
from PySide6.QtCore import QDate, QLocale, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QShowEvent, QTextCharFormat
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCalendarWidget,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.accounts import NewUser, UserEdit
from core.calendar import MAX_YEAR, MIN_YEAR, check_year_schedule
from sync.client import ApiClient
from ui.asking import ask_yes_no
from ui.banner import Banner
from ui.dialogs.admin_dialogs import PasswordDialog, ResolveFeedbackDialog, UserDialog
from ui.dialogs.session_dialogs import Choice
from ui.focus import focus_into
from ui.models.admin import (
    HOLIDAY,
    WORKDAY,
    AdminUser,
    CalendarDaysModel,
    FeedbackItem,
    FeedbackModel,
    UserModel,
)
from ui.operations import Op, Operations, Outcome
from ui.tasks import cancel_owned, owned_slot, spawn
from ui.worker import Workers

log = logging.getLogger(__name__)

HOLIDAY_RED = QColor("#c62828")
WORKDAY_BLUE = QColor("#1565c0")

HEADER_STYLE = (
    "QHeaderView::section { padding: 4px 10px; border: none; border-right: 1px solid #dfe3e8;"
    " border-bottom: 1px solid #cfd6dd; background: #f3f5f8; color: #37474f; }"
)


def _table(view: QTableView) -> QTableView:
    view.horizontalHeader().setStyleSheet(HEADER_STYLE)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.verticalHeader().hide()
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.horizontalHeader().setHighlightSections(False)
    return view


def _enable(widget: QWidget, enabled: bool = True) -> None:
    """Enable a widget from a ``finally`` that may run after the window was destroyed
    (a task cancelled by the close)."""
    if shiboken6.isValid(widget):
        widget.setEnabled(enabled)


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


def _pydate(day: QDate) -> date:
    return date(day.year(), day.month(), day.day())


class AdminPane(QWidget):
    """The admin's page: feedback review, users, the working-day calendar."""

    feedback_loaded = Signal()
    users_loaded = Signal()
    calendar_loaded = Signal()
    calendar_saved = Signal(int)
    """The year the server saved."""
    feedback_resolved = Signal(str)
    user_saved = Signal(int)

    TAB_FEEDBACK, TAB_USERS, TAB_CALENDAR = range(3)

    def __init__(
        self,
        workers: Workers,
        api: ApiClient,
        *,
        me_id: int | None = None,
        today: Callable[[], date] = date.today,
        ops: Operations | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.workers = workers
        self.ops = ops if ops is not None else Operations(workers, parent=self)
        self.api = api
        self.me_id = me_id
        self.today = today
        self.teams: list[tuple[str, str]] = []
        self.holidays: set[date] = set()
        self.workdays: set[date] = set()
        self.calendar_source = ""
        self.calendar_year = today().year
        self.calendar_published = False
        self._saved_days: tuple[frozenset[date], frozenset[date], str] = (
            frozenset(),
            frozenset(),
            "",
        )
        self._loaded = False

        self.message = Banner("adminMessage")

        self.tabs = QTabWidget()
        self.tabs.setObjectName("adminTabs")
        self.tabs.addTab(self._build_feedback_page(), self.tr("纠错/新问题"))
        self.tabs.addTab(self._build_users_page(), self.tr("用户"))
        self.tabs.addTab(self._build_calendar_page(), self.tr("工作日历"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)

    # -- building ---------------------------------------------------------------------------

    def _build_feedback_page(self) -> QWidget:
        page = QWidget()
        self.feedback_filter = QComboBox()
        self.feedback_filter.setObjectName("feedbackFilter")
        self.feedback_filter.addItem(self.tr("待处理"), "open")
        self.feedback_filter.addItem(self.tr("已处理"), "resolved")
        self.feedback_filter.addItem(self.tr("全部"), "all")
        self.feedback_count = QLabel()
        self.resolve_button = QPushButton(self.tr("处理…"))
        self.resolve_button.setObjectName("resolveButton")
        self.resolve_button.setToolTip(self.tr("采纳或不采纳所选反馈（双击亦可）"))
        self.resolve_button.setEnabled(False)
        self.feedback_refresh = QPushButton(self.tr("刷新"))
        controls = QHBoxLayout()
        controls.addWidget(QLabel(self.tr("显示")))
        controls.addWidget(self.feedback_filter)
        controls.addWidget(self.feedback_count)
        controls.addStretch(1)
        controls.addWidget(self.resolve_button)
        controls.addWidget(self.feedback_refresh)
        self.feedback_model = FeedbackModel(self)
        self.feedback_view = _table(QTableView())
        self.feedback_view.setObjectName("feedbackView")
        self.feedback_view.setModel(self.feedback_model)
        header = self.feedback_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(FeedbackModel.COL_TEXT, QHeaderView.ResizeMode.Stretch)
        for column, width in (
            (FeedbackModel.COL_KIND, 72),
            (FeedbackModel.COL_ENTRY, 260),
            (FeedbackModel.COL_AUTHOR, 90),
            (FeedbackModel.COL_WHEN, 130),
            (FeedbackModel.COL_STATE, 80),
        ):
            self.feedback_view.setColumnWidth(column, width)
        self.feedback_detail = QLabel()
        self.feedback_detail.setObjectName("feedbackDetail")
        self.feedback_detail.setWordWrap(True)
        self.feedback_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.feedback_detail.setStyleSheet(
            "background: #f5f7fa; border: 1px solid #dfe3e8; border-radius: 4px; padding: 8px;"
        )
        self.feedback_detail.setMinimumHeight(64)
        self.feedback_detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 6, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.feedback_view, 1)
        layout.addWidget(self.feedback_detail)
        self.feedback_filter.currentIndexChanged.connect(self._on_feedback_filter_changed)
        self.feedback_refresh.clicked.connect(self._on_feedback_refresh_clicked)
        self.resolve_button.clicked.connect(self._on_resolve_button_clicked)
        self.feedback_view.activated.connect(self._on_feedback_view_activated)
        self.feedback_view.selectionModel().selectionChanged.connect(
            self._on_feedback_selection_changed
        )
        return page

    def _build_users_page(self) -> QWidget:
        page = QWidget()
        self.new_user_button = QPushButton(self.tr("新建用户…"))
        self.new_user_button.setObjectName("newUserButton")
        self.edit_user_button = QPushButton(self.tr("编辑…"))
        self.active_button = QPushButton(self.tr("停用"))
        self.active_button.setObjectName("activeButton")
        self.password_button = QPushButton(self.tr("重置密码…"))
        self.users_refresh = QPushButton(self.tr("刷新"))
        self.users_count = QLabel()
        controls = QHBoxLayout()
        controls.addWidget(self.new_user_button)
        controls.addWidget(self.edit_user_button)
        controls.addWidget(self.active_button)
        controls.addWidget(self.password_button)
        controls.addSpacing(12)
        controls.addWidget(self.users_count)
        controls.addStretch(1)
        controls.addWidget(self.users_refresh)
        self.user_model = UserModel(self)
        self.users_view = _table(QTableView())
        self.users_view.setObjectName("usersView")
        self.users_view.setModel(self.user_model)
        header = self.users_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(UserModel.COL_TEAM, QHeaderView.ResizeMode.Stretch)
        for column, width in (
            (UserModel.COL_USERNAME, 130),
            (UserModel.COL_NAME, 110),
            (UserModel.COL_ROLE, 90),
            (UserModel.COL_STAFF, 110),
            (UserModel.COL_CAPACITY, 90),
            (UserModel.COL_ACTIVE, 80),
        ):
            self.users_view.setColumnWidth(column, width)
        hint = QLabel(
            self.tr("停用或重置密码后，该用户在所有设备上立即退出登录。密码不会显示或记录。")
        )
        hint.setStyleSheet("color: #607d8b;")
        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 6, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.users_view, 1)
        layout.addWidget(hint)
        self.new_user_button.clicked.connect(self._on_new_user_button_clicked)
        self.edit_user_button.clicked.connect(self._on_edit_user_button_clicked)
        self.active_button.clicked.connect(self._on_active_button_clicked)
        self.password_button.clicked.connect(self._on_password_button_clicked)
        self.users_refresh.clicked.connect(self._on_users_refresh_clicked)
        self.users_view.activated.connect(self._on_users_view_activated)
        self.users_view.selectionModel().selectionChanged.connect(self._on_users_selection_changed)
        self._update_user_buttons()
        return page

    def _build_calendar_page(self) -> QWidget:
        page = QWidget()
        self.year_spin = QSpinBox()
        self.year_spin.setObjectName("yearSpin")
        self.year_spin.setRange(MIN_YEAR, MAX_YEAR)
        self.year_spin.setValue(self.calendar_year)
        self.year_spin.setSuffix(self.tr(" 年"))
        self.year_spin.setKeyboardTracking(False)
        self.calendar_state = QLabel()
        self.calendar_state.setObjectName("calendarState")
        self.calendar_source_edit = QLineEdit()
        self.calendar_source_edit.setObjectName("calendarSource")
        self.calendar_source_edit.setMaxLength(256)
        self.calendar_source_edit.setPlaceholderText(
            self.tr("依据，如：国务院办公厅关于2026年部分节假日安排的通知")
        )
        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("年份")))
        top.addWidget(self.year_spin)
        top.addWidget(self.calendar_state)
        top.addSpacing(16)
        top.addWidget(QLabel(self.tr("依据")))
        top.addWidget(self.calendar_source_edit, 1)

        self.month_grid = QCalendarWidget()
        self.month_grid.setObjectName("monthGrid")
        self.month_grid.setGridVisible(True)
        # Month and weekday names in Chinese, whatever the machine's locale.
        self.month_grid.setLocale(QLocale(QLocale.Language.Chinese, QLocale.Country.China))
        self.month_grid.setFirstDayOfWeek(Qt.DayOfWeek.Monday)
        self.month_grid.setVerticalHeaderFormat(
            QCalendarWidget.VerticalHeaderFormat.NoVerticalHeader
        )
        self.month_grid.setMinimumSize(420, 300)
        self.holiday_button = QPushButton(self.tr("设为假日"))
        self.holiday_button.setObjectName("holidayButton")
        self.holiday_button.setToolTip(self.tr("所选日期休息，不计入工作日"))
        self.workday_button = QPushButton(self.tr("设为调休上班"))
        self.workday_button.setObjectName("workdayButton")
        self.workday_button.setToolTip(self.tr("所选周末调休上班，计入工作日"))
        self.plain_button = QPushButton(self.tr("恢复为普通日"))
        self.plain_button.setObjectName("plainButton")
        marks = QHBoxLayout()
        marks.addWidget(self.holiday_button)
        marks.addWidget(self.workday_button)
        marks.addWidget(self.plain_button)
        marks.addStretch(1)
        legend = QLabel(
            self.tr(
                "<span style='color:#c62828'>■</span> 法定假日　"
                "<span style='color:#1565c0'>■</span> 调休上班　周末默认休息"
            )
        )
        legend.setStyleSheet("color: #546e7a;")
        left = QVBoxLayout()
        left.addWidget(self.month_grid, 1)
        left.addLayout(marks)
        left.addWidget(legend)

        self.days_model = CalendarDaysModel(self)
        self.days_view = _table(QTableView())
        self.days_view.setObjectName("daysView")
        self.days_view.setModel(self.days_model)
        self.days_view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.days_view.horizontalHeader().setStretchLastSection(True)
        self.days_title = QLabel()
        self.days_title.setStyleSheet("font-weight: 600; color: #263238;")
        right = QVBoxLayout()
        right.addWidget(self.days_title)
        right.addWidget(self.days_view, 1)

        body = QHBoxLayout()
        body.addLayout(left, 3)
        body.addSpacing(12)
        body.addLayout(right, 2)

        self.save_calendar_button = QPushButton(self.tr("保存到服务器"))
        self.save_calendar_button.setObjectName("saveCalendarButton")
        self.revert_calendar_button = QPushButton(self.tr("放弃修改"))
        self.calendar_dirty = QLabel()
        self.calendar_dirty.setObjectName("calendarDirty")
        bottom = QHBoxLayout()
        bottom.addWidget(self.calendar_dirty)
        bottom.addStretch(1)
        bottom.addWidget(self.revert_calendar_button)
        bottom.addWidget(self.save_calendar_button)

        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 6, 4, 4)
        layout.addLayout(top)
        layout.addLayout(body, 1)
        layout.addLayout(bottom)
        self.year_spin.valueChanged.connect(self._on_year_spin_changed)
        self.holiday_button.clicked.connect(self._on_holiday_button_clicked)
        self.workday_button.clicked.connect(self._on_workday_button_clicked)
        self.plain_button.clicked.connect(self._on_plain_button_clicked)
        self.save_calendar_button.clicked.connect(self._on_save_calendar_button_clicked)
        self.revert_calendar_button.clicked.connect(self._on_revert_calendar_button_clicked)
        self.calendar_source_edit.textEdited.connect(self._on_calendar_source_edited)
        self.month_grid.selectionChanged.connect(self._on_month_grid_selection_changed)
        self.days_view.doubleClicked.connect(self._on_days_view_double_clicked)
        self._show_calendar()
        return page

    # -- what the main window calls -----------------------------------------------------------

    def add_tab(self, widget: QWidget, title: str) -> int:
        """Add a page (an 审计日志, say) after the built-in tabs; returns its index."""
        return self.tabs.addTab(widget, title)

    async def reload(self) -> None:
        """Load every tab from the server."""
        self._loaded = True
        await asyncio.gather(self.load_feedback(), self.load_users(), self.load_calendar())

    def stop(self) -> None:
        self.message.stop()
        cancel_owned(self)

    # -- messages ----------------------------------------------------------------------------

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.message.say(text, error=error)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return spawn(coro, owner=self)

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One call to the server on the network worker; a failure is shown and None
        returned (the caller leaves its widgets as they were)."""
        outcome: Outcome[Any] = await self.ops.run(
            Op(net=partial(fn, *args, **kwargs), report=lambda t: self.show_message(t, error=True))
        )
        return outcome.value if outcome.ok else None

    # -- feedback -----------------------------------------------------------------------------

    async def load_feedback(self) -> None:
        status = self.feedback_filter.currentData() or "open"
        selected = self._selected_feedback()
        self.feedback_refresh.setEnabled(False)
        try:
            rows = await self._call(self.api.get, "/admin/knowledge-feedback", status=status)
        finally:
            _enable(self.feedback_refresh)
        if rows is None:
            return
        self.feedback_model.set_items(rows if isinstance(rows, list) else [])
        count = self.feedback_model.rowCount()
        open_count = self.feedback_model.open_count
        self.feedback_count.setText(
            self.tr("共 {0} 条，待处理 {1} 条").format(count, open_count)
            if status != "open"
            else self.tr("待处理 {0} 条").format(count)
        )
        if selected is not None and (row := self.feedback_model.row_of(selected.id)) >= 0:
            self.feedback_view.selectRow(row)
        self._on_feedback_selection_changed()
        self.feedback_loaded.emit()

    def _selected_feedback(self) -> FeedbackItem | None:
        rows = self.feedback_view.selectionModel().selectedRows()
        return self.feedback_model.item_at(rows[0].row()) if rows else None

    async def resolve(self, item: FeedbackItem) -> None:
        if not item.is_open:
            self.show_message(self.tr("该反馈已处理：{0}").format(item.status_text))
            return
        answer = await ResolveFeedbackDialog.ask(self, item)
        if answer is None:
            return
        self.resolve_button.setEnabled(False)
        try:
            done = await self._call(
                self.api.post, f"/admin/knowledge-feedback/{item.id}/resolve", asdict(answer)
            )
        finally:
            if shiboken6.isValid(self.resolve_button):
                self._on_feedback_selection_changed()
        if done is not None:
            result = FeedbackItem.from_wire(done)
            self.show_message(
                self.tr("已处理：{0}（{1}）").format(item.text[:20], result.status_text)
            )
            self.feedback_resolved.emit(item.id)
        await self.load_feedback()

    # -- users ----------------------------------------------------------------------------------

    async def load_users(self) -> None:
        self.users_refresh.setEnabled(False)
        try:
            users, teams = await asyncio.gather(
                self._call(self.api.get, "/admin/users"), self._call(self.api.get, "/teams")
            )
        finally:
            _enable(self.users_refresh)
        if teams is not None:
            self.teams = [(str(t["id"]), str(t.get("name") or t["id"])) for t in teams]
        if users is None:
            return
        selected = self._selected_user()
        self.user_model.set_users(users, dict(self.teams))
        active = self.user_model.active_count
        self.users_count.setText(
            self.tr("共 {0} 个账号，启用 {1} 个").format(self.user_model.rowCount(), active)
        )
        if selected is not None and (row := self.user_model.row_of(selected.id)) >= 0:
            self.users_view.selectRow(row)
        self._update_user_buttons()
        self.users_loaded.emit()

    def _team_choices(self) -> list[Choice]:
        return [Choice(team_id, name) for team_id, name in self.teams]

    def _selected_user(self) -> AdminUser | None:
        rows = self.users_view.selectionModel().selectedRows()
        return self.user_model.user_at(rows[0].row()) if rows else None

    def _update_user_buttons(self) -> None:
        user = self._selected_user()
        for button in (self.edit_user_button, self.active_button, self.password_button):
            button.setEnabled(user is not None)
        if user is not None and user.id == self.me_id:
            self.active_button.setEnabled(False)
            self.active_button.setToolTip(self.tr("不能停用自己的账号"))
        else:
            self.active_button.setToolTip("")
        self.active_button.setText(
            self.tr("启用") if user is not None and not user.active else self.tr("停用")
        )

    async def create_user(self) -> None:
        answer = await UserDialog.ask(self, self._team_choices())
        if not isinstance(answer, NewUser):
            return
        created = await self._call(self.api.post, "/admin/users", asdict(answer))
        if created is None:
            return
        self.show_message(
            self.tr("已创建用户 {0}（{1}），请将初始密码当面告知本人").format(
                answer.display_name, answer.username
            )
        )
        await self.load_users()
        row = self.user_model.row_of(int(created["id"]))
        if row >= 0:
            self.users_view.selectRow(row)
        self.user_saved.emit(int(created["id"]))

    async def edit_user(self, user: AdminUser) -> None:
        answer = await UserDialog.ask(self, self._team_choices(), user)
        if not isinstance(answer, UserEdit):
            return
        body: dict[str, Any] = {
            "display_name": answer.display_name,
            "role": answer.role,
            "team_id": answer.team_id or "",
            "staff_number": answer.staff_number,
            "capacity": answer.capacity,
        }
        saved = await self._call(self.api.patch, f"/admin/users/{user.id}", body)
        if saved is None:
            return
        self.show_message(self.tr("已保存 {0} 的账号信息").format(answer.display_name))
        await self.load_users()
        self.user_saved.emit(user.id)

    async def toggle_active(self, user: AdminUser) -> None:
        if user.active:
            sure = await ask_yes_no(
                self,
                self.tr("停用账号"),
                self.tr(
                    "停用 {0}（{1}）的账号？\n其所有已登录的设备立即退出，之后不能再登录；"
                    "名下未办结的会话请先改派。"
                ).format(user.display_name, user.username),
                yes=self.tr("停用"),
                no=self.tr("取消"),
            )
            if not sure:
                return
        saved = await self._call(
            self.api.patch, f"/admin/users/{user.id}", {"active": not user.active}
        )
        if saved is None:
            return
        done = self.tr("已停用 {0}，其登录已全部失效") if user.active else self.tr("已启用 {0}")
        self.show_message(done.format(user.display_name))
        await self.load_users()
        self.user_saved.emit(user.id)

    async def reset_password(self, user: AdminUser) -> None:
        password = await PasswordDialog.ask(self, user)
        if password is None:
            return
        done = await self._call(
            self.api.post, f"/admin/users/{user.id}/password", {"password": password}
        )
        del password
        if done is None:
            return
        self.show_message(
            self.tr("已为 {0} 重置密码，其 {1} 处登录已退出").format(
                user.display_name, int(done.get("tokens_revoked") or 0)
            )
        )

    # -- the calendar ---------------------------------------------------------------------------

    @property
    def calendar_changed(self) -> bool:
        return self._saved_days != (
            frozenset(self.holidays),
            frozenset(self.workdays),
            self.calendar_source,
        )

    async def load_calendar(self, year: int | None = None) -> None:
        year = year or self.year_spin.value()
        data = await self._call(self.api.get, f"/admin/calendar/{year}")
        if data is None:
            return
        self._set_year(data)
        self.calendar_loaded.emit()

    def _set_year(self, data: dict[str, Any]) -> None:
        year = int(data["year"])
        self.calendar_year = year
        self.calendar_published = bool(data.get("published", True))
        self.holidays = {date.fromisoformat(d) for d in data.get("holidays") or []}
        self.workdays = {date.fromisoformat(d) for d in data.get("workdays") or []}
        self.calendar_source = str(data.get("source") or "")
        self._saved_days = (
            frozenset(self.holidays),
            frozenset(self.workdays),
            self.calendar_source,
        )
        self.calendar_source_edit.setText(self.calendar_source)
        if self.year_spin.value() != year:
            self.year_spin.blockSignals(True)
            self.year_spin.setValue(year)
            self.year_spin.blockSignals(False)
        today = self.today()
        start = today if today.year == year else date(year, 1, 1)
        self.month_grid.setDateRange(QDate(year, 1, 1), QDate(year, 12, 31))
        self.month_grid.setSelectedDate(_qdate(start))
        self._show_calendar()

    def _show_calendar(self) -> None:
        grid = self.month_grid
        grid.setDateTextFormat(QDate(), QTextCharFormat())  # clear every format
        weekend = QTextCharFormat()
        weekend.setForeground(QBrush(QColor("#8d6e63")))
        grid.setWeekdayTextFormat(Qt.DayOfWeek.Saturday, weekend)
        grid.setWeekdayTextFormat(Qt.DayOfWeek.Sunday, weekend)
        holiday = QTextCharFormat()
        holiday.setForeground(QBrush(QColor("white")))
        holiday.setBackground(QBrush(HOLIDAY_RED))
        holiday.setFontWeight(700)
        holiday.setToolTip(self.tr("法定假日（休息）"))
        workday = QTextCharFormat()
        workday.setForeground(QBrush(QColor("white")))
        workday.setBackground(QBrush(WORKDAY_BLUE))
        workday.setFontWeight(700)
        workday.setToolTip(self.tr("调休上班"))
        for day in self.holidays:
            grid.setDateTextFormat(_qdate(day), holiday)
        for day in self.workdays:
            grid.setDateTextFormat(_qdate(day), workday)
        self.days_model.set_days(self.holidays, self.workdays)
        self.days_title.setText(
            self.tr("{0} 年：法定假日 {1} 天，调休上班 {2} 天").format(
                self.calendar_year, len(self.holidays), len(self.workdays)
            )
        )
        self.calendar_state.setText(
            self.tr("（服务器已有该年日历）")
            if self.calendar_published
            else self.tr(
                "<span style='color:#e65100'>（服务器尚无该年日历，期限按周末计算）</span>"
            )
        )
        changed = self.calendar_changed
        self.save_calendar_button.setEnabled(changed)
        self.revert_calendar_button.setEnabled(changed)
        self.calendar_dirty.setText(
            self.tr("<span style='color:#e65100'>有未保存的修改</span>") if changed else ""
        )
        self._update_mark_buttons()

    def _update_mark_buttons(self) -> None:
        day = _pydate(self.month_grid.selectedDate())
        in_year = day.year == self.calendar_year
        self.holiday_button.setEnabled(in_year and day not in self.holidays)
        self.workday_button.setEnabled(in_year and day.weekday() >= 5 and day not in self.workdays)
        self.plain_button.setEnabled(day in self.holidays or day in self.workdays)

    def mark_day(self, day: date, kind: str | None) -> None:
        """Make ``day`` a holiday, a 调休 working day, or (None) an ordinary day."""
        self.holidays.discard(day)
        self.workdays.discard(day)
        if kind == HOLIDAY:
            self.holidays.add(day)
        elif kind == WORKDAY:
            self.workdays.add(day)
        self._show_calendar()

    async def save_calendar(self) -> None:
        year = self.calendar_year
        holidays = sorted(d.isoformat() for d in self.holidays)
        workdays = sorted(d.isoformat() for d in self.workdays)
        problems = check_year_schedule(year, holidays, workdays)
        if problems:
            self.show_message("；".join(problems), error=True)
            return
        self.save_calendar_button.setEnabled(False)
        body = {"source": self.calendar_source, "holidays": holidays, "workdays": workdays}
        saved = await self._call(self.api.put, f"/admin/calendar/{year}", body)
        if saved is None:
            self._show_calendar()
            return
        self._set_year({**saved, "published": True})
        self.show_message(self.tr("{0} 年工作日历已保存，各客户端下次同步时生效").format(year))
        self.calendar_saved.emit(year)

    # -- slots ---------------------------------------------------------------------------------

    def take_focus(self) -> None:
        """The keyboard goes to the current tab's list (Enter or a double click opens
        the selected row: 处理 a report, 编辑 a user)."""
        lists: dict[int, QWidget] = {
            self.TAB_FEEDBACK: self.feedback_view,
            self.TAB_USERS: self.users_view,
            self.TAB_CALENDAR: self.month_grid,
        }
        focus_into(lists.get(self.tabs.currentIndex()) or self.tabs.currentWidget())

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._loaded:
            self._loaded = True
            self._spawn(self.reload())

    def _on_feedback_filter_changed(self, _index: int) -> None:
        self._spawn(self.load_feedback())

    @owned_slot()
    async def _on_feedback_refresh_clicked(self) -> None:
        await self.load_feedback()

    @owned_slot()
    async def _on_resolve_button_clicked(self) -> None:
        item = self._selected_feedback()
        if item is not None:
            await self.resolve(item)

    @owned_slot(QModelIndex)
    async def _on_feedback_view_activated(self, index: QModelIndex) -> None:
        item = self.feedback_model.item_at(index.row())
        if item is not None:
            await self.resolve(item)

    def _on_feedback_selection_changed(self, *_args: Any) -> None:
        item = self._selected_feedback()
        self.resolve_button.setEnabled(item is not None and item.is_open)
        if item is None:
            self.feedback_detail.setText(self.tr("选择一条反馈查看全文。"))
            return
        lines = [
            f"<b>{item.kind_text}</b>　{item.entry_title or self.tr('（未关联知识条目）')}",
            item.text.replace("<", "&lt;").replace("\n", "<br>"),
        ]
        if not item.is_open:
            note = f"：{item.resolution_note}" if item.resolution_note else ""
            lines.append(
                f"<span style='color:#546e7a'>{item.resolved_by_name} "
                f"{item.status_text}{note.replace('<', '&lt;')}</span>"
            )
        self.feedback_detail.setText("<br>".join(lines))

    @owned_slot()
    async def _on_users_refresh_clicked(self) -> None:
        await self.load_users()

    @owned_slot()
    async def _on_new_user_button_clicked(self) -> None:
        self.new_user_button.setEnabled(False)
        try:
            await self.create_user()
        finally:
            _enable(self.new_user_button)

    @owned_slot()
    async def _on_edit_user_button_clicked(self) -> None:
        user = self._selected_user()
        if user is not None:
            await self.edit_user(user)

    @owned_slot(QModelIndex)
    async def _on_users_view_activated(self, index: QModelIndex) -> None:
        user = self.user_model.user_at(index.row())
        if user is not None:
            await self.edit_user(user)

    @owned_slot()
    async def _on_active_button_clicked(self) -> None:
        user = self._selected_user()
        if user is not None:
            await self.toggle_active(user)

    @owned_slot()
    async def _on_password_button_clicked(self) -> None:
        user = self._selected_user()
        if user is not None:
            await self.reset_password(user)

    def _on_users_selection_changed(self, *_args: Any) -> None:
        self._update_user_buttons()

    @owned_slot(int)
    async def _on_year_spin_changed(self, year: int) -> None:
        if self.calendar_changed:
            keep = await ask_yes_no(
                self,
                self.tr("未保存的修改"),
                self.tr("{0} 年的修改尚未保存，放弃这些修改并切换到 {1} 年？").format(
                    self.calendar_year, year
                ),
                yes=self.tr("放弃并切换"),
                no=self.tr("留在本年"),
            )
            if not keep:
                self.year_spin.blockSignals(True)
                self.year_spin.setValue(self.calendar_year)
                self.year_spin.blockSignals(False)
                return
        await self.load_calendar(year)

    def _on_holiday_button_clicked(self) -> None:
        self.mark_day(_pydate(self.month_grid.selectedDate()), HOLIDAY)

    def _on_workday_button_clicked(self) -> None:
        self.mark_day(_pydate(self.month_grid.selectedDate()), WORKDAY)

    def _on_plain_button_clicked(self) -> None:
        self.mark_day(_pydate(self.month_grid.selectedDate()), None)

    def _on_month_grid_selection_changed(self) -> None:
        self._update_mark_buttons()

    def _on_days_view_double_clicked(self, index: QModelIndex) -> None:
        special = self.days_model.day_at(index.row())
        if special is not None:
            self.month_grid.setSelectedDate(_qdate(special.day))

    def _on_calendar_source_edited(self, text: str) -> None:
        self.calendar_source = text.strip()
        self._show_calendar()

    @owned_slot()
    async def _on_save_calendar_button_clicked(self) -> None:
        await self.save_calendar()

    def _on_revert_calendar_button_clicked(self) -> None:
        holidays, workdays, source = self._saved_days
        self.holidays, self.workdays, self.calendar_source = set(holidays), set(workdays), source
        self.calendar_source_edit.setText(source)
        self._show_calendar()
