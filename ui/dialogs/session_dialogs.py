"""The session console's dialogs: 转交, 转办, 待回电, 办结, 评价链接, 改派 and 新建会话.

Each checks what was typed before it closes, shows what is wrong in Chinese next to
the form and puts the cursor on the first field to fix. Each has an ``ask``
classmethod (the dialog's only entry point from the console), as novelWriter's
``GuiEditLabel.getLabel``, but asynchronous: it opens the dialog window-modal and
returns a future of the answer (``None`` when cancelled) that the caller awaits —
never ``exec()`` (see :mod:`ui.asking`). Logic tests may replace ``ask``;
``tests/ui/test_real_dialogs.py`` answers the real dialogs with the keyboard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QDateTime, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from core.enums import Channel, Outcome, ServiceType
from core.localstore.session_actions import (
    Escalation1515,
    NewSessionRequest,
    ReassignRequest,
    TransferRequest,
    TransitionRequest,
)
from core.session_rules import Action
from core.session_timeline import due_text
from core.validation import MANUAL_CHANNELS, validate_new_session
from ui.asking import ask_dialog
from ui.qr import qr_pixmap

ERROR_STYLE = "border: 1px solid #b3261e;"


@dataclass(frozen=True)
class Choice:
    """An item of a combo box: what it means, what it says, and a hint."""

    value: Any
    text: str
    hint: str = ""


class FormDialog(QDialog):
    """A form with an error line under it; OK checks the form before closing."""

    ok_text = "确定"

    def __init__(self, parent: QWidget | None, title: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(460)
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.error = QLabel()
        self.error.setObjectName("dialogError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b3261e;")
        self.error.hide()
        self.buttons = QDialogButtonBox()
        self.ok_button = self.buttons.addButton(
            self.tr(self.ok_text), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.cancel_button = self.buttons.addButton(
            self.tr("取消"), QDialogButtonBox.ButtonRole.RejectRole
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._marked: list[QWidget] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 14)
        layout.setSpacing(10)
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.intro.setStyleSheet("color: #424242;")
        self.intro.hide()
        layout.addWidget(self.intro)
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        # Only now is the button inside the dialog: made default before, Enter in a
        # field stopped reaching it once the focus had left the button.
        self.ok_button.setDefault(True)

    def set_intro(self, text: str) -> None:
        self.intro.setText(text)
        self.intro.show()

    def problems(self) -> list[tuple[QWidget, str]]:
        """What is wrong with the form: (field, message), in the order of the form."""
        return []

    def show_problems(self, problems: Sequence[tuple[QWidget, str]]) -> None:
        for widget in self._marked:
            widget.setStyleSheet("")
        self._marked = []
        if not problems:
            self.error.hide()
            return
        self.error.setText("\n".join(f"• {message}" for _, message in problems))
        self.error.show()
        for widget, _ in problems:
            widget.setStyleSheet(ERROR_STYLE)
            self._marked.append(widget)
        problems[0][0].setFocus(Qt.FocusReason.OtherFocusReason)

    def accept(self) -> None:
        problems = self.problems()
        self.show_problems(problems)
        if not problems:
            super().accept()


def _reason_edit(placeholder: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    edit.setMaxLength(500)
    return edit


def _multiline(placeholder: str, height: int = 80) -> QPlainTextEdit:
    edit = QPlainTextEdit()
    edit.setPlaceholderText(placeholder)
    edit.setTabChangesFocus(True)  # Tab leaves the field, as everywhere else in the form
    edit.setFixedHeight(height)
    return edit


def _fill(combo: QComboBox, choices: Sequence[Choice], placeholder: str = "") -> None:
    combo.clear()
    if placeholder:
        combo.addItem(placeholder, None)
    for choice in choices:
        combo.addItem(choice.text, choice.value)
        if choice.hint:
            combo.setItemData(combo.count() - 1, choice.hint, Qt.ItemDataRole.ToolTipRole)


# -- 转交 -------------------------------------------------------------------------------------


class TransferDialog(FormDialog):
    """转交 to a colleague, or to a team's queue; a reason is required."""

    ok_text = "转交"

    def __init__(
        self, parent: QWidget | None, colleagues: Sequence[Choice], teams: Sequence[Choice]
    ) -> None:
        super().__init__(parent, self.tr("转交会话"))
        self.to_colleague = QRadioButton(self.tr("转给同事(&C)"))
        self.to_team = QRadioButton(self.tr("转到班组队列(&T)"))
        self.kind = QButtonGroup(self)
        self.kind.addButton(self.to_colleague)
        self.kind.addButton(self.to_team)
        self.colleague = QComboBox()
        _fill(self.colleague, colleagues, self.tr("请选择同事"))
        self.team = QComboBox()
        _fill(self.team, teams, self.tr("请选择班组"))
        self.reason = _reason_edit(self.tr("如：专业不对口，转熟悉公积金业务的同事"))
        row = QHBoxLayout()
        row.addWidget(self.to_colleague)
        row.addWidget(self.to_team)
        row.addStretch(1)
        self.form.addRow(self.tr("转交方式"), row)
        self.form.addRow(self.tr("同事"), self.colleague)
        self.form.addRow(self.tr("班组"), self.team)
        self.form.addRow(self.tr("转交原因"), self.reason)
        self.to_colleague.toggled.connect(self._on_kind_toggled)
        self.to_colleague.setChecked(True)
        if not colleagues and teams:
            self.to_team.setChecked(True)
        self._on_kind_toggled(self.to_colleague.isChecked())

    def _on_kind_toggled(self, colleague: bool) -> None:
        self.colleague.setEnabled(colleague)
        self.team.setEnabled(not colleague)

    def problems(self) -> list[tuple[QWidget, str]]:
        found: list[tuple[QWidget, str]] = []
        if self.to_colleague.isChecked() and self.colleague.currentData() is None:
            found.append((self.colleague, self.tr("请选择要转交的同事")))
        if self.to_team.isChecked() and self.team.currentData() is None:
            found.append((self.team, self.tr("请选择要转入的班组")))
        if not self.reason.text().strip():
            found.append((self.reason, self.tr("请填写转交原因，接手的同事会看到")))
        return found

    def request(self) -> TransferRequest:
        if self.to_colleague.isChecked():
            return TransferRequest(
                reason=self.reason.text().strip(),
                to_agent_id=int(self.colleague.currentData()),
                to_name=self.colleague.currentText().split("（")[0],
            )
        return TransferRequest(
            reason=self.reason.text().strip(),
            to_team_id=str(self.team.currentData()),
            to_name=self.team.currentText(),
        )

    @classmethod
    def ask(
        cls, parent: QWidget | None, colleagues: Sequence[Choice], teams: Sequence[Choice]
    ) -> asyncio.Future[TransferRequest | None]:
        dialog = cls(parent, colleagues, teams)
        return ask_dialog(dialog, dialog.request)


