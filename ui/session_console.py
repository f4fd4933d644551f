"""The session console's service: loads what the pane shows and carries out what the
person asked for, off the GUI thread.

Every action is an :class:`ui.operations.Op` that runs
:class:`core.localstore.session_actions.SessionActions` on the database worker (local
effect and outbox row in one transaction); the window's operation helper hands its
changes to every pane (this console's :meth:`SessionConsole.refresh` among them) and
tells the sync controller, which pushes the outbox as soon as it can. Actions run
one after another in the order they were asked for.

The caller's 好差评 is theirs alone (GB/T 39734): the console only asks the server
for a rating link (:meth:`SessionConsole.rating_link`) that the agent reads out or
sends; the rating arrives with sync like any record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.entities import Agent, Session
from core.localstore.changes import Changes
from core.localstore.session_actions import (
    ActionResult,
    Me,
    NewSessionRequest,
    ReassignRequest,
    SessionActions,
    TransferRequest,
    TransitionRequest,
)
from core.session_rules import Action, RuleViolation, check_reveal_reason
from sync.account import Account
from sync.connectivity import ConnState
from ui.operations import Op, Operations
from ui.panes.sessions import ConsoleContext, SessionDetail, SessionsPane
from ui.sync_controller import SyncController
from ui.tasks import owned_slot
from ui.worker import Workers

log = logging.getLogger(__name__)

DONE_MESSAGES = {
    Action.ACCEPT: "已接入",
    Action.START: "已开始办理",
    Action.HOLD: "已挂起",
    Action.RESUME: "已恢复",
    Action.ESCALATE: "已转办",
    Action.CALLBACK: "已转为待回电",
    Action.CLOSE: "已办结",
}


def me_of(account: Account) -> Me:
    user = account.user
    return Me(user.id, user.display_name, user.role, user.team_id)


class SessionConsole(QObject):
    """Loads the console's data and performs its actions for one signed-in account."""

    action_done = Signal(str, str)
    """(session id, what was done) after the local effect is in the cache."""
    action_failed = Signal(str)

    def __init__(
        self,
        pane: SessionsPane,
        account: Account,
        workers: Workers,
        sync: SyncController,
        ops: Operations | None = None,
    ) -> None:
        super().__init__(pane)
        self.pane = pane
        self.account = account
        self.workers = workers
        self.sync = sync
        if ops is None:
            # On its own (no window to hand changes to every pane): refresh itself.
            ops = Operations(workers, local_change=sync.local_change, parent=self)
            ops.add_listener(self.refresh)
        self.ops = ops
        self.me = me_of(account)
        self.actions = SessionActions(account.store, self.me)
        self._lock: asyncio.Lock | None = None
        self._agents: dict[int, Agent] = {}
        self._teams_fetched = False
        pane.session_selected.connect(self._on_pane_session_selected)
        pane.action_requested.connect(self._on_pane_action_requested)
        pane.create_requested.connect(self._on_pane_create_requested)
        pane.note_requested.connect(self._on_pane_note_requested)
        pane.reveal_requested.connect(self._on_pane_reveal_requested)
        pane.rating_link_requested.connect(self._on_pane_rating_link_requested)

    @property
    def lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # -- loading ---------------------------------------------------------------------------------

    async def refresh(self, changes: Changes) -> None:
        """Reload what ``changes`` touched and show it."""
        store = self.account.store
        if not (
            changes.sessions or changes.knowledge or changes.agents or "calendar" in changes.kinds
        ):
            return
        sessions = await self.ops.query(store.sessions)
        matters = await self.ops.query(store.matters)
        agents = await self.ops.query(store.agents)
        teams = await self.ops.query(self.actions.teams)
        calendar = await self.ops.query(self.actions.calendar)
        self._agents = {a.id: a for a in agents}
        self.pane.set_context(ConsoleContext(agents, teams, matters, calendar))
        self.pane.set_sessions(sessions, {m.code: m.name for m in matters})
        current = self.pane.current_session_id()
        if current and (current in changes.session_ids or not changes.session_ids):
            await self.show_session(current)

    async def show_session(self, session_id: str) -> None:
        store = self.account.store
        session = await self.ops.query(store.session, session_id)
        if session is None:
            return
        notes = await self.ops.query(store.notes, session_id)
        evaluations = await self.ops.query(self.actions.evaluations, session_id)
        matter = (
            await self.ops.query(store.matter, session.matter_code) if session.matter_code else None
        )
        self.pane.show_detail(
            SessionDetail(session, notes, matter, self._assignee_name(session), evaluations)
        )

    def _assignee_name(self, session: Session) -> str:
        if session.assignee_id is None:
            return ""
        if session.assignee_id == self.me.id:
            return self.me.display_name
        agent = self._agents.get(session.assignee_id)
        return agent.display_name if agent else ""

    async def fetch_teams(self) -> None:
        """The teams to transfer to (online only; the last list is kept for offline use)."""

        def save(teams: Any) -> bool:
            if not isinstance(teams, list):
                return False
            self.actions.save_teams(teams)
            return True

        def saved(ok: bool) -> None:
            self._teams_fetched = self._teams_fetched or ok

        await self.ops.run(
            Op(
                net=partial(self.account.api.get, "/teams"),
                db=save,
                changes=lambda ok: Changes({"agent"}) if ok else None,
                success=saved,
                # Offline the last list is used: nothing to tell the person.
                report=lambda text: log.info("teams not fetched: %s", text),
            )
        )

    @property
    def teams_fetched(self) -> bool:
        return self._teams_fetched

    # -- actions --------------------------------------------------------------------------------

    def _action_op(self, work: Callable[[], ActionResult], **kw: Any) -> Op[ActionResult]:
        return Op(
            db=work,
            changes=lambda result: result.changes,
            outbox=True,
            report=self._on_action_failed,
            **kw,
        )

    def _on_action_failed(self, text: str) -> None:
        self.pane.show_message(text, error=True)
        self.action_failed.emit(text)

    async def perform(self, session_id: str, request: Any) -> bool:
        """Carry out one request of the pane; True when it took effect locally."""
        if isinstance(request, TransitionRequest):
            work = partial(self.actions.transition, session_id, request)
            done = DONE_MESSAGES.get(Action(request.action), "已完成")
        elif isinstance(request, TransferRequest):
            work = partial(self.actions.transfer, session_id, request)
            done = f"已转交给 {request.to_name}" if request.to_name else "已转交"
        elif isinstance(request, ReassignRequest):
            work = partial(self.actions.reassign, session_id, request)
            done = f"已改派给 {request.to_name}" if request.to_name else "已改派"
        else:
            self._on_action_failed("不支持的操作")
            return False

        def succeeded(_result: ActionResult) -> None:
            suffix = "，等待同步" if self.sync.state.state is not ConnState.ONLINE else ""
            self.pane.show_message(done + suffix)
            self.action_done.emit(session_id, done)

        async with self.lock:
            outcome = await self.ops.run(self._action_op(work, success=succeeded))
        return outcome.ok

    async def create(self, request: NewSessionRequest) -> str | None:
        def succeeded(result: ActionResult) -> None:
            self.pane.select_session(result.session_id)
            self.pane.show_message("已新建会话")
            self.action_done.emit(result.session_id, "已新建会话")

        async with self.lock:
            outcome = await self.ops.run(
                self._action_op(partial(self.actions.create, request), success=succeeded)
            )
        return outcome.value.session_id if outcome.ok and outcome.value else None

    async def add_note(self, session_id: str, text: str) -> None:
        author = Agent(
            id=self.me.id,
            username=self.account.user.username,
            display_name=self.me.display_name,
            role=self.me.role,
            team_id=self.me.team_id,
        )
        async with self.lock:
            await self.ops.run(
                Op(
                    db=partial(self.account.store.add_note, session_id, text, author),
                    changes=lambda added: added[1],
                    outbox=True,
                    report=self._on_action_failed,
                    success=lambda _added: self.pane.clear_note_editor(),
                )
            )

    async def reveal(self, session_id: str, reason: str) -> None:
        """显示完整号码: asks the server (audited, the assignee only). The numbers are
        shown and kept in memory while the session is on screen, never in the cache;
        without a link to the server they cannot be shown. ``reason`` (asked by the
        pane) goes into the audit row."""
        try:
            reason = check_reveal_reason(reason)
        except RuleViolation as exc:
            self.pane.reveal_failed(exc.message)
            return
        api = self.account.api

        def shown(answer: Any) -> None:
            if not isinstance(answer, dict):
                self.pane.reveal_failed(self.tr("无法显示完整号码：服务器返回的数据格式不对"))
                return
            self.pane.show_revealed(
                session_id, str(answer.get("phone") or ""), str(answer.get("id_number") or "")
            )
            self.sync.request_sync()  # the reveal is on the session's timeline now

        await self.ops.run(
            Op(
                net=partial(
                    api.post,
                    f"/sessions/{session_id}/reveal",
                    {"field": "all", "reason": reason},
                ),
                success=shown,
                report=lambda text: self.pane.reveal_failed(
                    self.tr("无法显示完整号码：{0}").format(text)
                ),
            )
        )

    async def rating_link(self, session_id: str) -> None:
        """评价链接: asks the server (the assignee only; audited) for a link to the
        caller's rating page, and has the pane show it. Offline, or when the server
        refuses, the pane says why in words."""
        api = self.account.api

        def shown(answer: Any) -> None:
            url = answer.get("url") if isinstance(answer, dict) else None
            sms = answer.get("sms_text") if isinstance(answer, dict) else None
            if not (
                isinstance(url, str)
                and url.startswith(("http://", "https://"))
                and isinstance(sms, str)
                and sms.strip()
            ):
                self.pane.rating_link_failed(
                    self.tr("评价链接未生成：服务器返回的数据格式不对，请稍后按 Ctrl+E 重试")
                )
                return
            self.pane.show_rating_link(session_id, url, sms)

        await self.ops.run(
            Op(
                net=partial(api.post, f"/sessions/{session_id}/rating-link"),
                success=shown,
                report=lambda text: self.pane.rating_link_failed(
                    self.tr("评价链接未生成：{0}（可稍后按 Ctrl+E 重试）").format(text)
                ),
            )
        )

    # -- slots ----------------------------------------------------------------------------------

    @owned_slot(str)
    async def _on_pane_session_selected(self, session_id: str) -> None:
        await self.show_session(session_id)

    @owned_slot(str, object)
    async def _on_pane_action_requested(self, session_id: str, request: object) -> None:
        await self.perform(session_id, request)

    @owned_slot(object)
    async def _on_pane_create_requested(self, request: object) -> None:
        if isinstance(request, NewSessionRequest):
            await self.create(request)

    @owned_slot(str, str)
    async def _on_pane_note_requested(self, session_id: str, text: str) -> None:
        await self.add_note(session_id, text)

    @owned_slot(str, str)
    async def _on_pane_reveal_requested(self, session_id: str, reason: str) -> None:
        await self.reveal(session_id, reason)

    @owned_slot(str)
    async def _on_pane_rating_link_requested(self, session_id: str) -> None:
        await self.rating_link(session_id)
