"""The session at hand: caller (masked), channel, service, matter, deadlines, the
action buttons, the timeline, the internal notes and the note editor.

A widget only: it shows a :class:`SessionDetail` and the console's actions; the
pane decides what the actions do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.entities import Evaluation, MatterGuide, Session, SessionNote
from core.enums import EVALUATION_LABELS, Channel, Outcome, ServiceType, SessionState
from core.masking import mask_id_number, mask_phone
from core.session_timeline import COMPLEXITY_LABELS, due_text, when_text
from ui.models.session_detail import NotesModel, TimelineModel
from ui.models.sessions import is_pending, waited_text

STATE_COLOURS = {
    SessionState.WAITING: "#b3261e",
    SessionState.ASSIGNED: "#8a5a00",
    SessionState.ACTIVE: "#1565c0",
    SessionState.ON_HOLD: "#6d4c41",
    SessionState.ESCALATED: "#6a1b9a",
    SessionState.CALLBACK_PENDING: "#00695c",
    SessionState.CLOSED: "#2e7d32",
}


@dataclass
class SessionDetail:
    """Everything the console shows of one session (plain values, loaded off the GUI)."""

    session: Session
    notes: list[tuple[SessionNote, bool]] = field(default_factory=list)
    matter: MatterGuide | None = None
    assignee_name: str = ""
    evaluations: list[tuple[Evaluation, bool]] = field(default_factory=list)


def _label(enum: type, value: str | None) -> str:
    try:
        return enum(value).label  # type: ignore[no-any-return]
    except ValueError:
        return value or "—"


class SessionView(QWidget):
    """The middle column of the console."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.detail: SessionDetail | None = None
        self.revealed = False
        self._full_numbers: tuple[str, str, str] | None = None
        """(session id, phone, ID number) from the audited reveal: in memory only, for as
        long as that session is on screen; the cache holds masked numbers."""
        self.now = datetime.now

        self.placeholder = QLabel(
            self.tr("从左侧队列选择一个会话\nCtrl+1 待接入 · Ctrl+2 我的会话 · Ctrl+3 今日已办结")
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #757575; font-size: 14px;")

        # -- header ------------------------------------------------------------------------
        self.title = QLabel()
        self.title.setObjectName("sessionTitle")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.state_badge = QLabel()
        self.state_badge.setObjectName("sessionState")
        self.assignee = QLabel()
        self.assignee.setStyleSheet("color: #424242;")
        badge_row = QHBoxLayout()
        badge_row.setContentsMargins(0, 0, 0, 0)
        badge_row.addWidget(self.state_badge)
        badge_row.addWidget(self.assignee)
        badge_row.addStretch(1)

        self.message = QLabel()
        self.message.setObjectName("consoleMessage")
        self.message.setWordWrap(True)
        self.message.hide()
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self.message.hide)

        # -- facts -------------------------------------------------------------------------
        self.caller = QLabel()
        self.phone = QLabel()
        self.phone.setObjectName("callerPhone")
        self.id_number = QLabel()
        self.id_number.setObjectName("callerIdNumber")
        self.reveal_button = QToolButton()
        self.reveal_button.setObjectName("revealButton")
        self.mask_button = QToolButton()
        self.mask_button.setObjectName("maskButton")
        self.channel = QLabel()
        self.service = QLabel()
        self.matter = QLabel()
        self.matter.setWordWrap(True)
        self.guide_button = QToolButton()
        self.guide_button.setObjectName("guideButton")
        self.times = QLabel()
        self.deadline = QLabel()
        self.deadline.setWordWrap(True)
        self.rating = QLabel()
        self.rating.setWordWrap(True)
        facts = QGridLayout()
        facts.setHorizontalSpacing(10)
        facts.setVerticalSpacing(4)
        facts.setColumnStretch(1, 1)
        facts.setColumnStretch(3, 1)
        self._fact_labels: dict[str, QLabel] = {}

        def add(row: int, col: int, key: str, name: str, widget: QWidget) -> None:
            label = QLabel(name)
            label.setStyleSheet("color: #616161;")
            self._fact_labels[key] = label
            facts.addWidget(label, row, col * 2, Qt.AlignmentFlag.AlignTop)
            facts.addWidget(widget, row, col * 2 + 1)

        phone_row = QWidget()
        phone_layout = QHBoxLayout(phone_row)
        phone_layout.setContentsMargins(0, 0, 0, 0)
        phone_layout.addWidget(self.phone)
        phone_layout.addWidget(self.reveal_button)
        phone_layout.addWidget(self.mask_button)
        phone_layout.addStretch(1)
        matter_row = QWidget()
        matter_layout = QHBoxLayout(matter_row)
        matter_layout.setContentsMargins(0, 0, 0, 0)
        matter_layout.addWidget(self.matter, 1)
        matter_layout.addWidget(self.guide_button)
        add(0, 0, "caller", self.tr("来电人"), self.caller)
        add(0, 1, "channel", self.tr("渠道"), self.channel)
        add(1, 0, "phone", self.tr("电话"), phone_row)
        add(1, 1, "service", self.tr("服务"), self.service)
        add(2, 0, "id", self.tr("证件号"), self.id_number)
        # The rows below are long: they span the width.
        for row, caption, widget in (
            (3, self.tr("时间"), self.times),
            (4, self.tr("事项"), matter_row),
            (5, self.tr("期限"), self.deadline),
            (6, self.tr("评价"), self.rating),
        ):
            facts.addWidget(self._caption(caption), row, 0, Qt.AlignmentFlag.AlignTop)
            facts.addWidget(widget, row, 1, 1, 3)
        self._deadline_caption: QLabel = facts.itemAtPosition(5, 0).widget()  # type: ignore[assignment]
        self._rating_caption: QLabel = facts.itemAtPosition(6, 0).widget()  # type: ignore[assignment]

        # -- actions ----------------------------------------------------------------------
        self.action_bar = QWidget()
        self.action_bar.setObjectName("actionBar")
        self.action_grid = QGridLayout(self.action_bar)
        self.action_grid.setContentsMargins(0, 4, 0, 4)
        self.action_grid.setHorizontalSpacing(6)
        self.action_grid.setVerticalSpacing(6)
        self.action_buttons: dict[str, QToolButton] = {}

        # -- timeline and notes --------------------------------------------------------------
        self.timeline_model = TimelineModel(self)
        self.timeline = QListView()
        self.timeline.setObjectName("timeline")
        self.timeline.setModel(self.timeline_model)
        self.timeline.setWordWrap(True)
        self.timeline.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.timeline.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.notes_model = NotesModel(self)
        self.notes = QListView()
        self.notes.setObjectName("notes")
        self.notes.setModel(self.notes_model)
        self.notes.setWordWrap(True)
        self.notes.setSpacing(2)
        self.notes.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.note_edit = QPlainTextEdit()
        self.note_edit.setObjectName("noteEditor")
        self.note_edit.setPlaceholderText(self._note_hint())
        self.note_edit.setTabChangesFocus(True)
        self.note_edit.setFixedHeight(70)
        self.note_button = QPushButton(self.tr("添加备注"))
        self.note_button.setObjectName("addNoteButton")
        note_row = QHBoxLayout()
        note_row.setContentsMargins(0, 0, 0, 0)
        note_row.addWidget(self.note_edit, 1)
        note_row.addWidget(self.note_button, 0, Qt.AlignmentFlag.AlignBottom)

        timeline_box = QWidget()
        tl = QVBoxLayout(timeline_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self._heading(self.tr("时间线")))
        tl.addWidget(self.timeline)
        notes_box = QWidget()
        nl = QVBoxLayout(notes_box)
        nl.setContentsMargins(0, 0, 0, 0)
        nl.addWidget(self._heading(self.tr("内部备注")))
        nl.addWidget(self.notes, 1)
        nl.addLayout(note_row)
        self.records_split = QSplitter(Qt.Orientation.Vertical)
        self.records_split.addWidget(timeline_box)
        self.records_split.addWidget(notes_box)
        self.records_split.setStretchFactor(0, 1)
        self.records_split.setStretchFactor(1, 1)
        self.records_split.setChildrenCollapsible(False)
        # A chat session's conversation goes in a tab before these (set_chat_panel).
        self.lower_tabs = QTabWidget()
        self.lower_tabs.setObjectName("sessionLowerTabs")
        self.lower_tabs.setDocumentMode(True)
        self.lower_tabs.addTab(self.records_split, self.tr("时间线与备注"))
        self.chat_panel: QWidget | None = None
        reply = QShortcut(QKeySequence("Ctrl+J"), self)
        reply.activated.connect(self.focus_chat)

        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(6)
        body.addWidget(self.title)
        body.addLayout(badge_row)
        body.addWidget(self.message)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet("color: #e0e0e0;")
        body.addWidget(line)
        body.addLayout(facts)
        body.addWidget(self.action_bar)
        body.addWidget(self.lower_tabs, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 0)
        layout.addWidget(self.placeholder, 1)
        layout.addWidget(self.body, 1)
        self.body.hide()
        self.setMinimumWidth(380)
        # What callers and colleagues typed is shown as typed, never as markup.
        for label in (
            self.title,
            self.message,
            self.caller,
            self.phone,
            self.id_number,
            self.matter,
            self.deadline,
            self.rating,
            self.assignee,
        ):
            label.setTextFormat(Qt.TextFormat.PlainText)

    @staticmethod
    def _caption(text: str) -> QLabel:
        label = QLabel(text)
        label.setStyleSheet("color: #616161;")
        return label

    @staticmethod
    def _heading(text: str) -> QLabel:
        label = QLabel(text)
        label.setStyleSheet("font-weight: 600; color: #37474f; margin-top: 4px;")
        return label

    # -- actions ---------------------------------------------------------------------------

    def set_actions(self, rows: list[list[QAction]]) -> None:
        """Lay the console's actions out as buttons (text, shortcut in the tooltip)."""
        for r, row in enumerate(rows):
            for c, action in enumerate(row):
                button = QToolButton()
                button.setDefaultAction(action)
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
                button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                button.setMinimumHeight(30)
                button.setObjectName(f"action_{action.objectName()}")
                self.action_grid.addWidget(button, r, c)
                self.action_buttons[action.objectName()] = button

    def set_tool_actions(self, reveal: QAction, guide: QAction) -> None:
        link = "QToolButton { color: #1565c0; } QToolButton:disabled { color: #9e9e9e; }"
        for button, action in ((self.reveal_button, reveal), (self.guide_button, guide)):
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setStyleSheet(link)
            # Shown only where it applies (a number to reveal, a matter with a guide).
            action.changed.connect(lambda b=button, a=action: b.setVisible(a.isEnabled()))

    def set_chat_panel(self, panel: QWidget) -> None:
        """The conversation of chat sessions, as the first tab (shown for those only)."""
        self.chat_panel = panel
        self.lower_tabs.insertTab(0, panel, self.tr("对话"))
        self.lower_tabs.setTabVisible(0, False)

    def show_chat(self, visible: bool) -> None:
        """Show the conversation tab (and bring it forward) or hide it."""
        if self.chat_panel is None:
            return
        index = self.lower_tabs.indexOf(self.chat_panel)
        was = self.lower_tabs.isTabVisible(index)
        self.lower_tabs.setTabVisible(index, visible)
        if visible and not was:
            self.lower_tabs.setCurrentIndex(index)
        elif not visible:
            self.lower_tabs.setCurrentWidget(self.records_split)

    def focus_chat(self) -> None:
        if self.chat_panel is not None and self.lower_tabs.isTabVisible(
            self.lower_tabs.indexOf(self.chat_panel)
        ):
            self.lower_tabs.setCurrentWidget(self.chat_panel)
            compose = getattr(self.chat_panel, "compose", None)
            if isinstance(compose, QWidget):
                compose.setFocus()

    def focus_note(self) -> None:
        self.lower_tabs.setCurrentWidget(self.records_split)
        self.note_edit.setFocus()

    def set_mask_action(self, mask: QAction) -> None:
        """隐藏号码 beside the revealed numbers (shown only while they are revealed)."""
        self.mask_button.setDefaultAction(mask)
        self.mask_button.setAutoRaise(True)
        self.mask_button.setStyleSheet("QToolButton { color: #1565c0; }")
        self.mask_button.setVisible(mask.isEnabled())
        mask.changed.connect(lambda: self.mask_button.setVisible(mask.isEnabled()))

    # -- showing ---------------------------------------------------------------------------

    def show_message(self, text: str, *, error: bool = False, seconds: int = 10) -> None:
        colour = "#fde0dc; color: #8c1d18" if error else "#e8f5e9; color: #1b5e20"
        self.message.setStyleSheet(f"background: {colour}; padding: 6px; border-radius: 4px;")
        self.message.setText(text)
        self.message.show()
        self._message_timer.start(seconds * 1000)

    def _note_hint(self) -> str:
        return self.tr("写内部备注，仅工作人员可见；Ctrl+Enter 添加（离线也可）")

    def set_note_closed(self, closed: bool) -> None:
        """A closed session takes no new notes: the editor is greyed and says so."""
        self.note_edit.setReadOnly(closed)
        self.note_edit.setEnabled(not closed)
        self.note_edit.setPlaceholderText(
            self.tr("该会话已办结，不能再添加备注") if closed else self._note_hint()
        )

    def clear(self) -> None:
        self.detail = None
        self.set_revealed(False)
        self.body.hide()
        self.placeholder.show()
        self.timeline_model.set_events([])
        self.notes_model.set_notes([])

    def show_detail(self, detail: SessionDetail, *, keep_reveal: bool = False) -> None:
        same = self.detail is not None and self.detail.session.id == detail.session.id
        if not (same and keep_reveal):
            self.revealed = False
            self._full_numbers = None
        self.detail = detail
        s = detail.session
        self.placeholder.hide()
        self.body.show()
        self.title.setText(s.summary or self.tr("（无诉求描述）"))
        state = SessionState(s.state) if s.state in SessionState._value2member_map_ else None
        colour = STATE_COLOURS.get(state, "#424242") if state else "#424242"
        label = state.label if state else s.state
        if is_pending(s):
            label += self.tr("（待同步）")
        self.state_badge.setText(label)
        self.state_badge.setStyleSheet(
            f"background: {colour}; color: white; padding: 2px 8px; border-radius: 8px;"
        )
        self.assignee.setText(
            self.tr("承办人：{0}").format(detail.assignee_name)
            if detail.assignee_name
            else self.tr("尚未分配")
        )
        self.caller.setText(s.caller_name or self.tr("（未留姓名）"))
        self.channel.setText(_label(Channel, s.channel))
        self.service.setText(_label(ServiceType, s.service_type))
        if detail.matter is not None:
            self.matter.setText(f"{detail.matter.name}（{detail.matter.department}）")
        else:
            self.matter.setText(s.matter_code or self.tr("一般咨询，未关联事项"))
        self._show_numbers()
        self._show_times()
        self._show_deadline()
        self._show_rating()
        self.timeline_model.set_events(s.timeline)
        self.timeline.scrollToBottom()
        self.notes_model.set_notes(detail.notes)
        self.notes.scrollToBottom()

    def set_revealed(self, revealed: bool) -> None:
        """False forgets the full numbers (another session, or the view cleared)."""
        self.revealed = revealed and self._full_numbers is not None
        if not self.revealed:
            self._full_numbers = None
        self._show_numbers()

    def show_revealed(self, session_id: str, phone: str, id_number: str) -> bool:
        """Show the full numbers the server revealed, if that session is still on screen."""
        if self.detail is None or self.detail.session.id != session_id:
            return False
        self._full_numbers = (session_id, phone, id_number)
        self.revealed = True
        self._show_numbers()
        return True

    def _show_numbers(self) -> None:
        if self.detail is None:
            return
        s = self.detail.session
        full = self._full_numbers
        if self.revealed and full is not None and full[0] == s.id:
            self.phone.setText(full[1] or mask_phone(s.caller_phone) or "—")
            self.id_number.setText(full[2] or mask_id_number(s.caller_id_number) or "—")
            self.phone.setStyleSheet("color: #b3261e; font-weight: 600;")
            self.id_number.setStyleSheet("color: #b3261e; font-weight: 600;")
        else:
            self.phone.setText(mask_phone(s.caller_phone) or "—")
            self.id_number.setText(mask_id_number(s.caller_id_number) or "—")
            self.phone.setStyleSheet("")
            self.id_number.setStyleSheet("")

    def _show_times(self) -> None:
        if self.detail is None:
            return
        s = self.detail.session
        now = self.now()
        parts = [self.tr("创建 {0}").format(when_text(s.created_at, now.date()))]
        if s.accepted_at is not None:
            parts.append(self.tr("接入 {0}").format(when_text(s.accepted_at, now.date())))
        elif s.state in (SessionState.WAITING, SessionState.ASSIGNED):
            parts.append(
                self.tr("已等 {0}").format(waited_text((now - s.created_at).total_seconds()))
            )
        if s.closed_at is not None:
            parts.append(self.tr("办结 {0}").format(when_text(s.closed_at, now.date())))
        self.times.setText(" · ".join(parts))

    def _show_deadline(self) -> None:
        assert self.detail is not None
        s = self.detail.session
        text = ""
        if s.state == SessionState.ESCALATED and s.escalation:
            e = s.escalation
            complexity = COMPLEXITY_LABELS.get(str(e.get("complexity")), "")
            text = self.tr("转办至 {0}（{1}）：{2} 前联系群众，{3} 前答复").format(
                e.get("department") or "—",
                complexity,
                due_text(e.get("contact_due_at")),
                due_text(e.get("due_at")),
            )
            if e.get("provisional"):
                text += self.tr("（节假日未公布，暂按周末推算）")
        elif s.state == SessionState.CALLBACK_PENDING and (s.callback_due_at or s.due_at):
            text = self.tr("{0} 前回电").format(due_text(s.callback_due_at or s.due_at))
        elif s.state == SessionState.CLOSED and s.outcome:
            text = self.tr("已办结：{0}").format(_label(Outcome, s.outcome))
            if s.close_summary:
                text += f" · {s.close_summary}"
        overdue = s.due_at is not None and s.due_at < self.now() and s.state != SessionState.CLOSED
        self.deadline.setStyleSheet("color: #b3261e; font-weight: 600;" if overdue else "")
        self.deadline.setText(text)
        self.deadline.setVisible(bool(text))
        self._deadline_caption.setVisible(bool(text))
        closed = s.state == SessionState.CLOSED
        self._deadline_caption.setText(self.tr("结果") if closed else self.tr("期限"))

    def _show_rating(self) -> None:
        assert self.detail is not None
        if not self.detail.evaluations:
            self.rating.hide()
            self._rating_caption.hide()
            return
        evaluation, pending = self.detail.evaluations[-1]
        text = EVALUATION_LABELS.get(evaluation.score, str(evaluation.score))
        if evaluation.comment:
            text += f" · {evaluation.comment}"
        if pending:
            text += self.tr("（待同步）")
        self.rating.setText(text)
        self.rating.setStyleSheet("color: #b3261e;" if evaluation.score <= 2 else "")
        self.rating.show()
        self._rating_caption.show()

    def tick(self) -> None:
        if self.detail is not None:
            self._show_times()
