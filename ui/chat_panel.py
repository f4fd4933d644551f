"""The conversation of a chat session as the agent sees it: the messages both ways
(newest at the bottom, each staff message with its state), the compose box (Enter
sends, Shift+Enter breaks the line), the suggested answers to the caller's latest
question (F10, F11, F12 send one with its source) and the two things an agent sends
often: the screen-share link and the walkthrough's 一次性告知.

A widget only: :class:`ui.chat_console.ChatConsole` loads what it shows and does
what it asks for.
"""

from __future__ import annotations

import html
from collections.abc import Container, Mapping
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QImage, QKeyEvent, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.entities import KnowledgeEntry
from core.localstore.messages import ChatMessage, MessageState

SUGGESTION_KEYS = ("F10", "F11", "F12")
STATE_COLOURS = {
    MessageState.SENDING: "#8a5a00",
    MessageState.SENT: "#616161",
    MessageState.READ: "#2e7d32",
    MessageState.FAILED: "#b3261e",
}


class ComposeEdit(QPlainTextEdit):
    """Enter sends; Shift+Enter (or Ctrl+Enter) breaks the line."""

    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        breaks = event.modifiers() & (
            Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier
        )
        if enter and not breaks:
            self.submitted.emit()
            return
        if enter:
            self.insertPlainText("\n")
            return
        super().keyPressEvent(event)


PHOTO_SCHEME = "photo"
THUMB_SIZE = 180
"""The longest side of a photo in the conversation, in pixels (click for full size)."""


