"""The console's dialogs, filled in by keyboard and mouse: every field is checked, the
messages are in Chinese, the cursor goes to the first field to fix, nothing closes
until the form is right."""

from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QPushButton
from pytestqt.qtbot import QtBot

from core.calendar import WorkCalendar
from core.localstore.session_actions import Escalation1515
from core.session_rules import Action
from tests.ui.keyboard import type_text
from ui.dialogs.session_dialogs import (
    CallbackDialog,
    Choice,
    CloseDialog,
    EscalateDialog,
    NewSessionDialog,
    RatingLinkDialog,
    ReassignDialog,
    TransferDialog,
)

MATTERS = [Choice("GJJ-TQ-ZF", "住房公积金提取（租房）（住房公积金管理中心）")]
FRIDAY = datetime(2026, 11, 27, 16, 0)


def show(qtbot: QtBot, dialog: QDialog) -> QDialog:
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def press_ok(qtbot: QtBot, dialog) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def test_new_session_names_every_wrong_field_and_focuses_the_first(qtbot: QtBot) -> None:
    dialog = show(qtbot, NewSessionDialog(None, MATTERS))
    type_text(qtbot, dialog.phone, "1381234567")
    type_text(qtbot, dialog.id_number, "110105194912310021")
    press_ok(qtbot, dialog)
    assert dialog.isVisible() and dialog.result() == 0
    text = dialog.error.text()
    assert "手机号应为 1 开头的 11 位数字" in text
    assert "身份证号校验位不正确" in text
    assert "请填写诉求描述" in text
    assert dialog.focusWidget() is dialog.phone
    # Fix them by keyboard only, and press Enter.
    dialog.phone.clear()
    type_text(qtbot, dialog.phone, "13812345678")
    dialog.id_number.clear()
    type_text(qtbot, dialog.id_number, "11010519491231002x")
    type_text(qtbot, dialog.summary, "咨询公积金租房提取")
    type_text(qtbot, dialog.matter, "公积金")
    dialog.matter.setCurrentIndex(1)
    qtbot.keyClick(dialog.name, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted
    request = dialog.request()
    assert (
        request.caller_phone == "13812345678" and request.caller_id_number == "11010519491231002x"
    )
    assert request.matter_code == "GJJ-TQ-ZF" and request.take and request.channel == "phone"


def test_a_walk_in_referral_needs_a_name_and_an_unknown_matter_is_refused(qtbot: QtBot) -> None:
    dialog = show(qtbot, NewSessionDialog(None, MATTERS))
    dialog.channel.setCurrentIndex(dialog.channel.findData("referral"))
    type_text(qtbot, dialog.summary, "现场转介：老年优待证")
    dialog.matter.setEditText("不存在的事项")
    press_ok(qtbot, dialog)
    assert "现场转介必填" in dialog.error.text()
    assert "不在事项目录中" in dialog.error.text()
    assert dialog.focusWidget() is dialog.name
    type_text(qtbot, dialog.name, "周女士")
    dialog.matter.setCurrentIndex(0)
    qtbot.mouseClick(dialog.queue, Qt.MouseButton.LeftButton)
    press_ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    request = dialog.request()
    assert request.channel == "referral" and not request.take and request.matter_code is None


def test_a_walk_in_at_the_window_carries_its_queue_ticket(qtbot: QtBot) -> None:
    dialog = show(qtbot, NewSessionDialog(None, MATTERS))
    assert not dialog.ticket.isEnabled()  # only 现场 has a ticket
    dialog.channel.setCurrentIndex(dialog.channel.findData("walk_in"))
    assert dialog.channel.currentText() == "现场" and dialog.ticket.isEnabled()
    type_text(qtbot, dialog.summary, "现场咨询个体工商户登记")
    type_text(qtbot, dialog.name, "李女士")
    type_text(qtbot, dialog.ticket, "A 023!")
    press_ok(qtbot, dialog)
    assert "排队号只能由字母、数字和短横线组成" in dialog.error.text()
    assert dialog.focusWidget() is dialog.ticket
    dialog.ticket.clear()
    type_text(qtbot, dialog.ticket, "A023")
    press_ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    request = dialog.request()
    assert (request.channel, request.ticket_number) == ("walk_in", "A023")


def test_transfer_needs_a_target_and_a_reason(qtbot: QtBot) -> None:
    colleagues = [Choice(3, "王芳（在线）"), Choice(4, "刘洋（离线）")]
    dialog = show(qtbot, TransferDialog(None, colleagues, [Choice("team-bb", "远程帮办组")]))
    press_ok(qtbot, dialog)
    assert "请选择要转交的同事" in dialog.error.text() and "请填写转交原因" in dialog.error.text()
    dialog.colleague.setCurrentIndex(1)
    type_text(qtbot, dialog.reason, "专业不对口")
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.request().to_agent_id == 3 and dialog.request().to_name == "王芳"
    # To a team's queue instead, chosen by the keyboard mnemonic.
    dialog = show(qtbot, TransferDialog(None, colleagues, [Choice("team-bb", "远程帮办组")]))
    qtbot.mouseClick(dialog.to_team, Qt.MouseButton.LeftButton)
    assert not dialog.colleague.isEnabled() and dialog.team.isEnabled()
    dialog.team.setCurrentIndex(1)
    type_text(qtbot, dialog.reason, "需要远程帮办")
    press_ok(qtbot, dialog)
    request = dialog.request()
    assert request.to_team_id == "team-bb" and request.to_agent_id is None


def test_escalation_shows_the_1515_deadlines_as_they_are_chosen(qtbot: QtBot) -> None:
    calendar = WorkCalendar.builtin()

    def deadlines(start: datetime, complexity: str) -> Escalation1515:
        from core.calendar import escalation_deadline

        return Escalation1515(
            calendar.add_working_days(start, 1), escalation_deadline(calendar, start, complexity)
        )

    dialog = show(
        qtbot, EscalateDialog(None, ["税务局", "医疗保障局"], deadlines, "", now=lambda: FRIDAY)
    )
    # Friday 27 Nov 2026: contact by Monday, answer in 5 working days (Fri 4 Dec).
    assert "11月30日（周一）17:30" in dialog.deadline.text()
    assert "5 个工作日内答复：12月4日（周五）17:30" in dialog.deadline.text()
    qtbot.mouseClick(dialog.complex, Qt.MouseButton.LeftButton)
    assert "15 个工作日内答复：12月18日（周五）17:30" in dialog.deadline.text()
    press_ok(qtbot, dialog)
    assert "请选择或输入承办部门" in dialog.error.text()
    assert "请填写转办原因" in dialog.error.text()
    dialog.department.setCurrentIndex(dialog.department.findText("税务局"))
    type_text(qtbot, dialog.reason, "补缴年限能否认定")
    press_ok(qtbot, dialog)
    request = dialog.request()
    assert request.action is Action.ESCALATE and request.department == "税务局"
    assert request.complexity == "complex" and request.due_at == datetime(2026, 12, 18, 17, 30)


def test_callback_due_time_cannot_be_in_the_past(qtbot: QtBot) -> None:
    now = datetime.now().replace(second=0, microsecond=0)
    dialog = show(qtbot, CallbackDialog(None, now - timedelta(hours=2)))
    type_text(qtbot, dialog.reason, "需核实后回电")
    press_ok(qtbot, dialog)
    assert "回电期限不能早于现在" in dialog.error.text()
    dialog.due.setDateTime(now + timedelta(days=1))
    press_ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.request().due_at == now + timedelta(days=1)


def test_close_needs_an_outcome_and_a_summary(qtbot: QtBot) -> None:
    dialog = show(qtbot, CloseDialog(None))
    assert not dialog.intro.isVisible(), "a chat's caller rates on their own page"
    assert dialog.findChildren(QCheckBox) == [], "no staff rating to ask for"
    press_ok(qtbot, dialog)
    assert "请选择办理结果" in dialog.error.text() and "请填写办结摘要" in dialog.error.text()
    assert dialog.focusWidget() is dialog.outcome
    qtbot.keyClick(dialog.outcome, Qt.Key.Key_Down)
    qtbot.keyClick(dialog.outcome, Qt.Key.Key_Tab)
    type_text(qtbot, dialog.summary, "已告知所需材料")
    press_ok(qtbot, dialog)
    request = dialog.request()
    assert request.action is Action.CLOSE and request.outcome == "resolved"
    assert request.close_summary == "已告知所需材料"


def test_close_says_that_the_rating_link_follows(qtbot: QtBot) -> None:
    dialog = show(qtbot, CloseDialog(None, rating_link_follows=True))
    assert dialog.intro.isVisible()
    assert "评价链接" in dialog.intro.text() and "群众本人" in dialog.intro.text()


URL = "http://127.0.0.1:8000/r/5kq2Tn0vYbXl8wRjZpA3cFh7LmUe9sGd"
SMS = f"【政务服务】感谢您的来电。请对本次服务作出评价（非常满意至非常不满意）：{URL}"


def test_the_rating_link_dialog_shows_the_link_the_sms_and_a_qr_code(qtbot: QtBot) -> None:
    dialog = show(qtbot, RatingLinkDialog(None, URL, SMS, "钱女士"))
    # Nothing to score here: the caller rates on their own phone (GB/T 39734).
    assert not dialog.findChildren(QDialogButtonBox)[0].buttons()[1:]
    assert "读给群众（钱女士）" in dialog.intro.text() and "短信" in dialog.intro.text()
    assert dialog.link_label.text() == URL
    assert dialog.link_label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    assert dialog.sms_edit.isReadOnly() and dialog.sms_edit.toPlainText() == SMS
    pixmap = dialog.qr_label.pixmap()
    assert not pixmap.isNull() and pixmap.width() >= 150
    qtbot.mouseClick(dialog.copy_link_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == URL
    assert dialog.status.text() == "已复制评价链接"
    qtbot.mouseClick(dialog.copy_sms_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == SMS
    assert "已复制短信内容" in dialog.status.text()
    assert dialog.isVisible(), "copying does not close it"
    dialog.show_rated("满意")
    assert dialog.rated.text().startswith("群众已评价：满意")
    texts = [b.text() for b in dialog.findChildren(QPushButton)]
    assert sorted(texts) == sorted(["复制链接(&L)", "复制短信内容(&S)", "关闭"])
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible() and dialog.result() == QDialog.DialogCode.Rejected


def test_reassign_names_the_current_assignee_and_needs_a_reason(qtbot: QtBot) -> None:
    dialog = show(qtbot, ReassignDialog(None, [Choice(3, "王芳（在线 · 在办 2/5）")], 2, "李晓雯"))
    assert "李晓雯" in dialog.intro.text()
    press_ok(qtbot, dialog)
    assert "请选择改派给哪位坐席" in dialog.error.text() and "请填写改派原因" in dialog.error.text()
    dialog.agent.setCurrentIndex(1)
    type_text(qtbot, dialog.reason, "坐席请假")
    press_ok(qtbot, dialog)
    request = dialog.request()
    assert (
        request.to_agent_id == 3 and request.expected_assignee_id == 2 and request.to_name == "王芳"
    )
