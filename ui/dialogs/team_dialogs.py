"""The team lead's dialogs: the reason of a dragged reassignment, moving all of an
agent's sessions, following up a rectification, and where to save an export.

Each has an ``ask`` classmethod, the only way the board opens it: it returns a
future of the answer (``None`` when cancelled), as the session console's dialogs do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QWidget,
)

from core.enums import EVALUATION_LABELS
from core.rectifications import MAX_TEXT, TEXT_FIELDS, Rectification
from ui.asking import ask_dialog, file_dialog
from ui.dialogs.session_dialogs import Choice, FormDialog, _fill, _multiline, _reason_edit

SPREAD = "spread"
"""The move-all target that spreads the sessions over the online colleagues."""


class ReassignReasonDialog(FormDialog):
    """改派 by drag and drop: the target is known, the reason is asked."""

    ok_text = "改派"

    def __init__(self, parent: QWidget | None, summary: str, from_name: str, to_name: str) -> None:
        super().__init__(parent, self.tr("改派会话"))
        self.setMinimumWidth(520)
        short = summary if len(summary) <= 28 else summary[:28] + "…"
        # Two short lines rather than one long wrapped one: a wrapped label in a form
        # dialog does not always get the height it needs.
        self.set_intro(
            self.tr("会话：{0}\n从 {1} 改派给 {2}，双方都会立即收到通知。").format(
                short, from_name or self.tr("待接入队列"), to_name
            )
        )
        self.reason = _reason_edit(self.tr("如：原坐席已离线，改由他人跟进"))
        self.form.addRow(self.tr("改派原因"), self.reason)

    def problems(self) -> list[tuple[QWidget, str]]:
        if not self.reason.text().strip():
            return [(self.reason, self.tr("请填写改派原因，相关坐席都会看到"))]
        return []

    @classmethod
    def ask(
        cls, parent: QWidget | None, summary: str, from_name: str, to_name: str
    ) -> asyncio.Future[str | None]:
        """The reason typed, or None when the lead cancelled."""
        dialog = cls(parent, summary, from_name, to_name)
        return ask_dialog(dialog, lambda: dialog.reason.text().strip())


@dataclass(frozen=True)
class MoveAllAnswer:
    """Where an agent's open sessions go, and why."""

    target: int | str
    """An agent id, or :data:`SPREAD`."""
    reason: str


class MoveAllDialog(FormDialog):
    """移走全部在办: every open session of one agent, one reason for all."""

    ok_text = "全部改派"

    def __init__(
        self, parent: QWidget | None, agent_name: str, count: int, targets: Sequence[Choice]
    ) -> None:
        super().__init__(parent, self.tr("改派全部在办会话"))
        self.set_intro(
            self.tr(
                "将 {0} 名下的 {1} 个未办结会话全部改派。\n每个会话单独提交、单独记录。"
            ).format(agent_name, count)
        )
        self.target = QComboBox()
        _fill(
            self.target,
            [Choice(SPREAD, self.tr("按空闲容量分给在线同事")), *targets],
        )
        self.reason = _reason_edit(self.tr("如：坐席已离线，会话改由他人跟进"))
        self.form.addRow(self.tr("改派给"), self.target)
        self.form.addRow(self.tr("改派原因"), self.reason)

    def problems(self) -> list[tuple[QWidget, str]]:
        if not self.reason.text().strip():
            return [(self.reason, self.tr("请填写改派原因，坐席都会看到"))]
        return []

    @classmethod
    def ask(
        cls, parent: QWidget | None, agent_name: str, count: int, targets: Sequence[Choice]
    ) -> asyncio.Future[MoveAllAnswer | None]:
        dialog = cls(parent, agent_name, count, targets)
        return ask_dialog(
            dialog, lambda: MoveAllAnswer(dialog.target.currentData(), dialog.reason.text().strip())
        )


@dataclass(frozen=True)
class RectificationAnswer:
    """What the lead did in the follow-up dialog."""

    assignee_id: int | None
    texts: dict[str, str]
    close: bool


