"""The admin's dialogs: a new account or a change to one, a new password, and the
resolution of a 纠错 / 新问题 report.

Each opens window-modal without a nested event loop: ``ask`` returns a future of
the answer (``None`` when cancelled) through :func:`ui.asking.ask_dialog`, so sync
and live events keep running while the admin types. The forms check their values
with the rules of ``core.accounts`` — the ones the server applies — before they
close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from core.accounts import (
    MAX_CAPACITY,
    MAX_DISPLAY_NAME,
    MAX_PASSWORD_LENGTH,
    MAX_STAFF_NUMBER,
    MIN_PASSWORD_LENGTH,
    NewUser,
    UserEdit,
    check_password,
)
from core.enums import Role
from ui.asking import ask_dialog
from ui.dialogs.session_dialogs import Choice, FormDialog, _fill, _multiline
from ui.models.admin import AdminUser, FeedbackItem

MAX_NOTE = 500


def _password_edit(placeholder: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setMaxLength(MAX_PASSWORD_LENGTH)
    edit.setPlaceholderText(placeholder)
    return edit


def _role_choices() -> list[Choice]:
    hints = {
        Role.AGENT: "接待群众，处理自己的会话",
        Role.LEAD: "查看本班组看板、改派会话、跟进差评整改",
        Role.EDITOR: "维护知识库：起草、审核、发布和下线知识条目",
        Role.ADMIN: "管理用户、工作日历和知识反馈",
    }
    return [Choice(r.value, r.label, hints.get(r, "")) for r in Role]


class UserDialog(FormDialog):
    """新建用户, or 编辑用户 when ``user`` is given (the username cannot change)."""

    def __init__(
        self, parent: QWidget | None, teams: Sequence[Choice], user: AdminUser | None = None
    ) -> None:
        self.ok_text = "创建" if user is None else "保存"
        super().__init__(parent, self.tr("新建用户") if user is None else self.tr("编辑用户"))
        self.setObjectName("adminUserDialog")
        self.setMinimumWidth(500)
        self.user = user
        self.username = QLineEdit()
        self.username.setObjectName("username")
        self.username.setMaxLength(32)
        self.username.setPlaceholderText(self.tr("登录用，如 zhouming"))
        self.display_name = QLineEdit()
        self.display_name.setObjectName("displayName")
        self.display_name.setMaxLength(MAX_DISPLAY_NAME)
        self.role = QComboBox()
        self.role.setObjectName("role")
        _fill(self.role, _role_choices())
        self.team = QComboBox()
        self.team.setObjectName("team")
        _fill(self.team, [Choice(None, self.tr("（不属于班组）")), *teams])
        self.staff_number = QLineEdit()
        self.staff_number.setObjectName("staffNumber")
        self.staff_number.setMaxLength(MAX_STAFF_NUMBER)
        self.staff_number.setPlaceholderText(self.tr("如 JN-0130，会显示给来电群众核对"))
        self.capacity = QSpinBox()
        self.capacity.setObjectName("capacity")
        self.capacity.setRange(0, MAX_CAPACITY)
        self.capacity.setValue(4)
        self.capacity.setSuffix(self.tr(" 个会话"))
        self.password = _password_edit(self.tr("至少 {0} 位").format(MIN_PASSWORD_LENGTH))
        self.password.setObjectName("password")
        self.password_again = _password_edit(self.tr("再输入一次"))
        self.password_again.setObjectName("passwordAgain")
        if user is None:
            self.form.addRow(self.tr("用户名"), self.username)
        else:
            self.set_intro(self.tr("用户名：{0}（不可修改）").format(user.username))
        self.form.addRow(self.tr("姓名"), self.display_name)
        self.form.addRow(self.tr("角色"), self.role)
        self.form.addRow(self.tr("班组"), self.team)
        self.form.addRow(self.tr("工号"), self.staff_number)
        self.form.addRow(self.tr("同时接待上限"), self.capacity)
        if user is None:
            self.form.addRow(self.tr("初始密码"), self.password)
            self.form.addRow(self.tr("确认密码"), self.password_again)
            # Default to the first real team: agents need one.
            if self.team.count() > 1:
                self.team.setCurrentIndex(1)
            self.username.setFocus()
        else:
            self.display_name.setText(user.display_name)
            self.role.setCurrentIndex(max(0, self.role.findData(user.role)))
            self.team.setCurrentIndex(max(0, self.team.findData(user.team_id)))
            self.staff_number.setText(user.staff_number)
            self.capacity.setValue(user.capacity)
            self.display_name.setFocus()

    def _fields(self) -> dict[str, QWidget]:
        return {
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "team_id": self.team,
            "staff_number": self.staff_number,
            "capacity": self.capacity,
            "password": self.password,
        }

    def new_user(self) -> NewUser:
        return NewUser(
            username=self.username.text().strip(),
            display_name=self.display_name.text().strip(),
            role=str(self.role.currentData()),
            team_id=self.team.currentData(),
            staff_number=self.staff_number.text().strip(),
            capacity=self.capacity.value(),
            password=self.password.text(),
        )

    def edit(self) -> UserEdit:
        return UserEdit(
            display_name=self.display_name.text().strip(),
            role=str(self.role.currentData()),
            team_id=self.team.currentData(),
            clear_team=self.team.currentData() is None,
            staff_number=self.staff_number.text().strip(),
            capacity=self.capacity.value(),
        )

    def problems(self) -> list[tuple[QWidget, str]]:
        fields = self._fields()
        if self.user is None:
            found = self.new_user().problems()
            if not found and self.password.text() != self.password_again.text():
                return [(self.password_again, self.tr("两次输入的密码不一致"))]
        else:
            found = self.edit().problems(self.user.role, self.user.team_id)
        return [(fields.get(name, self.display_name), self.tr(message)) for name, message in found]

    @classmethod
    def ask(
        cls, parent: QWidget | None, teams: Sequence[Choice], user: AdminUser | None = None
    ) -> asyncio.Future[NewUser | UserEdit | None]:
        """The new account (:class:`NewUser`) or the change (:class:`UserEdit`)."""
        dialog = cls(parent, teams, user)
        future = ask_dialog(dialog, dialog.new_user if user is None else dialog.edit)
        return future  # type: ignore[return-value]


class PasswordDialog(FormDialog):
    """重置密码: the user is signed out everywhere and signs in with the new one."""

    ok_text = "重置密码"

    def __init__(self, parent: QWidget | None, user: AdminUser) -> None:
        super().__init__(parent, self.tr("重置密码"))
        self.setObjectName("adminPasswordDialog")
        self.set_intro(
            self.tr(
                "为 {0}（{1}）设置新密码。\n重置后其所有已登录的设备立即退出，需用新密码重新登录。"
            ).format(user.display_name, user.username)
        )
        self.password = _password_edit(self.tr("至少 {0} 位").format(MIN_PASSWORD_LENGTH))
        self.password.setObjectName("password")
        self.password_again = _password_edit(self.tr("再输入一次"))
        self.password_again.setObjectName("passwordAgain")
        self.form.addRow(self.tr("新密码"), self.password)
        self.form.addRow(self.tr("确认密码"), self.password_again)
        self.password.setFocus()

    def problems(self) -> list[tuple[QWidget, str]]:
        found = check_password(self.password.text())
        if found:
            return [(self.password, self.tr(found[0][1]))]
        if self.password.text() != self.password_again.text():
            return [(self.password_again, self.tr("两次输入的密码不一致"))]
        return []

    @classmethod
    def ask(cls, parent: QWidget | None, user: AdminUser) -> asyncio.Future[str | None]:
        dialog = cls(parent, user)
        return ask_dialog(dialog, dialog.password.text)


@dataclass(frozen=True)
class Resolution:
    resolution: str
    """``accepted`` (采纳) or ``rejected`` (不采纳)."""
    note: str


class ResolveFeedbackDialog(FormDialog):
    """处理 a report: 采纳 (the entry will be fixed or written) or 不采纳 with a reason."""

    ok_text = "提交处理结果"

    def __init__(self, parent: QWidget | None, item: FeedbackItem) -> None:
        super().__init__(parent, self.tr("处理反馈"))
        self.setObjectName("resolveFeedbackDialog")
        self.setMinimumWidth(540)
        about = item.entry_title or self.tr("（未关联知识条目）")
        self.set_intro(
            self.tr("{0} · {1}\n提交人：{2}").format(item.kind_text, about, item.author_name)
        )
        text = QLabel(item.text)
        text.setWordWrap(True)
        text.setStyleSheet(
            "background: #f5f7fa; border: 1px solid #dfe3e8; border-radius: 4px; padding: 8px;"
        )
        self.form.addRow(self.tr("反馈内容"), text)
        self.resolution = QComboBox()
        self.resolution.setObjectName("resolution")
        _fill(
            self.resolution,
            [
                Choice("accepted", self.tr("采纳（将据此修改或新增知识）")),
                Choice("rejected", self.tr("不采纳（请写明原因）")),
            ],
        )
        self.note = _multiline(self.tr("处理说明，提交人可以看到"), 72)
        self.note.setObjectName("note")
        self.form.addRow(self.tr("处理结果"), self.resolution)
        self.form.addRow(self.tr("说明"), self.note)
        self.resolution.setFocus()

    def answer(self) -> Resolution:
        return Resolution(str(self.resolution.currentData()), self.note.toPlainText().strip())

    def problems(self) -> list[tuple[QWidget, str]]:
        note = self.note.toPlainText().strip()
        if self.resolution.currentData() == "rejected" and not note:
            return [(self.note, self.tr("不采纳时请写明原因，提交人会看到"))]
        if len(note) > MAX_NOTE:
            return [(self.note, self.tr("说明最多 {0} 字").format(MAX_NOTE))]
        return []

    @classmethod
    def ask(cls, parent: QWidget | None, item: FeedbackItem) -> asyncio.Future[Resolution | None]:
        dialog = cls(parent, item)
        return ask_dialog(dialog, dialog.answer)