class ChatBrowser(QTextBrowser):
    """The messages; a photo's thumbnail comes from :attr:`thumbs` (``photo:<id>``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbs: dict[str, QImage] = {}
        self.unavailable: set[str] = set()
        """Photos that could not be fetched (offline, refused): said so, tried again later."""

    def loadResource(self, kind: int, url: QUrl | str) -> Any:
        name = url.toString() if isinstance(url, QUrl) else str(url)
        scheme, _, key = name.partition(":")
        if scheme == PHOTO_SCHEME and key in self.thumbs:
            return self.thumbs[key]
        return super().loadResource(kind, url)


def _photo_html(
    attachment_id: str, thumbs: Mapping[str, QImage], unavailable: Container[str] = ()
) -> str:
    key = html.escape(attachment_id, quote=True)
    image = thumbs.get(attachment_id)
    if image is None:
        words = "〔照片，联网后可查看〕" if attachment_id in unavailable else "〔照片，正在取回…〕"
        return f"<span style='color:#757575'>{words}</span>"
    return (
        f"<a href='{PHOTO_SCHEME}:{key}'><img src='{PHOTO_SCHEME}:{key}' "
        f"width='{image.width()}' height='{image.height()}'></a>"
    )


def message_html(
    message: ChatMessage,
    thumbs: Mapping[str, QImage] | None = None,
    unavailable: Container[str] = (),
) -> str:
    """One message as a bubble: the caller's on the left, staff's on the right. Every
    text is escaped: what a caller typed is shown as typed, never as markup. Photos show
    as thumbnails once fetched (a click opens them)."""
    text = html.escape(message.text).replace("\n", "<br>")
    for attachment_id in message.attachment_ids:
        text += ("<br>" if text else "") + _photo_html(attachment_id, thumbs or {}, unavailable)
    when = message.created_at.strftime("%H:%M") if message.created_at.year > 1 else ""
    if message.from_caller:
        who, align, background, state = "群众", "left", "#f1f3f4", ""
    else:
        who = message.author_name or "工作人员"
        align, background = "right", "#e3f2fd"
        colour = STATE_COLOURS.get(message.state, "#616161")
        label = message.state.label
        if message.state is MessageState.FAILED and message.problem:
            label += f"：{message.problem}"
        state = f" · <span style='color:{colour}'>{html.escape(label)}</span>"
    source = " · 引用知识库" if message.knowledge_id else ""
    if message.notice:
        source += " · 一次性告知（群众可打印）"
    head = f"{html.escape(who)} · {when}{source}{state}"
    return (
        f"<table width='100%' cellspacing='0' cellpadding='0'><tr><td align='{align}'>"
        f"<table cellspacing='0' cellpadding='8' bgcolor='{background}'><tr><td>"
        f"<span style='color:#616161; font-size:small'>{head}</span><br>{text}"
        "</td></tr></table></td></tr></table><p style='margin:0'></p>"
    )


class ChatPanel(QWidget):
    """Messages, suggestions and the compose box of one chat session."""

    send_requested = Signal(str, object, bool)
    """(text, knowledge entry id or None, sent from the suggestions)."""
    share_link_requested = Signal()
    notice_requested = Signal()
    photo_requested = Signal(str)
    """An attachment id: the person clicked a photo to see it whole."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._quoted: str | None = None
        """The entry the compose box quotes (from the knowledge pane), until sent."""
        self._suggestions: list[KnowledgeEntry] = []

        self.messages_view = ChatBrowser()
        self.messages_view.setObjectName("chatMessages")
        self.messages_view.setOpenLinks(False)
        self.messages_view.anchorClicked.connect(self._on_messages_anchor_clicked)
        self.messages: list[ChatMessage] = []
        self.messages_view.setAccessibleName(self.tr("与群众的对话"))
        self.empty = QLabel(self.tr("还没有消息"))
        self.empty.setStyleSheet("color: #757575;")

        self.suggestion_title = QLabel(self.tr("建议答案（F10 / F11 / F12 连同出处发送）"))
        self.suggestion_title.setStyleSheet("font-weight: 600;")
        self.suggestion_list = QListWidget()
        self.suggestion_list.setObjectName("chatSuggestions")
        self.suggestion_list.setAccessibleName(self.tr("建议答案"))
        self.suggestion_list.setWordWrap(False)
        self.suggestion_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.suggestion_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.suggestion_list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        rows = self.suggestion_list.fontMetrics().height() + 6
        self.suggestion_list.setFixedHeight(rows * len(SUGGESTION_KEYS) + 6)
        self.suggestion_list.itemActivated.connect(self._on_suggestion_activated)
        self.no_suggestion = QLabel(self.tr("群众提问后，这里列出最相关的知识条目"))
        self.no_suggestion.setStyleSheet("color: #757575;")

        self.compose = ComposeEdit()
        self.compose.setObjectName("chatCompose")
        self.compose.setAccessibleName(self.tr("回复群众"))
        self.compose.setPlaceholderText(self.tr("输入回复，Enter 发送，Shift+Enter 换行"))
        self.compose.setTabChangesFocus(True)
        self.compose.setFixedHeight(64)
        self.compose.submitted.connect(self._on_compose_submitted)
        self.compose.textChanged.connect(self._on_compose_text_changed)
        self.send_button = QPushButton(self.tr("发送"))
        self.send_button.setObjectName("chatSend")
        self.send_button.clicked.connect(self._on_compose_submitted)
        self.share_button = QPushButton(self.tr("发送共享链接"))
        self.share_button.setToolTip(self.tr("把“屏幕共享”中生成的链接作为消息发给群众"))
        self.share_button.clicked.connect(self.share_link_requested)
        self.notice_button = QPushButton(self.tr("发送一次性告知"))
        self.notice_button.setToolTip(self.tr("把“导办”得出的一次性告知作为消息发给群众"))
        self.notice_button.clicked.connect(self.notice_requested)
        self.status = QLabel()
        self.status.setObjectName("chatStatus")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.hide()
        self._status_timer = QTimer(self)
        self._status_timer.setSingleShot(True)
        self._status_timer.timeout.connect(self.status.hide)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.share_button)
        buttons.addWidget(self.notice_button)
        buttons.addStretch(1)
        buttons.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.messages_view, 1)
        layout.addWidget(self.empty)
        layout.addWidget(self.suggestion_title)
        layout.addWidget(self.suggestion_list)
        layout.addWidget(self.no_suggestion)
        layout.addWidget(self.status)
        layout.addWidget(self.compose)
        layout.addLayout(buttons)

        for index, key in enumerate(SUGGESTION_KEYS):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda i=index: self.send_suggestion(i))
        self.set_suggestions([])
        self.set_messages([])

    # -- what is shown ----------------------------------------------------------------------

    def set_messages(self, messages: list[ChatMessage]) -> None:
        view = self.messages_view
        bar = view.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 4
        position = bar.value()
        view.setHtml("".join(message_html(m, view.thumbs, view.unavailable) for m in messages))
        self.empty.setVisible(not messages)
        self.messages = messages
        if at_end:
            # Newest at the bottom, unless the person scrolled up to read.
            cursor = view.textCursor()
            cursor.movePosition(QTextCursor.MoveOperation.End)
            view.setTextCursor(cursor)
            view.ensureCursorVisible()
            # Photos and wrapped lines may still grow the document: once more, laid out.
            QTimer.singleShot(0, lambda: bar.setValue(bar.maximum()))
        else:
            bar.setValue(position)

    def set_suggestions(self, entries: list[KnowledgeEntry]) -> None:
        self._suggestions = entries[: len(SUGGESTION_KEYS)]
        self.suggestion_list.clear()
        rows = self.suggestion_list.fontMetrics().height() + 6
        for key, entry in zip(SUGGESTION_KEYS, self._suggestions, strict=False):
            unit = entry.issuing_unit or self.tr("本中心")
            item = QListWidgetItem(
                self.tr("{0}  {1}（{2}，第 {3} 版）").format(key, entry.title, unit, entry.version)
            )
            item.setToolTip(f"{entry.title}\n{entry.answer[:300]}")
            item.setSizeHint(QSize(0, rows))
            self.suggestion_list.addItem(item)
        self.suggestion_list.setVisible(bool(self._suggestions))
        self.no_suggestion.setVisible(not self._suggestions)

    def add_thumbs(self, thumbs: Mapping[str, QImage], unavailable: set[str] | None = None) -> None:
        """Thumbnails fetched (or read from the cache) shown in place at once; the photos
        that could not be fetched say so."""
        view = self.messages_view
        view.thumbs.update(thumbs)
        view.unavailable = (view.unavailable | (unavailable or set())) - set(view.thumbs)
        self.set_messages(self.messages)

    @property
    def suggestions(self) -> list[KnowledgeEntry]:
        return list(self._suggestions)

    def set_writable(self, writable: bool, reason: str = "") -> None:
        """Only the assignee writes, and not once the session is closed."""
        for widget in (self.compose, self.send_button, self.share_button, self.notice_button):
            widget.setEnabled(writable)
        self.suggestion_list.setEnabled(writable)
        self.compose.setPlaceholderText(
            self.tr("输入回复，Enter 发送，Shift+Enter 换行") if writable else reason
        )

    def show_status(self, text: str, *, error: bool = False, seconds: int = 8) -> None:
        colour = "#b3261e" if error else "#1b5e20"
        self.status.setStyleSheet(f"color: {colour};")
        self.status.setText(text)
        self.status.show()
        self._status_timer.start(seconds * 1000)

    # -- what the person does ----------------------------------------------------------------

    def quote(self, text: str, knowledge_id: str) -> None:
        """Put an answer with its source into the compose box (from the knowledge pane)."""
        current = self.compose.toPlainText()
        if current.strip():
            self.compose.appendPlainText("")
        self.compose.insertPlainText(text)
        self._quoted = knowledge_id
        self.compose.setFocus()

    def send_suggestion(self, index: int) -> None:
        if not self.compose.isEnabled() or index >= len(self._suggestions):
            return
        self.send_requested.emit("", self._suggestions[index].id, True)

    def draft(self) -> tuple[str, str | None]:
        """What is being written, and the entry it quotes."""
        return self.compose.toPlainText(), self._quoted

    def set_draft(self, draft: tuple[str, str | None]) -> None:
        self.compose.setPlainText(draft[0])
        self._quoted = draft[1] if draft[0].strip() else None

    def clear_compose(self) -> None:
        self.compose.clear()
        self._quoted = None

    def _on_compose_submitted(self) -> None:
        text = self.compose.toPlainText().strip()
        if not text:
            self.show_status(self.tr("请输入要发送的内容"), error=True)
            return
        self.send_requested.emit(text, self._quoted, False)

    def _on_compose_text_changed(self) -> None:
        if not self.compose.toPlainText().strip():
            self._quoted = None

    def _on_messages_anchor_clicked(self, url: QUrl) -> None:
        scheme, _, key = url.toString().partition(":")
        if scheme == PHOTO_SCHEME and key:
            self.photo_requested.emit(key)

    def _on_suggestion_activated(self, item: QListWidgetItem) -> None:
        self.send_suggestion(self.suggestion_list.row(item))