# -- 改派 -------------------------------------------------------------------------------------


class ReassignDialog(FormDialog):
    """改派 by a lead: to another agent of the team, with a reason."""

    ok_text = "改派"

    def __init__(
        self,
        parent: QWidget | None,
        agents: Sequence[Choice],
        expected_assignee_id: int | None,
        current_name: str,
    ) -> None:
        super().__init__(parent, self.tr("改派会话"))
        self.expected_assignee_id = expected_assignee_id
        self.set_intro(self.tr("当前承办人：{0}").format(current_name or self.tr("（待接入）")))
        self.agent = QComboBox()
        _fill(self.agent, agents, self.tr("请选择坐席"))
        self.reason = _reason_edit(self.tr("如：原坐席请假，改由他人跟进"))
        self.form.addRow(self.tr("改派给"), self.agent)
        self.form.addRow(self.tr("改派原因"), self.reason)

    def problems(self) -> list[tuple[QWidget, str]]:
        found: list[tuple[QWidget, str]] = []
        if self.agent.currentData() is None:
            found.append((self.agent, self.tr("请选择改派给哪位坐席")))
        if not self.reason.text().strip():
            found.append((self.reason, self.tr("请填写改派原因，两位坐席都会看到")))
        return found

    def request(self) -> ReassignRequest:
        return ReassignRequest(
            to_agent_id=int(self.agent.currentData()),
            expected_assignee_id=self.expected_assignee_id,
            reason=self.reason.text().strip(),
            to_name=self.agent.currentText().split("（")[0],
        )

    @classmethod
    def ask(
        cls,
        parent: QWidget | None,
        agents: Sequence[Choice],
        expected_assignee_id: int | None,
        current_name: str,
    ) -> asyncio.Future[ReassignRequest | None]:
        dialog = cls(parent, agents, expected_assignee_id, current_name)
        return ask_dialog(dialog, dialog.request)


