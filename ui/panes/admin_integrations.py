"""对接系统: the admins' integration keys and the callbacks that fail to arrive.

A standalone widget (``AdminIntegrationsPane(workers, api)``) for the admin page to add
as a tab (``AdminPane.add_tab(pane, pane.title())``), like the audit log. Everything goes
through the server's admin routes on the network worker (``/admin/api-keys``,
``/admin/webhooks``); a new key and its signing secret are shown once, in the pane, to
be copied to the other system.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from sync.client import ApiClient
from sync.errors import SyncError
from ui.asking import ask_yes_no
from ui.models.integrations import ApiKeyTableModel, RowRole, WebhookTableModel
from ui.operations import Op, Operations, Outcome
from ui.tasks import owned_slot
from ui.worker import Workers


def _table(model: Any, widths: tuple[int, ...]) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    for column, width in enumerate(widths):
        table.setColumnWidth(column, width)
    return table


class AdminIntegrationsPane(QWidget):
    """Keys on top (make, revoke), failing callbacks below (try again now)."""

    loaded = Signal()
    key_created = Signal(str)
    """The id of a key just made."""

    def __init__(
        self,
        workers: Workers,
        api: ApiClient,
        parent: QWidget | None = None,
        *,
        ops: Operations | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("adminIntegrationsPane")
        self.workers = workers
        self.ops = ops if ops is not None else Operations(workers, parent=self)
        self.api = api
        self._shown_once = False

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(self.tr("对接系统名称，如 12345热线"))
        self.name_edit.setMaxLength(64)
        self.teams_edit = QLineEdit()
        self.teams_edit.setPlaceholderText(self.tr("班组编号，多个用逗号分隔，如 team-zx"))
        self.callback_edit = QLineEdit()
        self.callback_edit.setPlaceholderText(self.tr("https://…（选填，会话进展时通知对方）"))
        self.create_button = QPushButton(self.tr("新建密钥"))
        form = QFormLayout()
        form.addRow(self.tr("名称"), self.name_edit)
        form.addRow(self.tr("班组"), self.teams_edit)
        form.addRow(self.tr("回调地址"), self.callback_edit)
        create_row = QHBoxLayout()
        create_row.addLayout(form, 1)
        create_row.addWidget(self.create_button)
        self.secret_view = QPlainTextEdit()
        self.secret_view.setObjectName("newKeySecrets")
        self.secret_view.setReadOnly(True)
        self.secret_view.setMaximumHeight(84)
        self.secret_view.hide()

        self.keys = ApiKeyTableModel(self)
        self.keys_table = _table(self.keys, (110, 130, 100, 120, 260, 150))
        self.revoke_button = QPushButton(self.tr("吊销所选密钥…"))
        keys_box = QGroupBox(self.tr("集成密钥"))
        keys_layout = QVBoxLayout(keys_box)
        keys_layout.addLayout(create_row)
        keys_layout.addWidget(self.secret_view)
        keys_layout.addWidget(self.keys_table, 1)
        keys_buttons = QHBoxLayout()
        keys_buttons.addStretch(1)
        keys_buttons.addWidget(self.revoke_button)
        keys_layout.addLayout(keys_buttons)

        self.webhooks = WebhookTableModel(self)
        self.webhooks_table = _table(self.webhooks, (60, 80, 230, 70, 280, 130))
        self.webhook_status = QLabel()
        self.webhook_status.setObjectName("webhookStatus")
        self.retry_button = QPushButton(self.tr("立即重试所选回调"))
        self.refresh_button = QPushButton(self.tr("刷新"))
        hooks_box = QGroupBox(self.tr("发送失败的回调"))
        hooks_layout = QVBoxLayout(hooks_box)
        hooks_layout.addWidget(self.webhooks_table, 1)
        hooks_buttons = QHBoxLayout()
        hooks_buttons.addWidget(self.webhook_status, 1)
        hooks_buttons.addWidget(self.refresh_button)
        hooks_buttons.addWidget(self.retry_button)
        hooks_layout.addLayout(hooks_buttons)

        self.error = QLabel()
        self.error.setObjectName("integrationsError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(
            "background: #fde0dc; color: #8c1d18; padding: 6px; border-radius: 4px;"
        )
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addWidget(self.error)
        layout.addWidget(keys_box, 3)
        layout.addWidget(hooks_box, 2)

        self.create_button.clicked.connect(self._on_create_clicked)
        self.revoke_button.clicked.connect(self._on_revoke_clicked)
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.refresh_button.clicked.connect(self._on_refresh_clicked)

    def title(self) -> str:
        return self.tr("对接系统")

    # -- work -----------------------------------------------------------------------------

    async def load(self) -> None:
        fetched = await self._call(self._fetch, self.tr("无法读取对接系统："))
        if fetched is None:
            return
        keys, hooks = fetched
        self.error.hide()
        self.keys.set_rows(keys)
        self.webhooks.set_rows(hooks.get("rows", []))
        total = int(hooks.get("total", 0))
        self.webhook_status.setText(
            self.tr("有 {0} 条回调发送失败，将按退避时间自动重试").format(total)
            if total
            else self.tr("没有发送失败的回调")
        )
        self.loaded.emit()

    def _fetch(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        keys = self.api.get("/admin/api-keys")
        hooks = self.api.get("/admin/webhooks", state="failing")
        if not isinstance(keys, list) or not isinstance(hooks, dict):
            raise SyncError("服务器返回的数据格式不对")
        return keys, hooks

    async def create_key(self) -> None:
        teams = [t.strip() for t in self.teams_edit.text().replace("，", ",").split(",")]
        body = {
            "name": self.name_edit.text().strip(),
            "team_ids": [t for t in teams if t],
            "callback_url": self.callback_edit.text().strip(),
        }
        if not body["name"] or not body["team_ids"]:
            self._show_error(self.tr("请填写名称和至少一个班组编号"))
            return
        made = await self._call(
            lambda: self.api.post("/admin/api-keys", body),
            self.tr("未能新建密钥："),
            trigger=self.create_button,
        )
        if made is None:
            return
        self.secret_view.setPlainText(
            self.tr(
                "集成密钥：{0}\n回调签名密钥：{1}\n以上两项只显示这一次，请立即交给对接系统妥善保存。"
            ).format(made["key"], made["signing_secret"])
        )
        self.secret_view.show()
        for edit in (self.name_edit, self.teams_edit, self.callback_edit):
            edit.clear()
        self.key_created.emit(str(made["id"]))
        await self.load()

    def _selected(self, table: QTableView) -> dict[str, Any] | None:
        rows = table.selectionModel().selectedRows()
        if not rows:
            return None
        value = table.model().data(rows[0], RowRole)
        return value if isinstance(value, dict) else None

    async def revoke(self) -> None:
        row = self._selected(self.keys_table)
        if row is None or row.get("revoked_at"):
            self._show_error(self.tr("请先选择一个有效的密钥"))
            return
        sure = await ask_yes_no(
            self,
            self.tr("吊销密钥"),
            self.tr(
                "吊销后「{0}」将不能再送入会话（已送入会话的回调照常发送）。确定吊销吗？"
            ).format(row["name"]),
            yes=self.tr("吊销"),
            no=self.tr("取消"),
        )
        if not sure:
            return
        outcome: Outcome[Any] = await self.ops.run(
            Op(
                net=lambda: self.api.delete(f"/admin/api-keys/{row['id']}"),
                report=self._show_error,
                prefix=self.tr("未能吊销："),
                trigger=self.revoke_button,
            )
        )
        if outcome.ok:
            await self.load()

    async def retry(self) -> None:
        row = self._selected(self.webhooks_table)
        if row is None:
            self._show_error(self.tr("请先选择一条回调"))
            return
        outcome: Outcome[Any] = await self.ops.run(
            Op(
                net=lambda: self.api.post(f"/admin/webhooks/{row['id']}/retry"),
                report=self._show_error,
                prefix=self.tr("未能重试："),
                trigger=self.retry_button,
            )
        )
        if not outcome.ok:
            return
        self.webhook_status.setText(self.tr("已安排立即重试"))
        await self.load()

    async def _call(
        self, net: Callable[[], Any], prefix: str, *, trigger: QWidget | None = None
    ) -> Any:
        """One call to the server as an op; its value, or None once the failure is shown."""
        outcome: Outcome[Any] = await self.ops.run(
            Op(net=net, report=self._show_error, prefix=prefix, trigger=trigger)
        )
        return outcome.value if outcome.ok else None

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    # -- slots ----------------------------------------------------------------------------

    @owned_slot()
    async def _on_create_clicked(self) -> None:
        await self.create_key()

    @owned_slot()
    async def _on_revoke_clicked(self) -> None:
        await self.revoke()

    @owned_slot()
    async def _on_retry_clicked(self) -> None:
        await self.retry()

    @owned_slot()
    async def _on_refresh_clicked(self) -> None:
        await self.load()

    def showEvent(self, event: Any) -> None:
        """The first time the tab is shown, keys and failing callbacks are loaded."""
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self._on_refresh_clicked()
