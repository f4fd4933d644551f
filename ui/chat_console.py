"""The session console's conversation: loads a chat session's messages and the
suggested answers into :class:`ui.chat_panel.ChatPanel`, and sends what the agent
writes through the outbox (:class:`core.localstore.messages.ChatActions`).

The suggestions come from the local knowledge search, so they are there offline
too: whenever the caller's latest question changes, its three best published,
unexpired entries are listed; F10 … F12 send one with its source.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from urllib.parse import quote

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage

from core.entities import KnowledgeEntry, Session
from core.enums import Channel
from core.localstore.changes import Changes
from core.localstore.messages import ChatActions, answer_with_source, write_refusal
from core.localstore.session_actions import ActionError, ActionResult, Me
from core.localstore.store import LocalStore
from core.search import SearchFilters
from sync.client import ApiClient
from ui.chat_panel import THUMB_SIZE, ChatPanel
from ui.dialogs.photo_dialog import PhotoDialog
from ui.knowledge_backend import KnowledgeBackend
from ui.operations import Op, Operations
from ui.tasks import owned_slot, spawn

log = logging.getLogger(__name__)

SUGGESTIONS = 3


def decode_image(data: bytes) -> QImage | None:
    """A photo's bytes as an image (off the GUI thread); None when they are not one."""
    image = QImage.fromData(data)
    return None if image.isNull() else image