# -- 转办 -------------------------------------------------------------------------------------


class EscalateDialog(FormDialog):
    """转办 to a department; the deadlines of the "1515" rule are computed and shown."""

    ok_text = "转办"

    def __init__(
        self,
        parent: QWidget | None,
        departments: Sequence[str],
        deadlines: Callable[[datetime, str], Escalation1515],
        default_department: str = "",
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        super().__init__(parent, self.tr("转办到部门"))
        self._deadlines = deadlines
        self._now = now
        self.department = QComboBox()
        self.department.setEditable(True)
        self.department.addItems(sorted(set(departments)))
        self.department.setCurrentText(default_department)
        line = self.department.lineEdit()
        if line is not None:
            line.setPlaceholderText(self.tr("选择或输入承办部门"))
        self.simple = QRadioButton(self.tr("简单事项(&S)"))
        self.complex = QRadioButton(self.tr("复杂事项(&X)"))
        group = QButtonGroup(self)
        group.addButton(self.simple)
        group.addButton(self.complex)
        self.simple.setChecked(True)
        self.reason = _reason_edit(self.tr("需部门答复的问题，如：补缴年限能否认定"))
        self.deadline = QLabel()
        self.deadline.setObjectName("escalationDeadline")
        self.deadline.setWordWrap(True)
        self.deadline.setStyleSheet("background: #e8f0fe; padding: 6px; border-radius: 4px;")
        row = QHBoxLayout()
        row.addWidget(self.simple)
        row.addWidget(self.complex)
        row.addStretch(1)
        self.form.addRow(self.tr("承办部门"), self.department)
        self.form.addRow(self.tr("事项类型"), row)
        self.form.addRow(self.tr("转办原因"), self.reason)
        self.form.addRow(self.tr("答复期限"), self.deadline)
        self.simple.toggled.connect(self._update_deadline)
        self._update_deadline()

    @property
    def complexity(self) -> str:
        return "complex" if self.complex.isChecked() else "simple"

    def current_deadlines(self) -> Escalation1515:
        return self._deadlines(self._now(), self.complexity)

    def _update_deadline(self, *_args: Any) -> None:
        d = self.current_deadlines()
        days = 15 if self.complexity == "complex" else 5
        text = self.tr("1 个工作日内联系群众：{0} 前\n{1} 个工作日内答复：{2} 前").format(
            due_text(d.contact.at_end_of_day()), days, due_text(d.answer.at_end_of_day())
        )
        if d.provisional:
            text += self.tr("\n（该年度节假日安排尚未公布，暂按周末推算）")
        self.deadline.setText(text)

    def problems(self) -> list[tuple[QWidget, str]]:
        found: list[tuple[QWidget, str]] = []
        if not self.department.currentText().strip():
            found.append((self.department, self.tr("请选择或输入承办部门")))
        if not self.reason.text().strip():
            found.append((self.reason, self.tr("请填写转办原因，部门据此答复")))
        return found

    def request(self) -> TransitionRequest:
        d = self.current_deadlines()
        return TransitionRequest(
            action=Action.ESCALATE,
            reason=self.reason.text().strip(),
            department=self.department.currentText().strip(),
            complexity=self.complexity,
            due_at=d.answer.at_end_of_day(),
        )

    @classmethod
    def ask(
        cls,
        parent: QWidget | None,
        departments: Sequence[str],
        deadlines: Callable[[datetime, str], Escalation1515],
        default_department: str = "",
    ) -> asyncio.Future[TransitionRequest | None]:
        dialog = cls(parent, departments, deadlines, default_department)
        return ask_dialog(dialog, dialog.request)


# -- 待回电 -----------------------------------------------------------------------------------


class CallbackDialog(FormDialog):
    """待回电: a callback work order with a reason and a due time."""

    ok_text = "转为待回电"

    def __init__(
        self,
        parent: QWidget | None,
        default_due: datetime,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        super().__init__(parent, self.tr("转为待回电"))
        self._now = now
        self.reason = _reason_edit(self.tr("如：需向部门核实后回电"))
        self.due = QDateTimeEdit(QDateTime(default_due))
        self.due.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.due.setCalendarPopup(True)
        self.form.addRow(self.tr("回电原因"), self.reason)
        self.form.addRow(self.tr("回电期限"), self.due)
        self.set_intro(self.tr("默认期限为 1 个工作日内，可按与群众约定的时间调整。"))

    def due_at(self) -> datetime:
        due = self.due.dateTime().toPython()
        assert isinstance(due, datetime)
        return due.replace(second=0, microsecond=0)

    def problems(self) -> list[tuple[QWidget, str]]:
        found: list[tuple[QWidget, str]] = []
        if not self.reason.text().strip():
            found.append((self.reason, self.tr("请填写待回电原因")))
        if self.due_at() < self._now() - timedelta(minutes=1):
            found.append((self.due, self.tr("回电期限不能早于现在")))
        return found

    def request(self) -> TransitionRequest:
        return TransitionRequest(
            action=Action.CALLBACK, reason=self.reason.text().strip(), due_at=self.due_at()
        )

    @classmethod
    def ask(
        cls, parent: QWidget | None, default_due: datetime
    ) -> asyncio.Future[TransitionRequest | None]:
        dialog = cls(parent, default_due)
        return ask_dialog(dialog, dialog.request)


# -- 办结 -------------------------------------------------------------------------------------


class CloseDialog(FormDialog):
    """办结: the outcome and a summary. For a session whose caller rates through a link
    (not a chat: a chat's caller rates on their own page), it says that the rating link
    follows; the console offers it right after 办结."""

    ok_text = "办结"

    def __init__(self, parent: QWidget | None, rating_link_follows: bool = False) -> None:
        super().__init__(parent, self.tr("办结会话"))
        self.rating_link_follows = rating_link_follows
        self.outcome = QComboBox()
        _fill(
            self.outcome,
            [Choice(o.value, o.label) for o in Outcome],
            self.tr("请选择办理结果"),
        )
        self.summary = _multiline(self.tr("办理情况摘要，如：已告知提取条件和所需材料"))
        self.form.addRow(self.tr("办理结果"), self.outcome)
        self.form.addRow(self.tr("办结摘要"), self.summary)
        if rating_link_follows:
            self.set_intro(
                self.tr("办结后将生成评价链接，请读给群众或发送短信，由群众本人评价（好差评）。")
            )

    def problems(self) -> list[tuple[QWidget, str]]:
        found: list[tuple[QWidget, str]] = []
        if self.outcome.currentData() is None:
            found.append((self.outcome, self.tr("请选择办理结果")))
        if not self.summary.toPlainText().strip():
            found.append((self.summary, self.tr("请填写办结摘要")))
        elif len(self.summary.toPlainText()) > 2000:
            found.append((self.summary, self.tr("办结摘要过长（最多 2000 字）")))
        return found

    def request(self) -> TransitionRequest:
        return TransitionRequest(
            action=Action.CLOSE,
            outcome=str(self.outcome.currentData()),
            close_summary=self.summary.toPlainText().strip(),
        )

    @classmethod
    def ask(
        cls, parent: QWidget | None, rating_link_follows: bool = False
    ) -> asyncio.Future[TransitionRequest | None]:
        dialog = cls(parent, rating_link_follows)
        return ask_dialog(dialog, dialog.request)


# -- 评价链接 ---------------------------------------------------------------------------------


class RatingLinkDialog(QDialog):
    """The caller's rating link (GB/T 39734: the rating is the caller's own, never the
    agent's): the link to read out, the SMS to send, a QR code to scan at the window.

    Nothing to answer: 关闭 (or Esc) closes it. :meth:`show_rated` tells the agent once
    the caller's rating has arrived while it is open.
    """

    QR_SCALE = 5
    """Pixels per module: large enough to scan from the screen at a window."""

    def __init__(self, parent: QWidget | None, url: str, sms_text: str, caller: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("ratingLinkDialog")
        self.setWindowTitle(self.tr("请群众评价"))
        self.setMinimumWidth(560)
        self.url = url
        self.sms_text = sms_text
        who = self.tr("群众（{0}）").format(caller) if caller else self.tr("群众")
        self.intro = QLabel(
            self.tr(
                "好差评由群众本人作出。请把下面的评价链接读给{0}，或把短信内容发送给对方；"
                "在窗口现场，也可以请对方用手机扫描二维码。"
            ).format(who)
        )
        self.intro.setWordWrap(True)
        self.qr_label = QLabel()
        self.qr_label.setObjectName("ratingQr")
        self.qr_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        self.qr_label.setToolTip(self.tr("群众用手机扫码即可打开评价页面"))
        self.qr_label.setPixmap(qr_pixmap(url, scale=self.QR_SCALE))
        link_caption = QLabel(self.tr("评价链接"))
        link_caption.setStyleSheet("color: #616161;")
        self.link_label = QLabel(url)
        self.link_label.setObjectName("ratingUrl")
        self.link_label.setWordWrap(True)
        self.link_label.setTextFormat(Qt.TextFormat.PlainText)
        self.link_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.link_label.setStyleSheet("font-size: 14px;")
        sms_caption = QLabel(self.tr("短信内容"))
        sms_caption.setStyleSheet("color: #616161;")
        self.sms_edit = QPlainTextEdit(sms_text)
        self.sms_edit.setObjectName("ratingSms")
        self.sms_edit.setReadOnly(True)
        self.sms_edit.setTabChangesFocus(True)
        self.sms_edit.setFixedHeight(78)
        self.copy_link_button = QPushButton(self.tr("复制链接(&L)"))
        self.copy_link_button.setObjectName("copyRatingLink")
        self.copy_sms_button = QPushButton(self.tr("复制短信内容(&S)"))
        self.copy_sms_button.setObjectName("copyRatingSms")
        copy_row = QHBoxLayout()
        copy_row.addWidget(self.copy_link_button)
        copy_row.addWidget(self.copy_sms_button)
        copy_row.addStretch(1)
        # Both lines keep their room while empty: the dialog does not jump when they fill.
        self.status = QLabel()
        self.status.setObjectName("ratingLinkStatus")
        self.status.setStyleSheet("color: #616161;")
        self.rated = QLabel()
        self.rated.setObjectName("ratingLinkRated")
        self.rated.setStyleSheet("color: #2e7d32; font-weight: 600;")
        for line in (self.status, self.rated):
            line.setWordWrap(True)
            line.setMinimumHeight(line.fontMetrics().height())
        self.buttons = QDialogButtonBox()
        self.close_button = self.buttons.addButton(
            self.tr("关闭"), QDialogButtonBox.ButtonRole.RejectRole
        )
        self.buttons.rejected.connect(self.reject)
        self.copy_link_button.clicked.connect(self._on_copy_link_clicked)
        self.copy_sms_button.clicked.connect(self._on_copy_sms_clicked)

        text = QVBoxLayout()
        text.setSpacing(6)
        text.addWidget(link_caption)
        text.addWidget(self.link_label)
        text.addSpacing(4)
        text.addWidget(sms_caption)
        text.addWidget(self.sms_edit)
        text.addLayout(copy_row)
        text.addStretch(1)
        row = QHBoxLayout()
        row.setSpacing(16)
        row.addWidget(self.qr_label, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 14)
        layout.setSpacing(12)
        layout.addWidget(self.intro)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.rated)
        layout.addWidget(self.buttons)
        self.close_button.setDefault(True)
        self.copy_sms_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_copy_link_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.url)
        self.status.setText(self.tr("已复制评价链接"))

    def _on_copy_sms_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.sms_text)
        self.status.setText(self.tr("已复制短信内容，可粘贴到短信平台发送"))

    def show_rated(self, label: str) -> None:
        """The caller's rating arrived while the dialog is open."""
        self.rated.setText(self.tr("群众已评价：{0}。可以关闭本窗口。").format(label))

    @classmethod
    def ask(
        cls, parent: QWidget | None, url: str, sms_text: str, caller: str = ""
    ) -> asyncio.Future[None]:
        """Open the dialog; the future resolves (to None) once it is closed."""
        dialog = cls(parent, url, sms_text, caller)
        return ask_dialog(dialog, lambda: None)


