"""Session actions in the local cache, replayed to a real server through a proxy that can
take the link down: the local effect at once, in one transaction with its outbox row;
replay in order after reconnecting; a reassignment while the agent was offline keeps
their notes and refuses their stale actions with the reason in words."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from core.localstore import models as lm
from core.localstore import session_actions as actions_module
from core.localstore.session_actions import (
    ActionError,
    Me,
    NewSessionRequest,
    ReassignRequest,
    SessionActions,
    TransferRequest,
    TransitionRequest,
)
from core.session_rules import Action
from server import models as m
from sync.errors import SyncError
from sync.events import EventListener, LiveEvent
from tests.faultproxy import FaultProxy
from tests.support import LiveServer
from tests.sync.conftest import Client, make_client


def sid(ref: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{ref}"))


def me_of(client: Client) -> Me:
    user = client.api.me()
    return Me(user.id, user.display_name, user.role, user.team_id)


def outbox(client: Client) -> list[tuple[str, str, str | None, dict]]:
    return [(o.kind, o.op, o.target_id, o.payload) for o in client.store.pending_mutations()]


@pytest.fixture(autouse=True)
def _no_auto_assign(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False


def test_an_action_shows_at_once_and_waits_in_the_outbox(client: Client) -> None:
    client.engine.sync_blocking()
    actions = SessionActions(client.store, me_of(client))
    s = sid("S010")
    actions.transition(s, TransitionRequest(Action.HOLD, reason="等来电人找材料"))
    local = client.store.session(s)
    assert local is not None and local.state == "on_hold"
    last = local.timeline[-1]
    assert (
        last["kind"] == "held" and last["pending"] and last["detail"]["reason"] == "等来电人找材料"
    )
    assert outbox(client) == [
        (
            "session",
            "transition",
            s,
            {
                "session_id": s,
                "action": "hold",
                "to": "on_hold",
                "reason": "等来电人找材料",
                "outcome": None,
                "close_summary": "",
                "department": "",
                "complexity": "simple",
                "due_at": None,
            },
        )
    ]
    # The same rules as the server: a second hold is refused here, and nothing is written.
    with pytest.raises(ActionError) as err:
        actions.transition(s, TransitionRequest(Action.HOLD))
    assert err.value.message == "会话当前为「已挂起」，不能挂起"
    assert len(outbox(client)) == 1
    with pytest.raises(ActionError):
        actions.transition(s, TransitionRequest(Action.CLOSE))  # no outcome
    with pytest.raises(ActionError):
        actions.transfer(s, TransferRequest(reason=" ", to_team_id="team-bb"))
    assert len(outbox(client)) == 1 and client.store.session(s).state == "on_hold"


def test_the_local_effect_and_the_outbox_row_commit_together(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.engine.sync_blocking()
    actions = SessionActions(client.store, me_of(client))
    s = sid("S010")

    def broken(*_args: object, **_kwargs: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(actions_module, "enqueue_payload", broken)
    with pytest.raises(OSError):
        actions.transition(s, TransitionRequest(Action.HOLD))
    with pytest.raises(OSError):
        actions.create(
            NewSessionRequest(
                channel="phone", service_type="consult", summary="x", caller_phone="13812345678"
            )
        )
    # Neither the effect nor the row: the cache is as it was.
    assert client.store.session(s).state == "active"
    assert not any(e.get("pending") for e in client.store.session(s).timeline)
    assert outbox(client) == []
    with client.cache.sessions() as db:
        assert db.scalar(select(lm.Session).where(lm.Session.local.is_(True))) is None


def test_offline_actions_are_replayed_in_order_after_reconnect(
    client: Client, proxy: FaultProxy, live_server: LiveServer
) -> None:
    client.engine.sync_blocking()
    actions = SessionActions(client.store, me_of(client))
    proxy.refusing = True  # the link is down
    queued, active = sid("S001"), sid("S010")
    actions.transition(queued, TransitionRequest(Action.ACCEPT))
    actions.transition(queued, TransitionRequest(Action.HOLD, reason="来电人去找合同"))
    client.store.add_note(queued, "已告知租房提取需租赁合同", None)
    actions.transition(queued, TransitionRequest(Action.RESUME))
    actions.transition(
        queued,
        TransitionRequest(
            Action.ESCALATE, reason="需确认能否先提取", department="住房公积金管理中心"
        ),
    )
    with pytest.raises(ActionError, match="需要填写原因"):
        actions.reveal(active, reason="  ")
    actions.reveal(active, reason="核对来电人身份")
    actions.transition(
        active, TransitionRequest(Action.CLOSE, outcome="resolved", close_summary="已答复")
    )
    created = actions.create(
        NewSessionRequest(
            channel="referral",
            service_type="guide",
            caller_name="周女士",
            caller_id_number="11010519491231002X",
            summary="转介：老年人优待证办理",
        )
    )
    # Everything shows locally at once, while offline.
    assert client.store.session(queued).state == "escalated"
    assert client.store.session(active).state == "closed"
    assert client.store.session(created.session_id).state == "active"
    assert len(outbox(client)) == 8
    with pytest.raises(SyncError):
        client.engine.sync_blocking()
    assert len(outbox(client)) == 8, "nothing is lost while the link is down"

    proxy.refusing = False
    report = client.engine.sync_blocking()
    assert report.rejected == []
    assert report.pushed == 8
    assert outbox(client) == []
    with live_server.db() as db:
        row = db.get(m.Session, queued)
        assert [e.kind for e in row.events] == [
            "created",
            "accepted",
            "held",
            "resumed",
            "escalated",
        ]
        assert row.state == "escalated" and row.escalation["department"] == "住房公积金管理中心"
        assert db.scalar(select(m.SessionNote.text).where(m.SessionNote.session_id == queued))
        closed = db.get(m.Session, active)
        assert closed.state == "closed"
        audit = db.scalar(select(m.AuditLog).where(m.AuditLog.action == "session.reveal"))
        assert audit is not None and audit.reason == "核对来电人身份"
        assert [e.kind for e in closed.events][-2:] == ["revealed", "closed"]
        assert db.scalar(select(m.Evaluation).where(m.Evaluation.session_id == active)) is None
        assert not db.scalar(select(m.Rectification).where(m.Rectification.session_id == active))
        by_hand = db.get(m.Session, created.session_id)
        assert by_hand.state == "active" and by_hand.caller_name == "周女士"
    # The cache now holds the server's records, nothing pending.
    for s in (queued, active, created.session_id):
        local = client.store.session(s)
        assert local is not None and not any(e.get("pending") for e in local.timeline)
    assert client.store.session(queued).escalation["department"] == "住房公积金管理中心"
    assert actions.evaluations(active) == [], "the caller rates, the console records nothing"


def test_a_reassignment_while_offline_keeps_the_notes_and_refuses_the_stale_actions(
    client: Client, proxy: FaultProxy, live_server: LiveServer, tmp_path: Path
) -> None:
    lead = make_client(live_server.url, tmp_path / "lead.sqlite3", "lead")
    wangfang = make_client(live_server.url, tmp_path / "wangfang.sqlite3", "wangfang")
    try:
        for c in (client, lead, wangfang):
            c.engine.sync_blocking()
        s = sid("S010")
        agent_me = me_of(client)
        agent = SessionActions(client.store, agent_me)
        proxy.refusing = True
        first, _ = client.store.add_note(s, "来电人补充：已在网上提交一半", None)
        agent.transition(s, TransitionRequest(Action.HOLD, reason="等来电人回电"))
        second, _ = client.store.add_note(s, "约定下午三点回电", None)

        wangfang_id = wangfang.api.me().id
        SessionActions(lead.store, me_of(lead)).reassign(
            s,
            ReassignRequest(
                to_agent_id=wangfang_id,
                expected_assignee_id=agent_me.id,
                reason="坐席临时离岗",
                to_name="王芳",
            ),
        )
        assert lead.engine.sync_blocking().rejected == []

        proxy.refusing = False
        report = client.engine.sync_blocking()
        assert report.pushed == 3
        assert len(report.rejected) == 1
        reason = report.rejected[0]
        assert reason.startswith("该会话已于 ") and "由 吴海燕 改派给 王芳" in reason
        assert reason.endswith("「挂起」未执行，您的备注已保留")
        problems = client.store.open_problems()
        assert [p.reason for p in problems] == [reason]
        # The session left the agent's cache; the server kept the lead's decision.
        assert client.store.session(s) is None
        with live_server.db() as db:
            row = db.get(m.Session, s)
            assert row.state == "assigned" and row.assignee_id == wangfang_id
            assert {
                n.id for n in db.scalars(select(m.SessionNote).where(m.SessionNote.session_id == s))
            } >= {first, second}
        # The new assignee receives the notes written offline before and after.
        wangfang.engine.sync_blocking()
        texts = [n.text for n, _ in wangfang.store.notes(s)]
        assert "来电人补充：已在网上提交一半" in texts and "约定下午三点回电" in texts
        assert wangfang.store.session(s).assignee_id == wangfang_id
    finally:
        lead.close()
        wangfang.close()


def test_the_event_listener_hears_a_reassignment_and_reconnects_after_a_cut(
    client: Client, proxy: FaultProxy, live_server: LiveServer, tmp_path: Path
) -> None:
    lead = make_client(live_server.url, tmp_path / "lead.sqlite3", "lead")
    with live_server.db() as db:
        wangfang_id = db.scalar(select(m.User.id).where(m.User.username == "wangfang"))
    heard: list[LiveEvent] = []
    connected: list[int] = []
    failures: list[str] = []

    async def scenario() -> None:
        listener = EventListener(
            client.api,
            on_events=heard.extend,
            on_connected=lambda: connected.append(1),
            on_failure=failures.append,
            wait=1,  # short polls: the cut is noticed at the next one
        )
        listener.backoff.base = 0.05
        listener.backoff.cap = 0.2
        task = asyncio.ensure_future(listener.run())
        try:
            await wait_for(lambda: connected, "first connection")
            SessionActions(lead.store, me_of(lead)).reassign(
                sid("S011"),
                ReassignRequest(
                    to_agent_id=wangfang_id,
                    expected_assignee_id=client.api.me().id,
                    reason="均衡工作量",
                ),
            )
            await asyncio.get_running_loop().run_in_executor(None, lead.engine.sync_blocking)
            await wait_for(lambda: [e for e in heard if e.kind == "session_reassigned"], "event")
            proxy.refusing = True
            await wait_for(lambda: failures, "a failed poll")
            proxy.refusing = False
            await wait_for(lambda: len(connected) >= 2, "reconnected")
        finally:
            listener.close()
            task.cancel()

    lead.engine.sync_blocking()
    try:
        asyncio.run(scenario())
    finally:
        lead.close()
    event = next(e for e in heard if e.kind == "session_reassigned")
    assert event.payload["session_id"] == sid("S011") and event.payload["reason"] == "均衡工作量"
    assert "无法连接服务器" in failures[0]


async def wait_for(predicate, what: str, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return predicate()


def test_teams_are_kept_for_offline_transfers(client: Client) -> None:
    actions = SessionActions(client.store, me_of(client))
    assert actions.teams() == []
    actions.save_teams(client.api.get("/teams"))
    assert {t["id"] for t in actions.teams()} == {"team-zx", "team-bb"}
    client.store.set_meta(actions_module.TEAMS_KEY, "not json")
    assert actions.teams() == []
    client.store.set_meta(actions_module.TEAMS_KEY, json.dumps([{"name": "无编号"}]))
    assert actions.teams() == []
