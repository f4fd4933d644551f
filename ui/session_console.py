"""The session console's service: loads what the pane shows and carries out what the
person asked for, off the GUI thread.

Every action goes to :class:`core.localstore.session_actions.SessionActions` on the
database worker (local effect and outbox row in one transaction), the pane is
refreshed from the cache at once, and the sync controller pushes the outbox as soon
as it can. Actions run one after another in the order they were asked for, so
办结 is queued before the 好差评 that follows it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from core.entities import Agent, Session
from core.localstore.changes import Changes
from core.localstore.session_actions import (
    ActionError,
    EvaluationRequest,
    Me,
    NewSessionRequest,
    ReassignRequest,
    SessionActions,
    TransferRequest,
    TransitionRequest,
)
from core.session_rules import Action
from sync.account import Account
from sync.connectivity import ConnState
from sync.errors import SyncError
from ui.panes.sessions import ConsoleContext, SessionDetail, SessionsPane
from ui.sync_controller import SyncController
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
    ) -> None:
        super().__init__(pane)
        self.pane = pane
        self.account = account
        self.workers = workers
        self.sync = sync
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
        sessions = await self.workers.on_db(store.sessions)
        matters = await self.workers.on_db(store.matters)
        agents = await self.workers.on_db(store.agents)
        teams = await self.workers.on_db(self.actions.teams)
        calendar = await self.workers.on_db(self.actions.calendar)
        self._agents = {a.id: a for a in agents}
        self.pane.set_context(ConsoleContext(agents, teams, matters, calendar))
        self.pane.set_sessions(sessions, {m.code: m.name for m in matters})
        current = self.pane.current_session_id()
        if current and (current in changes.session_ids or not changes.session_ids):
            await self.show_session(current)

    async def show_session(self, session_id: str) -> None:
        store = self.account.store
        session = await self.workers.on_db(store.session, session_id)
        if session is None:
            return
        notes = await self.workers.on_db(store.notes, session_id)
        evaluations = await self.workers.on_db(self.actions.evaluations, session_id)
        matter = (
            await self.workers.on_db(store.matter, session.matter_code)
            if session.matter_code
            else None
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
        try:
            teams = await self.workers.on_net(self.account.api.get, "/teams")
        except SyncError as exc:
            log.info("teams not fetched: %s", exc.message)
            return
        if isinstance(teams, list):
            await self.workers.on_db(self.actions.save_teams, teams)
            self._teams_fetched = True
            await self.refresh(Changes({"agent"}))

    @property
    def teams_fetched(self) -> bool:
        return self._teams_fetched

    # -- actions --------------------------------------------------------------------------------

    async def perform(self, session_id: str, request: Any) -> bool:
        """Carry out one request of the pane; True when it took effect locally."""
        async with self.lock:
            try:
                if isinstance(request, TransitionRequest):
                    result = await self.workers.on_db(self.actions.transition, session_id, request)
                    done = DONE_MESSAGES.get(Action(request.action), "已完成")
                elif isinstance(request, TransferRequest):
                    result = await self.workers.on_db(self.actions.transfer, session_id, request)
                    done = f"已转交给 {request.to_name}" if request.to_name else "已转交"
                elif isinstance(request, ReassignRequest):
                    result = await self.workers.on_db(self.actions.reassign, session_id, request)
                    done = f"已改派给 {request.to_name}" if request.to_name else "已改派"
                elif isinstance(request, EvaluationRequest):
                    result = await self.workers.on_db(self.actions.evaluate, session_id, request)
                    done = "已记录好差评"
                else:
                    raise ActionError("不支持的操作")
            except ActionError as exc:
                self.pane.show_message(exc.message, error=True)
                self.action_failed.emit(exc.message)
                return False
            await self.refresh(result.changes)
        suffix = "，等待同步" if self.sync.state.state is not ConnState.ONLINE else ""
        self.pane.show_message(done + suffix)
        self.action_done.emit(session_id, done)
        await self.sync.local_change()
        return True

    async def create(self, request: NewSessionRequest) -> str | None:
        async with self.lock:
            try:
                result = await self.workers.on_db(self.actions.create, request)
            except ActionError as exc:
                self.pane.show_message(exc.message, error=True)
                self.action_failed.emit(exc.message)
                return None
            await self.refresh(result.changes)
        self.pane.select_session(result.session_id)
        self.pane.show_message("已新建会话")
        self.action_done.emit(result.session_id, "已新建会话")
        await self.sync.local_change()
        return result.session_id

    async def add_note(self, session_id: str, text: str) -> None:
        author = Agent(
            id=self.me.id,
            username=self.account.user.username,
            display_name=self.me.display_name,
            role=self.me.role,
            team_id=self.me.team_id,
        )
        async with self.lock:
            _note_id, changes = await self.workers.on_db(
                self.account.store.add_note, session_id, text, author
            )
            self.pane.clear_note_editor()
            await self.refresh(changes)
        await self.sync.local_change()

    async def reveal(self, session_id: str, reason: str) -> None:
        async with self.lock:
            try:
                result = await self.workers.on_db(self.actions.reveal, session_id, "all", reason)
            except ActionError as exc:
                self.pane.show_message(exc.message, error=True)
                return
            await self.refresh(result.changes)
        await self.sync.local_change()

    # -- slots ----------------------------------------------------------------------------------

    @asyncSlot(str)
    async def _on_pane_session_selected(self, session_id: str) -> None:
        await self.show_session(session_id)

    @asyncSlot(str, object)
    async def _on_pane_action_requested(self, session_id: str, request: object) -> None:
        await self.perform(session_id, request)

    @asyncSlot(object)
    async def _on_pane_create_requested(self, request: object) -> None:
        if isinstance(request, NewSessionRequest):
            await self.create(request)

    @asyncSlot(str, str)
    async def _on_pane_note_requested(self, session_id: str, text: str) -> None:
        await self.add_note(session_id, text)

    @asyncSlot(str, str)
    async def _on_pane_reveal_requested(self, session_id: str, reason: str) -> None:
        await self.reveal(session_id, reason)