# -- 新建会话 ---------------------------------------------------------------------------------


class NewSessionDialog(FormDialog):
    """新建会话 for a phone call, a referral or a walk-in at the window (现场, with its
    queue ticket), every field checked."""

    ok_text = "新建"

    def __init__(self, parent: QWidget | None, matters: Sequence[Choice]) -> None:
        super().__init__(parent, self.tr("新建会话"))
        self.setMinimumWidth(520)
        self.channel = QComboBox()
        _fill(self.channel, [Choice(c.value, c.label) for c in MANUAL_CHANNELS])
        self.service = QComboBox()
        _fill(self.service, [Choice(s.value, s.label) for s in ServiceType])
        self.name = QLineEdit()
        self.name.setPlaceholderText(self.tr("如：张先生（来电可不填，现场和转介必填）"))
        self.name.setMaxLength(32)
        self.phone = QLineEdit()
        self.phone.setPlaceholderText(self.tr("手机 13812345678 或座机 025-84561234"))
        self.phone.setMaxLength(20)
        self.id_number = QLineEdit()
        self.id_number.setPlaceholderText(self.tr("18 位居民身份证号（选填）"))
        self.id_number.setMaxLength(18)
        self.matter = QComboBox()
        _fill(self.matter, matters, self.tr("（不涉及具体事项）"))
        self.matter.setEditable(True)
        self.matter.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        completer = self.matter.completer()
        if completer is not None:
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            completer.setCompletionMode(completer.CompletionMode.PopupCompletion)
        self.ticket = QLineEdit()
        self.ticket.setPlaceholderText(self.tr("现场取号的排队号，如 A023（选填）"))
        self.ticket.setMaxLength(16)
        self.summary = _multiline(self.tr("群众的诉求，如：咨询灵活就业人员社保缴费档次"), 90)
        self.take = QRadioButton(self.tr("由我接待(&M)"))
        self.queue = QRadioButton(self.tr("放入班组队列(&Q)"))
        group = QButtonGroup(self)
        group.addButton(self.take)
        group.addButton(self.queue)
        self.take.setChecked(True)
        row = QHBoxLayout()
        row.addWidget(self.take)
        row.addWidget(self.queue)
        row.addStretch(1)
        self.form.addRow(self.tr("来源渠道"), self.channel)
        self.form.addRow(self.tr("服务类型"), self.service)
        self.form.addRow(self.tr("群众姓名"), self.name)
        self.form.addRow(self.tr("联系电话"), self.phone)
        self.form.addRow(self.tr("身份证号"), self.id_number)
        self.form.addRow(self.tr("排队号"), self.ticket)
        self.form.addRow(self.tr("办理事项"), self.matter)
        self.form.addRow(self.tr("诉求描述"), self.summary)
        self.form.addRow(self.tr("接待方式"), row)
        self._fields: dict[str, QWidget] = {
            "channel": self.channel,
            "service_type": self.service,
            "caller_name": self.name,
            "caller_phone": self.phone,
            "caller_id_number": self.id_number,
            "ticket_number": self.ticket,
            "summary": self.summary,
        }
        self.channel.currentIndexChanged.connect(self._on_channel_changed)
        self._on_channel_changed()

    def _on_channel_changed(self) -> None:
        # Only a walk-in at the window has a queue ticket.
        walk_in = self.channel.currentData() == Channel.WALK_IN.value
        self.ticket.setEnabled(walk_in)
        if not walk_in:
            self.ticket.clear()

    def matter_code(self) -> str | None:
        index = self.matter.findText(self.matter.currentText())
        if index < 0:
            return None
        value = self.matter.itemData(index)
        return str(value) if value else None

    def request(self) -> NewSessionRequest:
        return NewSessionRequest(
            channel=str(self.channel.currentData() or ""),
            service_type=str(self.service.currentData() or ""),
            summary=self.summary.toPlainText().strip(),
            caller_name=self.name.text().strip(),
            caller_phone=self.phone.text().strip(),
            caller_id_number=self.id_number.text().strip(),
            matter_code=self.matter_code(),
            take=self.take.isChecked(),
            ticket_number=self.ticket.text().strip(),
        )

    def problems(self) -> list[tuple[QWidget, str]]:
        errors = validate_new_session(self.request().fields())
        found = [(self._fields[k], errors[k]) for k in self._fields if k in errors]
        text = self.matter.currentText().strip()
        if text and self.matter.findText(text) < 0:
            found.append(
                (self.matter, self.tr("办理事项「{0}」不在事项目录中，请从列表选择").format(text))
            )
        return found

    @classmethod
    def ask(
        cls, parent: QWidget | None, matters: Sequence[Choice]
    ) -> asyncio.Future[NewSessionRequest | None]:
        dialog = cls(parent, matters)
        return ask_dialog(dialog, dialog.request)
