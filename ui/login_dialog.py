"""The login dialog: server address, username, password; errors in Chinese."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from sync.account import (
    Account,
    has_offline_cache,
    keep_refresh_tokens,
    open_account_cache,
    open_offline,
)
from sync.client import ApiClient
from sync.credentials import CredentialStore
from sync.errors import AuthError, ServerBusy, ServerUnreachable, SyncError
from ui.asking import ask_yes_no
from ui.tasks import owned_slot
from ui.worker import Workers

log = logging.getLogger(__name__)


class LoginDialog(QDialog):
    """Signs a person in; ``signed_in`` carries the opened :class:`Account`."""

    signed_in = Signal(object)

    def __init__(
        self,
        workers: Workers,
        server_url: str = "",
        username: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._workers = workers
        self._server_ready = bool(server_url)
        self.server_aliases: list[str] = []
        """Earlier addresses of this server (the embedded demo server's old ports), to
        find caches named after them."""
        self.account: Account | None = None
        self.setWindowTitle(self.tr("登录 - 帮办工作台"))
        self.setMinimumWidth(420)

        title = QLabel(self.tr("帮办工作台"))
        title.setObjectName("loginTitle")
        title.setStyleSheet("font-size: 22px; font-weight: 600; margin-bottom: 4px;")
        subtitle = QLabel(self.tr("政务服务线上咨询 · 导办 · 帮办"))
        subtitle.setStyleSheet("color: #666; margin-bottom: 10px;")

        self.server_edit = QLineEdit(server_url)
        self.server_edit.setPlaceholderText("https://bangban.example.gov.cn")
        self.username_edit = QLineEdit(username)
        self.username_edit.setPlaceholderText(self.tr("工号或用户名"))
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText(self.tr("密码"))

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow(self.tr("服务器地址"), self.server_edit)
        form.addRow(self.tr("用户名"), self.username_edit)
        form.addRow(self.tr("密码"), self.password_edit)

        self.message = QLabel()
        self.message.setObjectName("loginMessage")
        self.message.setWordWrap(True)
        self.message.setMinimumHeight(36)

        self.buttons = QDialogButtonBox()
        self.login_button = self.buttons.addButton(
            self.tr("登录"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(self.tr("退出"), QDialogButtonBox.ButtonRole.RejectRole)
        self.login_button.setDefault(True)
        self.buttons.accepted.connect(self._on_login_clicked)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

        if not self._server_ready:
            self.set_waiting_for_server()
        (self.password_edit if username else self.username_edit).setFocus()

    # -- the embedded server --------------------------------------------------------

    def set_waiting_for_server(self) -> None:
        self.server_edit.setEnabled(False)
        self.login_button.setEnabled(False)
        self._show(self.tr("正在启动本机演示服务器…"), error=False)

    def set_server_ready(self, url: str, aliases: Iterable[str] = ()) -> None:
        self._server_ready = True
        self.server_aliases = [a for a in aliases if a != url]
        self.server_edit.setText(url)
        self.server_edit.setEnabled(True)
        self.login_button.setEnabled(True)
        self._show(
            self.tr("演示服务器已就绪。演示账号 agent、lead、admin，密码均为 bangban-demo"),
            error=False,
        )

    def set_server_failed(self, message: str) -> None:
        self.server_edit.setEnabled(True)
        self.login_button.setEnabled(True)
        self._show(message, error=True)

    # -- signing in -------------------------------------------------------------------

    def _show(self, text: str, *, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b3261e;" if error else "color: #37474f;")

    @classmethod
    def ask_offline(cls, parent: QWidget, message: str) -> asyncio.Future[bool]:
        """Ask whether to work offline, without a nested event loop (a future that
        resolves to the answer); tests replace this classmethod."""
        return ask_yes_no(
            parent,
            parent.tr("无法连接服务器"),
            parent.tr(
                "{0}\n\n本机有您上次登录时的缓存，是否离线工作？离线期间的操作会在联网后自动同步。"
            ).format(message),
            yes=parent.tr("离线工作"),
            no=parent.tr("取消"),
        )

    async def _offline_wanted(self, message: str) -> bool:
        answer = self.ask_offline(self, message)
        return bool(await answer) if inspect.isawaitable(answer) else bool(answer)

    @owned_slot()
    async def _on_login_clicked(self) -> None:
        server = self.server_edit.text().strip().rstrip("/")
        username = self.username_edit.text().strip()
        password = self.password_edit.text()
        if not server or not username or not password:
            self._show(self.tr("请填写服务器地址、用户名和密码"), error=True)
            return
        if not server.startswith(("http://", "https://")):
            self._show(self.tr("服务器地址应以 http:// 或 https:// 开头"), error=True)
            return
        self.login_button.setEnabled(False)
        self._show(self.tr("正在登录…"), error=False)
        try:
            account = await self._sign_in(server, username, password)
        except asyncio.CancelledError:
            raise
        except SyncError as exc:
            account = None
            offline_ok = isinstance(exc, ServerUnreachable | ServerBusy) and has_offline_cache(
                server, username
            )
            if offline_ok and await self._offline_wanted(exc.message):
                try:
                    credentials = await self._workers.on_net(CredentialStore)
                    account = await self._workers.on_db(
                        open_offline, server, username, password, credentials
                    )
                except SyncError as offline_exc:
                    self._show(offline_exc.message, error=True)
            else:
                self._show(exc.message, error=True)
        except Exception as exc:  # the person sees a message, the log the details
            log.exception("login failed")
            account = None
            self._show(self.tr("登录失败：{0}").format(exc), error=True)
        finally:
            self.login_button.setEnabled(True)
        if account is None:
            self.password_edit.selectAll()
            self.password_edit.setFocus()
            return
        # The password is not kept: the refresh token (in the keyring) renews the sign-in.
        self.password_edit.clear()
        self.account = account
        self.signed_in.emit(account)
        self.accept()

    async def _sign_in(self, server: str, username: str, password: str) -> Account:
        api = ApiClient(server)
        credentials = await self._workers.on_net(CredentialStore)
        keep_refresh_tokens(api, server, username, credentials)
        try:
            result = await self._workers.on_net(api.login, username, password)
        except AuthError:
            api.close()
            raise
        except SyncError:
            api.close()
            raise
        aliases = list(self.server_aliases)
        cache, store, notices = await self._workers.on_db(
            lambda: open_account_cache(
                server,
                result.user,
                password,
                server_id=result.server_id,
                aliases=aliases,
            )
        )
        return Account(
            server,
            result.user,
            api,
            cache,
            store,
            offline=False,
            notices=notices,
            server_id=result.server_id,
        )
