"""Why the full number? Asked before a caller's phone or ID number is shown.

The reason goes with the reveal into the server's audit log (个人信息保护: who saw
which caller's number, when and why). A few common reasons are offered; the person
may write their own. The dialog is answered as a future (:mod:`ui.asking`).
"""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from core.session_rules import REVEAL_REASON_MAX, REVEAL_REASONS, RuleViolation, check_reveal_reason
from ui.asking import ask_dialog


class RevealReasonDialog(QDialog):
    """One editable choice of reason; 显示号码 stays disabled while it is empty."""

    def __init__(self, parent: QWidget | None, caller: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("revealReasonDialog")
        self.setWindowTitle(self.tr("显示完整号码"))
        who = self.tr("“{0}”的").format(caller) if caller else ""
        intro = QLabel(
            self.tr("将显示{0}完整电话和证件号，并记入审计日志。请说明原因：").format(who)
        )
        intro.setWordWrap(True)
        self.reason = QComboBox()
        self.reason.setObjectName("revealReason")
        self.reason.setEditable(True)
        self.reason.addItems(list(REVEAL_REASONS))
        self.reason.setCurrentIndex(-1)
        self.reason.setMinimumContentsLength(18)
        line = self.reason.lineEdit()
        assert line is not None
        line.setMaxLength(REVEAL_REASON_MAX)
        line.setPlaceholderText(self.tr("选择或填写原因"))
        self.error = QLabel()
        self.error.setStyleSheet("color: #b3261e;")
        self.error.hide()
        self.buttons = QDialogButtonBox()
        self.ok_button = self.buttons.addButton(
            self.tr("显示号码"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(self.tr("取消"), QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        self.reason.editTextChanged.connect(self._on_reason_edit_text_changed)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.reason)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(380)
        self._on_reason_edit_text_changed(self.reason.currentText())
        self.reason.setFocus()

    def answer(self) -> str:
        return check_reveal_reason(self.reason.currentText())

    def _on_reason_edit_text_changed(self, text: str) -> None:
        self.ok_button.setEnabled(bool(text.strip()))
        self.error.hide()

    def _on_buttons_accepted(self) -> None:
        try:
            check_reveal_reason(self.reason.currentText())
        except RuleViolation as exc:
            self.error.setText(exc.message)
            self.error.show()
            return
        self.accept()

    @classmethod
    def ask(cls, parent: QWidget | None, caller: str = "") -> asyncio.Future[str | None]:
        """Open the dialog; the future gets the reason, or None when cancelled."""
        dialog = cls(parent, caller)
        return ask_dialog(dialog, dialog.answer)