class RectificationDialog(FormDialog):
    """差评整改: who follows it up, what was verified, what was done, the result."""

    ok_text = "保存"

    def __init__(
        self, parent: QWidget | None, rectification: Rectification, members: Sequence[Choice]
    ) -> None:
        super().__init__(parent, self.tr("差评整改"))
        self.setMinimumWidth(520)
        r = rectification
        score = EVALUATION_LABELS.get(r.score or 0, "")
        intro = self.tr("评价：{0}　整改期限：{1}").format(score or "—", r.deadline.isoformat())
        if r.comment:
            intro += "\n" + self.tr("群众评价：{0}").format(r.comment)
        if r.summary:
            intro += "\n" + self.tr("诉求：{0}").format(r.summary)
        self.set_intro(intro)
        self.assignee = QComboBox()
        _fill(self.assignee, members, self.tr("（未分派）"))
        if r.assignee_id is not None:
            found = self.assignee.findData(r.assignee_id)
            if found >= 0:
                self.assignee.setCurrentIndex(found)
        self.verification = _multiline(self.tr("核实了什么：通话录音、办理记录、当事坐席说明…"))
        self.action = _multiline(self.tr("采取了什么措施：回访群众、补正答复、培训提醒…"))
        self.outcome = _multiline(self.tr("整改结果：群众是否认可、问题是否解决"))
        for edit, value in (
            (self.verification, r.verification),
            (self.action, r.action),
            (self.outcome, r.outcome),
        ):
            edit.setPlainText(value)
        self.form.addRow(self.tr("整改负责人"), self.assignee)
        self.form.addRow(self.tr("核实情况"), self.verification)
        self.form.addRow(self.tr("整改措施"), self.action)
        self.form.addRow(self.tr("整改结果"), self.outcome)
        self.close_button = self.buttons.addButton(
            self.tr("办结整改"), QDialogButtonBox.ButtonRole.ActionRole
        )
        self.close_button.clicked.connect(self._on_close_button_clicked)
        self.closing = False
        hint = QLabel(self.tr("办结前须填写核实情况、整改措施和整改结果。"))
        hint.setStyleSheet("color: #757575;")
        self.form.addRow("", hint)

    def texts(self) -> dict[str, str]:
        return {
            "verification": self.verification.toPlainText().strip(),
            "action": self.action.toPlainText().strip(),
            "outcome": self.outcome.toPlainText().strip(),
        }

    def problems(self) -> list[tuple[QWidget, str]]:
        found: list[tuple[QWidget, str]] = []
        edits = {"verification": self.verification, "action": self.action, "outcome": self.outcome}
        for key, text in self.texts().items():
            if len(text) > MAX_TEXT:
                found.append((edits[key], self.tr("内容过长（最多 {0} 字）").format(MAX_TEXT)))
        if self.closing:
            for key, label in TEXT_FIELDS.items():
                if not self.texts()[key]:
                    found.append((edits[key], self.tr("办结前请填写{0}").format(label)))
            if self.assignee.currentData() is None:
                found.append((self.assignee, self.tr("办结前请指定整改负责人")))
        return found

    def _on_close_button_clicked(self) -> None:
        self.closing = True
        self.accept()
        if self.result() != QDialog.DialogCode.Accepted:
            self.closing = False

    def answer(self) -> RectificationAnswer:
        data = self.assignee.currentData()
        return RectificationAnswer(
            assignee_id=int(data) if data is not None else None,
            texts=self.texts(),
            close=self.closing,
        )

    @classmethod
    def ask(
        cls, parent: QWidget | None, rectification: Rectification, members: Sequence[Choice]
    ) -> asyncio.Future[RectificationAnswer | None]:
        dialog = cls(parent, rectification, members)
        return ask_dialog(dialog, dialog.answer)


class ExportDialog:
    """Where to save the figures: a save dialog with the two formats."""

    CSV_FILTER = "CSV 文件（Excel 可打开） (*.csv)"
    XLSX_FILTER = "Excel 工作簿 (*.xlsx)"

    @classmethod
    def ask(cls, parent: QWidget | None, suggested: Path) -> asyncio.Future[Path | None]:
        """The path chosen (its suffix says the format), or None when cancelled."""
        dialog = file_dialog(
            parent,
            parent.tr("导出统计") if parent is not None else "导出统计",
            suggested.parent,
            f"{cls.XLSX_FILTER};;{cls.CSV_FILTER}",
        )
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.selectFile(suggested.name)

        def answer() -> Path:
            result = Path(dialog.selectedFiles()[0])
            if result.suffix.lower() not in (".csv", ".xlsx"):
                chosen = dialog.selectedNameFilter()
                result = result.with_suffix(".csv" if chosen == cls.CSV_FILTER else ".xlsx")
            return result

        return ask_dialog(dialog, answer)
