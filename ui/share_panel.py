"""The screen-share panel of a session (远程帮办, DESIGN.md §6).

The staff member starts a share (a network call: the server makes the room, the code
and the check phrase), reads the code and the phrase to the caller, or sends the link
by SMS or QR code, and watches the link's state change as the caller opens the page
and agrees. The panel can revoke the link and open the room in the browser.

How it is wired (see ``MainWindow``): ``set_session(session_id, assignee_is_me,
online)`` when the session at hand changes, ``set_online(online)`` when the
connection changes, ``reload()`` after a sync brought ``share_link`` records, and
``on_event(event)`` for a ``share_link`` event from the live event stream. While a
link is live and the panel is shown, it also asks the server every few seconds, so
the caller's consent shows within seconds even before the event stream delivers it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.localstore.store import LocalStore
from core.share_link import (
    CONSENTED,
    EXPIRED,
    LIVE,
    LIVE_STATES,
    OPENED,
    REVOKED,
    STATE_LABELS,
    ShareLinkInfo,
    group_code,
    newest,
    remaining_text,
    sms_text,
)
from sync.client import ApiClient
from sync.errors import SyncError
from ui.operations import Op, Operations, Outcome, failure_text
from ui.qr import qr_pixmap
from ui.tasks import owned_slot, spawn
from ui.worker import Workers

log = logging.getLogger(__name__)

KIND = "share_link"
POLL_MS = 3000
CODE_STYLE = "font-size: 36px; font-weight: 700; letter-spacing: 2px; "
PHRASE_STYLE = "font-size: 22px; font-weight: 600; "

STATE_COLOURS = {
    LIVE: "#1565c0",
    OPENED: "#e65100",
    CONSENTED: "#2e7d32",
    EXPIRED: "#757575",
    REVOKED: "#757575",
}
_RANK = {LIVE: 0, OPENED: 1, CONSENTED: 2, EXPIRED: 3, REVOKED: 3}


def _fresher(a: ShareLinkInfo | None, b: ShareLinkInfo | None) -> ShareLinkInfo | None:
    """The one to show: the newer link, or for the same link the later state (a synced
    copy may lag behind what the server answered a moment ago)."""
    if a is None or b is None:
        return a or b
    if a.id != b.id:
        return a if (a.created_at, a.id) > (b.created_at, b.id) else b
    return a if _RANK.get(a.state, 0) >= _RANK.get(b.state, 0) else b


class SharePanel(QWidget):
    """Start, show, send and revoke a session's screen-share link."""

    link_changed = Signal(object)
    """The link shown now (:class:`ShareLinkInfo`) or None."""

    def __init__(
        self,
        workers: Workers,
        api: ApiClient,
        store: LocalStore,
        parent: QWidget | None = None,
        *,
        poll_ms: int = POLL_MS,
        ops: Operations | None = None,
    ) -> None:
        """``poll_ms`` 0 turns the polling off (the event stream alone updates the state)."""
        super().__init__(parent)
        self.setObjectName("sharePanel")
        self._workers = workers
        self._ops = ops or Operations(workers, parent=self)
        self._api = api
        self._store = store
        self._session_id: str | None = None
        self._assignee_is_me = False
        self._online = False
        self._link: ShareLinkInfo | None = None
        self._clock_offset = timedelta(0)
        """Local clock minus the server's, measured when we create a link."""
        self._busy = False
        self._polling = False

        # -- the start row ------------------------------------------------------------
        self.start_button = QPushButton(self.tr("发起屏幕共享"))
        self.start_button.setObjectName("shareStart")
        self.start_button.setMinimumHeight(34)
        self.start_button.setStyleSheet(
            "QPushButton:enabled { background: #1565c0; color: white; border-radius: 4px;"
            " padding: 4px 14px; font-weight: 600; }"
            "QPushButton:disabled { padding: 4px 14px; }"
        )
        self.availability = QLabel()
        self.availability.setObjectName("shareAvailability")
        self.availability.setWordWrap(True)
        self.availability.setStyleSheet("color: #616161;")
        start_row = QHBoxLayout()
        start_row.addWidget(self.start_button)
        start_row.addWidget(self.availability, 1)

        # -- the link card --------------------------------------------------------------
        self.code_label = QLabel()
        self.code_label.setObjectName("shareCode")
        self.code_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.code_label.setStyleSheet(CODE_STYLE + "color: #0d47a1;")
        self.phrase_label = QLabel()
        self.phrase_label.setObjectName("sharePhrase")
        self.phrase_label.setStyleSheet(PHRASE_STYLE + "color: #0d47a1;")
        self.phrase_label.setWordWrap(True)
        # Long texts wrap inside the tools area instead of widening it (and the window).
        self.state_label = QLabel()
        self.state_label.setObjectName("shareState")
        self.state_label.setWordWrap(True)
        self.countdown_label = QLabel()
        self.countdown_label.setObjectName("shareCountdown")
        self.countdown_label.setStyleSheet("font-size: 14px;")
        self.countdown_label.setWordWrap(True)
        self.helper_label = QLabel()
        self.helper_label.setWordWrap(True)
        self.helper_label.setStyleSheet("color: #616161;")
        self.qr_label = QLabel()
        self.qr_label.setObjectName("shareQr")
        self.qr_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr_label.setToolTip(self.tr("对方用手机扫码即可打开共享页面"))
        self.qr_text = ""
        """The text the QR code encodes (the join URL)."""

        caption = QLabel(self.tr("共享码（请读给对方）"))
        caption.setStyleSheet("color: #616161;")
        phrase_caption = QLabel(self.tr("核对暗语（请念给对方听，与对方页面一致才可继续）"))
        phrase_caption.setStyleSheet("color: #616161;")
        phrase_caption.setWordWrap(True)

        facts = QVBoxLayout()
        facts.setSpacing(4)
        facts.addWidget(caption)
        facts.addWidget(self.code_label)
        facts.addSpacing(4)
        facts.addWidget(phrase_caption)
        facts.addWidget(self.phrase_label)
        # The QR code beside the link's state: the card stays narrow (about 300 px).
        state = QVBoxLayout()
        state.setSpacing(4)
        state.addWidget(self.state_label)
        state.addWidget(self.countdown_label)
        state.addWidget(self.helper_label)
        state.addStretch(1)
        scan_row = QHBoxLayout()
        scan_row.setSpacing(12)
        scan_row.addWidget(self.qr_label, 0, Qt.AlignmentFlag.AlignTop)
        scan_row.addLayout(state, 1)

        self.link_edit = QLineEdit()
        self.link_edit.setObjectName("shareUrl")
        self.link_edit.setReadOnly(True)
        self.link_edit.setMinimumWidth(120)

        self.copy_link_button = QPushButton(self.tr("复制链接"))
        self.copy_sms_button = QPushButton(self.tr("复制短信"))
        self.open_room_button = QPushButton(self.tr("在浏览器中打开房间"))
        self.revoke_button = QPushButton(self.tr("撤销"))
        self.revoke_button.setObjectName("shareRevoke")
        self.revoke_button.setStyleSheet("QPushButton:enabled { color: #b3261e; }")
        buttons = QGridLayout()
        buttons.setHorizontalSpacing(8)
        buttons.setVerticalSpacing(6)
        for button in (
            self.copy_link_button,
            self.copy_sms_button,
            self.open_room_button,
            self.revoke_button,
        ):
            button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
            button.setMinimumHeight(30)
        buttons.addWidget(self.copy_link_button, 0, 0)
        buttons.addWidget(self.copy_sms_button, 0, 1)
        buttons.addWidget(self.open_room_button, 1, 0, 1, 2)
        # Apart from the others (its own corner), so that it is not pressed by mistake.
        buttons.addWidget(self.revoke_button, 1, 2, Qt.AlignmentFlag.AlignRight)
        buttons.setColumnStretch(2, 1)

        self.card = QFrame()
        self.card.setObjectName("shareCard")
        self.card.setFrameShape(QFrame.Shape.StyledPanel)
        self.card.setStyleSheet("QFrame#shareCard { background: #fafbfc; border-radius: 6px; }")
        grid = QVBoxLayout(self.card)
        grid.setContentsMargins(12, 10, 12, 10)
        grid.setSpacing(8)
        grid.addLayout(facts)
        grid.addLayout(scan_row)
        grid.addWidget(self.link_edit)
        grid.addLayout(buttons)

        self.message = QLabel()
        self.message.setObjectName("shareMessage")
        self.message.setWordWrap(True)
        self.empty_label = QLabel(
            self.tr(
                "发起后，请把共享码读给对方，或复制短信、让对方扫二维码；"
                "对方在手机浏览器里核对您的姓名、工号和暗语后同意，才会进入共享房间。"
            )
        )
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet("color: #616161;")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(start_row)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.card)
        layout.addWidget(self.message)
        layout.addStretch(1)

        # -- timers and connections ---------------------------------------------------
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick_timeout)
        self._poll = QTimer(self)
        self._poll_enabled = poll_ms > 0
        self._poll.setInterval(max(poll_ms, 100))
        self._poll.timeout.connect(self._on_poll_timeout)

        self.start_button.clicked.connect(self._on_start_clicked)
        self.revoke_button.clicked.connect(self._on_revoke_clicked)
        self.open_room_button.clicked.connect(self._on_open_room_clicked)
        self.copy_link_button.clicked.connect(self._on_copy_link_clicked)
        self.copy_sms_button.clicked.connect(self._on_copy_sms_clicked)

        self._show_link(None)
        self._update_availability()

    # -- the API the console uses ---------------------------------------------------------

    @property
    def link(self) -> ShareLinkInfo | None:
        return self._link

    def set_session(self, session_id: str | None, assignee_is_me: bool, online: bool) -> None:
        """Show ``session_id``'s link (from the cache, then the server when online)."""
        changed = session_id != self._session_id
        self._session_id = session_id
        self._assignee_is_me = assignee_is_me
        self._online = online
        if changed:
            self._clock_offset = timedelta(0)
            self._show_link(None)
            self._show_message("")
        self._update_availability()
        if session_id is not None:
            spawn(self.reload(), owner=self)

    def set_online(self, online: bool) -> None:
        """The connection to the server came or went."""
        if online == self._online:
            return
        self._online = online
        self._update_availability()
        self._update_polling()

    async def reload(self) -> None:
        """Read the session's link from the local cache (after a sync)."""
        session_id = self._session_id
        if session_id is None:
            return
        try:
            records = await self._ops.query(self._store.records, KIND, session_id)
        except Exception:
            log.exception("reading share links from the cache failed")
            return
        if session_id != self._session_id:
            return
        self._show_link(_fresher(self._link, newest(records)))

    def apply_record(self, data: dict[str, Any]) -> None:
        """A ``share_link`` record from the server (an answer, an event, a sync)."""
        try:
            info = ShareLinkInfo.from_wire(data)
        except ValueError:
            log.warning("ignoring a malformed share link record")
            return
        if info.session_id != self._session_id:
            return
        shown = self._link
        if shown is not None and shown.id == info.id:
            # The server's answer is the truth for the same link, even a "lower" state.
            self._show_link(info)
        else:
            self._show_link(_fresher(shown, info))

    def on_event(self, event: Any) -> None:
        """An event from the live stream (a ``sync.events.LiveEvent`` or its wire dict);
        only ``share_link`` events are for us."""
        if isinstance(event, dict):
            kind, payload = event.get("kind"), event.get("payload")
        else:
            kind, payload = getattr(event, "kind", None), getattr(event, "payload", None)
        if kind != KIND or not isinstance(payload, dict):
            return
        link = payload.get("link")
        if isinstance(link, dict):
            self.apply_record(link)

    # -- showing -----------------------------------------------------------------------

    def _now(self) -> datetime:
        """The server's time as well as we know it."""
        return datetime.now() - self._clock_offset

    def _show_link(self, link: ShareLinkInfo | None) -> None:
        previous = self._link
        self._link = link
        has_link = link is not None
        self.card.setVisible(has_link)
        self.empty_label.setVisible(not has_link)
        if link is None:
            self.qr_text = ""
            self.qr_label.clear()
            self._tick.stop()
        else:
            self.code_label.setText(group_code(link.code))
            self.code_label.setAccessibleName(self.tr("共享码 {0}").format(link.code))
            self.phrase_label.setText("  ·  ".join(link.words) or link.check_phrase)
            self.link_edit.setText(link.join_url)
            self.link_edit.setCursorPosition(0)
            helper = "，".join(
                x
                for x in (
                    link.helper_name,
                    self.tr("工号 {0}").format(link.helper_number) if link.helper_number else "",
                    link.helper_office,
                )
                if x
            )
            self.helper_label.setText(self.tr("对方页面显示：{0}").format(helper) if helper else "")
            if link.join_url != self.qr_text:
                self.qr_text = link.join_url
                self.qr_label.setPixmap(qr_pixmap(link.join_url) if link.join_url else QPixmap())
            self._tick.start()
        self._refresh_state()
        self._update_availability()
        self._update_polling()
        if previous is not None and link is not None and previous.id == link.id:
            self._say_state_change(previous.state, link.state)
        if previous != link:
            self.link_changed.emit(link)

    def _say_state_change(self, before: str, after: str) -> None:
        """Tell the staff member, in words, what the caller just did."""
        if before == after:
            return
        if after == OPENED:
            self._show_message(self.tr("对方已打开共享页面，请念出核对暗语"))
        elif after == CONSENTED:
            self._show_message(self.tr("对方已同意共享屏幕，可点击“在浏览器中打开房间”进入"))
        elif after == EXPIRED:
            self._show_message(self.tr("共享码已过期，如需继续请重新发起"), error=True)

    def _refresh_state(self) -> None:
        link = self._link
        if link is None:
            return
        state = link.state_at(self._now())
        colour = STATE_COLOURS.get(state, "#757575")
        label = STATE_LABELS.get(state, state)
        self.state_label.setText(
            f"<span style='color:{colour}; font-size:16px; font-weight:600'>● {label}</span>"
        )
        self.state_label.setAccessibleName(label)
        live = state in LIVE_STATES
        if live:
            remaining = (link.expires_at - self._now()).total_seconds()
            self.countdown_label.setText(
                self.tr("剩余 {0}\n{1} 到期").format(
                    remaining_text(remaining), f"{link.expires_at:%H:%M}"
                )
            )
        elif state == REVOKED:
            self.countdown_label.setText(self.tr("共享码已失效"))
        else:
            self.countdown_label.setText(
                self.tr("已于 {0} 到期").format(f"{link.expires_at:%H:%M}")
            )
        dim = "" if live else "color: #9e9e9e;"
        self.code_label.setStyleSheet(CODE_STYLE + (dim or "color: #0d47a1;"))
        self.phrase_label.setStyleSheet(PHRASE_STYLE + (dim or "color: #0d47a1;"))
        self.qr_label.setEnabled(live)
        self.qr_label.setVisible(live)
        for button in (self.copy_link_button, self.copy_sms_button):
            button.setEnabled(live)
        self.open_room_button.setEnabled(live and self._online and not self._busy)
        self.revoke_button.setEnabled(live and self._online and not self._busy)
        if not live:
            self._tick.stop()

    def _update_availability(self) -> None:
        """The start button, and in words why it cannot be used."""
        live = self._link is not None and self._link.is_live(self._now())
        self.start_button.setText(
            self.tr("重新发起（旧共享码作废）") if live else self.tr("发起屏幕共享")
        )
        reason = ""
        if self._session_id is None:
            reason = self.tr("请先选择一个会话")
        elif not self._assignee_is_me:
            reason = self.tr("只有该会话的承办人才能发起屏幕共享")
        elif not self._online:
            reason = self.tr("当前离线：发起屏幕共享需要连接服务器，联网后即可使用")
        elif self._busy:
            reason = self.tr("正在与服务器通信…")
        self.start_button.setEnabled(not reason)
        self.start_button.setToolTip(reason or self.tr("创建共享码、二维码和核对暗语"))
        self.availability.setText(reason)
        if self._link is not None:
            self._refresh_state()

    def _update_polling(self) -> None:
        want = (
            self._poll_enabled
            and self._link is not None
            and self._link.is_live(self._now())
            and self._online
            and self.isVisible()
        )
        if want and not self._poll.isActive():
            self._poll.start()
        elif not want:
            self._poll.stop()

    def _show_message(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b3261e;" if error else "color: #2e7d32;")

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_availability()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._update_polling()

    # -- actions ----------------------------------------------------------------------

    @classmethod
    def open_url(cls, url: QUrl) -> bool:
        """Open a URL in the staff member's browser; tests replace this classmethod."""
        return QDesktopServices.openUrl(url)

    @owned_slot()
    async def _on_start_clicked(self) -> None:
        session_id = self._session_id
        if session_id is None or self._busy:
            return
        self._show_message(self.tr("正在创建共享链接…"))
        sent = datetime.now()
        outcome = await self._busy_op(
            partial(self._api.post, f"/sessions/{session_id}/share"),
            self.tr("发起屏幕共享失败："),
        )
        if not outcome.ok:
            return
        data = outcome.value
        if session_id != self._session_id:
            return
        try:
            if not isinstance(data, dict):
                raise ValueError("not a record")
            info = ShareLinkInfo.from_wire(data)
        except ValueError:
            self._show_message(self.tr("服务器返回的共享链接格式不对"), error=True)
            return
        # The link was made "now" on the server: that tells how far our clock is off.
        offset = sent - info.created_at
        self._clock_offset = offset if abs(offset) > timedelta(seconds=5) else timedelta(0)
        self._show_link(info)
        self._show_message(self.tr("已创建共享码，请读给对方，并念出核对暗语"))

    @owned_slot()
    async def _on_revoke_clicked(self) -> None:
        link = self._link
        if link is None or self._busy:
            return
        outcome = await self._busy_op(
            partial(self._api.delete, f"/share/{link.id}"), self.tr("撤销失败：")
        )
        if not outcome.ok:
            return
        data = outcome.value
        if isinstance(data, dict):
            self.apply_record(data)
        self._show_message(self.tr("已撤销，对方的共享码立即失效"))

    @owned_slot()
    async def _on_open_room_clicked(self) -> None:
        link = self._link
        if link is None or self._busy:
            return
        outcome = await self._busy_op(
            partial(self._api.get, f"/share/{link.id}/room"), self.tr("打开房间失败：")
        )
        if not outcome.ok:
            return
        data = outcome.value
        url = data.get("url") if isinstance(data, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            self._show_message(self.tr("服务器没有返回有效的房间地址"), error=True)
            return
        if self.open_url(QUrl(url)):
            self._show_message(self.tr("已在浏览器中打开共享房间"))
        else:
            self._show_message(self.tr("无法打开浏览器，请检查系统的默认浏览器设置"), error=True)

    async def _busy_op(self, call: Callable[[], Any], unexpected_prefix: str) -> Outcome[Any]:
        """One request to the server with the panel's buttons off while it runs; a
        refusal is shown in the server's words, anything else after ``unexpected_prefix``."""
        self._set_busy(True)
        try:
            return await self._ops.run(
                Op(
                    net=call,
                    report=lambda text: self._show_message(text, error=True),
                    failure=lambda exc: self._show_unexpected(exc, unexpected_prefix),
                )
            )
        finally:
            self._set_busy(False)

    def _show_unexpected(self, exc: Exception, prefix: str) -> None:
        if not isinstance(exc, SyncError):
            self._show_message(prefix + failure_text(exc), error=True)

    def _on_copy_link_clicked(self) -> None:
        if self._link is None:
            return
        QGuiApplication.clipboard().setText(self._link.join_url)
        self._show_message(self.tr("已复制链接"))

    def _on_copy_sms_clicked(self) -> None:
        if self._link is None:
            return
        QGuiApplication.clipboard().setText(sms_text(self._link))
        self._show_message(self.tr("已复制短信内容，可粘贴到短信平台发送"))

    def _on_tick_timeout(self) -> None:
        self._refresh_state()
        if self._link is not None and not self._link.is_live(self._now()):
            self._update_availability()
            self._update_polling()

    @owned_slot()
    async def _on_poll_timeout(self) -> None:
        """Ask the server for the link's state while the caller may be acting on it."""
        if self._polling:
            return
        session_id = self._session_id
        link = self._link
        if session_id is None or link is None:
            return
        self._polling = True
        try:
            data = await self._ops.fetch(self._api.get, f"/sessions/{session_id}/share")
        except SyncError as exc:
            log.info("polling the share link failed: %s", exc.message)
            return
        finally:
            self._polling = False
        if isinstance(data, dict) and session_id == self._session_id:
            self.apply_record(data)