def thumbnail_of(data: bytes) -> QImage | None:
    image = decode_image(data)
    if image is None:
        return None
    if max(image.width(), image.height()) <= THUMB_SIZE:
        return image
    return image.scaled(
        THUMB_SIZE,
        THUMB_SIZE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


def is_chat(session: Session | None) -> bool:
    return session is not None and session.channel == Channel.WEB_CHAT.value


class ChatConsole(QObject):
    """Keeps the chat panel on the session at hand."""

    sent = Signal(str)
    """A message id, once its local record and outbox row are written."""
    photo_shown = Signal(object)
    """The :class:`ui.dialogs.photo_dialog.PhotoDialog` just opened."""

    def __init__(
        self,
        store: LocalStore,
        api: ApiClient,
        me: Me,
        ops: Operations,
        knowledge: KnowledgeBackend,
        panel: ChatPanel | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.api = api
        self.me = me
        self.ops = ops
        self.knowledge = knowledge
        self.actions = ChatActions(store, me)
        self.panel = panel or ChatPanel()
        self.session: Session | None = None
        self._question: str | None = None
        self._drafts: dict[str, tuple[str, str | None]] = {}
        self._target: str | None = None
        """The session on screen (chat or not), as last asked for."""
        self._generation = 0
        self._photo_task: asyncio.Task[None] | None = None
        self.panel.send_requested.connect(self._on_panel_send_requested)
        self.panel.photo_requested.connect(self._on_panel_photo_requested)
        self.panel.set_writable(False, "")

    @property
    def active(self) -> bool:
        """A chat session is on screen and this person may write in it."""
        return self.session is not None and self._writable(self.session)[0]

    def _writable(self, session: Session) -> tuple[bool, str]:
        refusal = write_refusal(session, self.me)
        return not refusal, refusal

    async def show_session(self, session_id: str | None) -> bool:
        """Point the panel at a session, read fresh from the cache (the caller's copy may
        be a step behind: a queue moved, an answer came). Returns whether it is a chat
        (the view shows the 对话 tab for those only)."""
        self._target = session_id
        self._generation += 1
        generation = self._generation
        session = await self.ops.query(self.store.session, session_id) if session_id else None
        if generation != self._generation:
            return is_chat(session)  # a newer call (a later state) decides what is shown
        before = self.session.id if self.session else None
        self.session = session if is_chat(session) else None
        after = self.session.id if self.session else None
        if before != after:
            # What was being typed waits for its session: a draft is never lost by a
            # click on another session or by the session moving queue.
            if before is not None:
                self._drafts[before] = self.panel.draft()
            self.panel.set_draft(self._drafts.pop(after, ("", None)) if after else ("", None))
            self._question = None
        if self.session is None:
            self.panel.set_messages([])
            self.panel.set_suggestions([])
            return False
        writable, reason = self._writable(self.session)
        self.panel.set_writable(writable, reason)
        await self.reload()
        return True

    async def reload(self) -> None:
        session = self.session
        if session is None:
            return
        messages = await self.ops.query(self.actions.messages, session.id)
        if self.session is None or self.session.id != session.id:
            return  # another session was chosen meanwhile
        self.panel.set_messages(messages)
        shown = self.panel.messages_view.thumbs
        if any(a not in shown for m in messages for a in m.attachment_ids) and (
            self._photo_task is None or self._photo_task.done()
        ):
            self._photo_task = spawn(self._fetch_photos(session.id), owner=self)
        question = next(
            (m.text.strip() for m in reversed(messages) if m.from_caller and m.text.strip()),
            "",
        )
        if question != self._question:
            self._question = question
            self.panel.set_suggestions(await self.suggestions_for(question))

    async def suggestions_for(self, question: str) -> list[KnowledgeEntry]:
        if not question:
            return []
        try:
            result = await self.knowledge.search(question, SearchFilters(), limit=SUGGESTIONS * 2)
        except Exception:
            log.exception("suggestions: the local search failed")
            return []
        return [h.entry for h in result.hits if not h.expired][:SUGGESTIONS]

    async def refresh(self, changes: Changes) -> None:
        """After a sync or an action: reread the session (its state decides who may
        write) and the conversation if they changed."""
        target = self._target
        if target is None:
            return
        touched = not changes.session_ids or target in changes.session_ids
        if changes.sessions and touched:
            await self.show_session(target)
        elif "message" in changes.kinds:
            # Any message change rereads (a push's answer names the message, not its
            # session); it is one small query for the conversation on screen.
            await self.reload()

    # -- photos ----------------------------------------------------------------------------

    async def _fetch_photos(self, session_id: str) -> None:
        """Thumbnails of the conversation's photos: from the cache, else fetched from the
        server (``GET /attachments/{id}``) and kept there for offline reading."""
        messages = await self.ops.query(self.actions.messages, session_id)
        shown = self.panel.messages_view.thumbs
        wanted = [a for m in messages for a in m.attachment_ids if a not in shown]
        missing = set(await self.ops.query(self.actions.missing_photos, session_id))
        thumbs: dict[str, QImage] = {}
        failed: set[str] = set()
        for attachment_id in dict.fromkeys(wanted):
            try:
                if attachment_id in missing:
                    data = await self.ops.fetch(
                        self.api.download, f"/attachments/{quote(attachment_id)}"
                    )
                else:
                    cached: bytes | None = await self.ops.query(self.actions.photo, attachment_id)
                    data = cached or b""
                thumb = await self.ops.fetch(thumbnail_of, data)
            except Exception as exc:  # offline, refused, gone: said on screen, tried later
                log.info("photo %s not fetched: %s", attachment_id, type(exc).__name__)
                failed.add(attachment_id)
                continue
            if thumb is None:
                failed.add(attachment_id)
                continue
            if attachment_id in missing:
                await self.ops.query(self.actions.keep_photo, session_id, attachment_id, data)
            thumbs[attachment_id] = thumb
        if self.session is not None and self.session.id == session_id:
            self.panel.add_thumbs(thumbs, failed)

    @owned_slot(str)
    async def _on_panel_photo_requested(self, attachment_id: str) -> None:
        data = await self.ops.query(self.actions.photo, attachment_id)
        image = await self.ops.fetch(decode_image, data) if data else None
        if image is None:
            self.panel.show_status("照片尚未取回，联网后再试", error=True)
            return
        dialog = PhotoDialog(self.panel.window(), image)
        dialog.show()
        self.photo_shown.emit(dialog)

    # -- sending ---------------------------------------------------------------------------

    def quote(self, entry: KnowledgeEntry) -> None:
        """The knowledge pane's "insert answer": into the compose box, with its source."""
        self.panel.quote(answer_with_source(entry), entry.id)

    async def send(
        self,
        text: str,
        knowledge_id: str | None = None,
        *,
        suggested: bool = False,
        notice: bool = False,
    ) -> bool:
        """Queue a message to the caller; True once it is in the outbox."""
        session = self.session
        if session is None:
            return False
        outcome = await self.ops.run(
            Op(
                db=partial(
                    self.actions.send,
                    session.id,
                    text,
                    knowledge_id=knowledge_id,
                    suggested=suggested,
                    notice=notice,
                ),
                changes=lambda r: r.changes,
                outbox=True,
                report=lambda t: self.panel.show_status(t, error=True),
                prefix="消息未发送：",
                expected=(ActionError,),
            )
        )
        if outcome.ok and isinstance(outcome.value, ActionResult):
            self.sent.emit(outcome.value.mutation_id)
            return True
        return False

    async def send_entry(self, entry_id: str, *, suggested: bool) -> bool:
        entry = await self.ops.query(self.store.knowledge, entry_id)
        if entry is None:
            self.panel.show_status("本机暂无该知识条目，请同步后再试", error=True)
            return False
        return await self.send(answer_with_source(entry), entry.id, suggested=suggested)

    @owned_slot(str, object, bool)
    async def _on_panel_send_requested(
        self, text: str, knowledge_id: str | None, suggested: bool
    ) -> None:
        if suggested and knowledge_id:
            await self.send_entry(knowledge_id, suggested=True)
            return
        session_id = self.session.id if self.session else None
        if await self.send(text, knowledge_id):
            if self.session is not None and self.session.id == session_id:
                self.panel.clear_compose()
            elif session_id is not None:
                self._drafts.pop(session_id, None)  # sent from there: not a draft now
