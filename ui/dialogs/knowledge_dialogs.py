"""纠错 / 新问题: telling the knowledge base's editors what is wrong or missing.

The dialog is opened window-modal without a nested event loop (``open``, not
``exec``), so the asyncio loop keeps running while the person writes. ``ask``
returns an awaitable of the request, or ``None`` when cancelled; tests may replace
it, or drive the dialog itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QRadioButton,
    QWidget,
)

from core.entities import KnowledgeEntry
from ui.asking import ask_dialog
from ui.dialogs.session_dialogs import FormDialog
from ui.knowledge_backend import MAX_FEEDBACK


@dataclass(frozen=True)
class FeedbackRequest:
    kind: str
    """``correction`` or ``new_question``."""
    entry_id: str | None
    text: str


class KnowledgeFeedbackDialog(FormDialog):
    """Report a problem with an entry (纠错) or a question the base lacks (新问题)."""

    ok_text = "提交"

    def __init__(
        self, parent: QWidget | None, entry: KnowledgeEntry | None, kind: str = "correction"
    ) -> None:
        super().__init__(parent, self.tr("纠错 / 新问题"))
        self.setObjectName("knowledgeFeedbackDialog")
        self.entry = entry
        self.correction = QRadioButton(self.tr("纠错：这条问答有误或已过时"))
        self.new_question = QRadioButton(self.tr("新问题：知识库里没有这个问题"))
        self.kinds = QButtonGroup(self)
        self.kinds.addButton(self.correction)
        self.kinds.addButton(self.new_question)
        kinds = QWidget()
        row = QHBoxLayout(kinds)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.correction)
        row.addWidget(self.new_question)
        row.addStretch(1)
        self.form.addRow(self.tr("类型"), kinds)
        self.entry_label = QLabel(entry.title if entry else self.tr("（未选择条目）"))
        self.entry_label.setWordWrap(True)
        self.form.addRow(self.tr("条目"), self.entry_label)
        self.text_edit = QPlainTextEdit()
        self.text_edit.setTabChangesFocus(True)
        self.text_edit.setMinimumHeight(120)
        self.form.addRow(self.tr("内容"), self.text_edit)
        self.count = QLabel()
        self.count.setStyleSheet("color: #757575;")
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.addRow("", self.count)
        self.set_intro(
            self.tr("提交后先保存在本机，联网同步时送达知识库管理员的审核列表，离线时也可以提交。")
        )
        self.correction.toggled.connect(self._on_kind_toggled)
        self.text_edit.textChanged.connect(self._on_text_changed)
        if entry is None:
            self.correction.setEnabled(False)
            kind = "new_question"
        (self.correction if kind == "correction" else self.new_question).setChecked(True)
        self._on_kind_toggled()
        self._on_text_changed()
        self.text_edit.setFocus()

    def _on_kind_toggled(self, _checked: bool = False) -> None:
        if self.correction.isChecked():
            self.entry_label.setEnabled(True)
            self.text_edit.setPlaceholderText(self.tr("哪里有误？正确的说法是什么，依据哪份文件？"))
        else:
            self.entry_label.setEnabled(False)
            self.text_edit.setPlaceholderText(
                self.tr("群众问了什么？在哪种情况下问的？知识库里没有找到答案。")
            )

    def _on_text_changed(self) -> None:
        length = len(self.text_edit.toPlainText().strip())
        self.count.setText(self.tr("{0} / {1} 字").format(length, MAX_FEEDBACK))

    def problems(self) -> list[tuple[QWidget, str]]:
        text = self.text_edit.toPlainText().strip()
        if not text:
            return [(self.text_edit, self.tr("请填写内容"))]
        if len(text) < 4:
            return [(self.text_edit, self.tr("请写得具体一些（至少 4 个字）"))]
        if len(text) > MAX_FEEDBACK:
            return [(self.text_edit, self.tr("内容过长，最多 {0} 字").format(MAX_FEEDBACK))]
        return []

    def accept(self) -> None:
        problems = self.problems()
        self.show_problems(problems)
        if problems:
            problems[0][0].setFocus()
            return
        super().accept()

    def request(self) -> FeedbackRequest:
        kind = "correction" if self.correction.isChecked() else "new_question"
        return FeedbackRequest(
            kind,
            self.entry.id if kind == "correction" and self.entry is not None else None,
            self.text_edit.toPlainText().strip(),
        )

    @classmethod
    def ask(
        cls, parent: QWidget | None, entry: KnowledgeEntry | None, kind: str = "correction"
    ) -> asyncio.Future[FeedbackRequest | None]:
        """Open the dialog; the future resolves when it closes."""
        dialog = cls(parent, entry, kind)
        return ask_dialog(dialog, dialog.request)
