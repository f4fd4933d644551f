"""审计日志: the admins' view of the audit trail, with filters, paging and a CSV export.

A standalone widget (``AdminAuditPane(workers, api)``) for the admin page to add as a
tab (``AdminPane.add_tab(pane, pane.title())``). It reads
``GET /api/v1/admin/audit`` on the network worker; the export asks where to save
(``ui.asking.ask_save_file``) and writes the server's own CSV (UTF-8 with BOM), so
the export is audited on the server too.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.audit import AuditRow
from sync.client import ApiClient
from sync.errors import SyncError
from ui.asking import ask_save_file
from ui.models.audit import AuditTableModel
from ui.operations import EXPECTED, Op, Operations, Outcome
from ui.tasks import owned_slot
from ui.worker import Workers

PAGE_SIZE = 100

ACTION_FILTERS: tuple[tuple[str, str], ...] = (
    ("", "全部操作"),
    ("auth", "登录与退出"),
    ("auth.login_failed", "登录失败"),
    ("session.reveal", "查看完整号码"),
    ("session", "会话（改派、查看号码）"),
    ("mutation", "同步操作（坐席的每一步）"),
    ("share", "屏幕共享"),
    ("calendar", "工作日历"),
    ("user", "用户管理"),
    ("walkthrough", "导办脚本"),
    ("rectification", "差评整改"),
    ("audit", "审计日志导出"),
)


class AdminAuditPane(QWidget):
    """Filters on top, the table, paging and export below."""

    loaded = Signal(int)
    """The total number of rows matching the filters, after each load."""
    exported = Signal(str)
    """The path of a written export."""

    def __init__(
        self,
        workers: Workers,
        api: ApiClient,
        parent: QWidget | None = None,
        *,
        page_size: int = PAGE_SIZE,
        ops: Operations | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("adminAuditPane")
        self.workers = workers
        self.ops = ops if ops is not None else Operations(workers, parent=self)
        self.api = api
        self.page_size = page_size
        self.offset = 0
        self.total = 0
        self._busy = False
        self._shown_once = False

        self.actor_edit = QLineEdit()
        self.actor_edit.setPlaceholderText(self.tr("用户名或用户编号"))
        self.actor_edit.setClearButtonEnabled(True)
        self.actor_edit.setMinimumWidth(150)
        self.action_combo = QComboBox()
        for code, label in ACTION_FILTERS:
            self.action_combo.addItem(self.tr(label), code)
        self.by_date = QCheckBox(self.tr("按日期"))
        today = QDate.currentDate()
        self.since_edit = QDateEdit(today.addDays(-7))
        self.until_edit = QDateEdit(today)
        for edit in (self.since_edit, self.until_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
        self.by_date.toggled.connect(self.since_edit.setEnabled)
        self.by_date.toggled.connect(self.until_edit.setEnabled)
        self.search_button = QPushButton(self.tr("查询"))
        self.search_button.setDefault(True)
        self.export_button = QPushButton(self.tr("导出 CSV…"))
        self.export_button.setToolTip(
            self.tr("按当前筛选条件导出全部记录（导出本身也会记入审计日志）")
        )

        filters = QHBoxLayout()
        filters.setSpacing(8)
        filters.addWidget(QLabel(self.tr("操作人")))
        filters.addWidget(self.actor_edit)
        filters.addSpacing(8)
        filters.addWidget(QLabel(self.tr("操作")))
        filters.addWidget(self.action_combo)
        filters.addSpacing(8)
        filters.addWidget(self.by_date)
        filters.addWidget(self.since_edit)
        filters.addWidget(QLabel(self.tr("至")))
        filters.addWidget(self.until_edit)
        filters.addStretch(1)
        filters.addWidget(self.search_button)
        filters.addWidget(self.export_button)

        self.model = AuditTableModel(self)
        self.table = QTableView()
        self.table.setObjectName("auditTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((150, 110, 170, 230, 110, 160)):
            self.table.setColumnWidth(column, width)

        self.status = QLabel()
        self.status.setObjectName("auditStatus")
        self.error = QLabel()
        self.error.setObjectName("auditError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(
            "background: #fde0dc; color: #8c1d18; padding: 6px; border-radius: 4px;"
        )
        self.error.hide()
        self.prev_button = QPushButton(self.tr("上一页"))
        self.next_button = QPushButton(self.tr("下一页"))
        paging = QHBoxLayout()
        paging.addWidget(self.status, 1)
        paging.addWidget(self.prev_button)
        paging.addWidget(self.next_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(filters)
        layout.addWidget(self.error)
        layout.addWidget(self.table, 1)
        layout.addLayout(paging)

        self.search_button.clicked.connect(self._on_search_clicked)
        self.actor_edit.returnPressed.connect(self._on_search_clicked)
        self.prev_button.clicked.connect(self._on_prev_clicked)
        self.next_button.clicked.connect(self._on_next_clicked)
        self.export_button.clicked.connect(self._on_export_clicked)
        self._update_paging()

    def title(self) -> str:
        return self.tr("审计日志")

    # -- filters --------------------------------------------------------------------------

    def filters(self) -> dict[str, Any]:
        """The query parameters the widgets describe (read before any await)."""
        params: dict[str, Any] = {}
        actor = self.actor_edit.text().strip()
        if actor:
            params["actor"] = actor
        action = str(self.action_combo.currentData() or "")
        if action:
            params["action"] = action
        if self.by_date.isChecked():
            since: date = self.since_edit.date().toPython()  # type: ignore[assignment]
            until: date = self.until_edit.date().toPython()  # type: ignore[assignment]
            params["since"] = datetime.combine(since, time.min).isoformat(timespec="seconds")
            params["until"] = datetime.combine(until, time(23, 59, 59)).isoformat(
                timespec="seconds"
            )
        return params

    # -- loading --------------------------------------------------------------------------

    async def load(self, offset: int = 0) -> None:
        """Load one page of rows matching the filters."""
        params = self.filters()
        params.update(limit=self.page_size, offset=max(0, offset))
        self._set_busy(True)
        try:
            outcome: Outcome[Any] = await self.ops.run(
                Op(
                    net=lambda: self._fetch(params),
                    report=self._show_error,
                    prefix=self.tr("无法读取审计日志："),
                )
            )
        finally:
            self._set_busy(False)
        if not outcome.ok or outcome.value is None:
            return
        page = outcome.value
        self.error.hide()
        self.offset = int(page.get("offset", 0))
        self.total = int(page.get("total", 0))
        self.model.set_rows([AuditRow.from_wire(r) for r in page.get("rows", [])])
        self._update_paging()
        self.loaded.emit(self.total)

    def _fetch(self, params: dict[str, Any]) -> dict[str, Any]:
        answer = self.api.get("/admin/audit", **params)
        if not isinstance(answer, dict) or not isinstance(answer.get("rows"), list):
            raise SyncError("服务器返回的数据格式不对")
        return answer

    async def export(self) -> Path | None:
        params = self.filters()
        suggested = Path.home() / f"审计日志_{datetime.now():%Y%m%d_%H%M}.csv"
        path = await ask_save_file(
            self, self.tr("导出审计日志"), suggested, self.tr("CSV 文件 (*.csv)"), suffix=".csv"
        )
        if path is None:
            return None
        self._set_busy(True)
        try:
            outcome: Outcome[Any] = await self.ops.run(
                Op(
                    net=lambda: self.api.download("/admin/audit", **params, format="csv"),
                    db=path.write_bytes,
                    report=self._show_error,
                    prefix=self.tr("导出失败："),
                    expected=(*EXPECTED, OSError),
                )
            )
        finally:
            self._set_busy(False)
        if not outcome.ok:
            return None
        self.error.hide()
        self.status.setText(self.tr("已导出到 {0}").format(path))
        self.exported.emit(str(path))
        return path

    # -- showing --------------------------------------------------------------------------

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        for button in (self.search_button, self.export_button):
            button.setEnabled(not busy)
        self._update_paging()

    def _update_paging(self) -> None:
        shown = self.model.rowCount()
        if self.total == 0:
            self.status.setText(self.tr("没有符合条件的记录") if not self._busy else "")
        else:
            self.status.setText(
                self.tr("第 {0}–{1} 条，共 {2} 条").format(
                    self.offset + 1, self.offset + shown, self.total
                )
            )
        self.prev_button.setEnabled(not self._busy and self.offset > 0)
        self.next_button.setEnabled(not self._busy and self.offset + shown < self.total)

    # -- slots ----------------------------------------------------------------------------

    @owned_slot()
    async def _on_search_clicked(self) -> None:
        await self.load(0)

    @owned_slot()
    async def _on_prev_clicked(self) -> None:
        await self.load(max(0, self.offset - self.page_size))

    @owned_slot()
    async def _on_next_clicked(self) -> None:
        await self.load(self.offset + self.page_size)

    @owned_slot()
    async def _on_export_clicked(self) -> None:
        await self.export()

    def showEvent(self, event: Any) -> None:
        """The first time the tab is shown, the newest rows are loaded."""
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self._on_search_clicked()
