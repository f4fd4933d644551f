"""The console's dialogs, filled in by keyboard and mouse: every field is checked, the
messages are in Chinese, the cursor goes to the first field to fix, nothing closes
until the form is right."""

from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog
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
    EvaluationDialog,
    NewSessionDialog,
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
    press_ok(qtbot, dialog)
    assert "请选择办理结果" in dialog.error.text() and "请填写办结摘要" in dialog.error.text()
    assert dialog.focusWidget() is dialog.outcome
    qtbot.keyClick(dialog.outcome, Qt.Key.Key_Down)
    qtbot.keyClick(dialog.outcome, Qt.Key.Key_Tab)
    type_text(qtbot, dialog.summary, "已告知所需材料")
    press_ok(qtbot, dialog)
    answer = dialog.answer()
    assert answer.request.outcome == "resolved" and answer.ask_rating
    assert answer.request.close_summary == "已告知所需材料"


def test_the_rating_prompt_is_neutral_and_a_level_must_be_chosen(qtbot: QtBot) -> None:
    dialog = show(qtbot, EvaluationDialog(None))
    assert dialog.score is None, "no level is chosen in advance"
    for words in ("非常满意", "满意", "基本满意", "不满意", "非常不满意"):
        assert words in dialog.intro.text()
    press_ok(qtbot, dialog)
    assert "请选择群众给出的评价等级" in dialog.error.text()
    with qtbot.waitActive(dialog):
        dialog.activateWindow()
    # Alt+number picks a level (the mnemonics of the five buttons).
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: dialog.score == 2)  # a mnemonic clicks with a short animation
    # The arrow keys move between the levels and choose as they go.
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Up)
    assert dialog.score == 3
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Down)
    assert dialog.score == 2
    type_text(qtbot, dialog.comment, "等待太久")
    press_ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.request().score == 2 and dialog.request().comment == "等待太久"
    assert dialog.cancel_button.text() == "群众未评价"


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
