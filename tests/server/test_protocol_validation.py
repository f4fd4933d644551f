"""Pushed actions checked by ``core.protocol`` on a real server (SQLite and PostgreSQL):
a malformed action is refused alone, naming its field, and the batch goes on; mutation
ids and record ids are never reused for other content; notes only from who may see the
session; and the real sync engine keeps pushing and pulling after a refusal."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.localstore.session_actions import Me, SessionActions, TransitionRequest
from core.protocol import ProtocolError
from core.session_rules import Action, RuleViolation
from server import models as m
from server.services.mutations import FAILED, HANDLERS, REUSED
from sync.client import ApiClient
from tests.support import DEMO_PASSWORD, LiveServer
from tests.sync.conftest import make_client


def sid(ref: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{ref}"))


def login(server: LiveServer, username: str) -> ApiClient:
    api = ApiClient(server.url)
    api.login(username, DEMO_PASSWORD)
    return api


def mutation(kind: str, op: str, target: Any, payload: Any, **extra: Any) -> dict[str, Any]:
    return {
        "mutation_id": extra.pop("mutation_id", None) or str(uuid.uuid4()),
        "kind": kind,
        "op": op,
        "target_id": target,
        "base_seq": None,
        "payload": payload,
        **extra,
    }


def note(session_id: str, text: str, note_id: str | None = None, **extra: Any) -> dict[str, Any]:
    note_id = note_id or str(uuid.uuid4())
    return mutation(
        "session_note",
        "create",
        note_id,
        {"note_id": note_id, "session_id": session_id, "text": text},
        **extra,
    )


def count(server: LiveServer, model: Any, **where: Any) -> int:
    with server.db() as db:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return int(db.scalar(stmt) or 0)


@pytest.fixture(autouse=True)
def _no_auto_assign(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False


def test_one_malformed_action_among_valid_ones_is_refused_alone_naming_its_field(
    live_server: LiveServer,
) -> None:
    agent = login(live_server, "agent")
    s = sid("S010")
    new_id = str(uuid.uuid4())
    batch = [
        note(s, "第一条，应当保存"),
        mutation(
            "session",
            "create",
            new_id,
            {
                "session_id": new_id,
                "channel": "hotline",
                "service_type": "guide",
                "caller_name": {},
                "summary": "问社保",
            },
        ),
        note(s, "第二条，应当保存"),
        mutation(
            "session",
            "transfer",
            s,
            {"session_id": s, "to_agent_id": 10**30, "reason": "转给同事"},
        ),
        note(s, "时间离谱", created_at="9999-12-31T23:59:59+14:00"),
        note(s, "时间太早", created_at="0001-01-01T00:00:00+14:00"),
        mutation("session", "transition", s, ["不是对象"]),
        mutation("evaluation", "create", "e-1", {"session_id": s, "score": True}),
        mutation("session", "transition", s, {"session_id": s, "action": "hold", "reason": 5}),
        mutation("no_such_kind", "create", None, {}),
        note(s, "第三条，应当保存"),
    ]
    answers = agent.push(batch)
    statuses = [a["status"] for a in answers]
    assert statuses[0] == statuses[2] == statuses[-1] == "applied", answers
    assert statuses[1] == statuses[3] == "rejected"
    refusals = [a["reason"] for a in answers[3:-1]]
    refusals.insert(0, answers[1]["reason"])
    for reason, field in zip(
        refusals,
        [
            "caller_name",
            "to_agent_id",
            "created_at",
            "created_at",
            "payload",
            "score",
            "reason",
            "no_such_kind",
        ],
        strict=True,
    ):
        assert field in reason, (field, reason)
    assert "姓名（caller_name）应为文字" in answers[1]["reason"]
    assert "转交对象（to_agent_id）超出范围" in answers[3]["reason"]
    assert all(a["status"] == "rejected" for a in answers[3:-1])
    with live_server.db() as db:
        texts = set(db.scalars(select(m.SessionNote.text).where(m.SessionNote.session_id == s)))
        assert {"第一条，应当保存", "第二条，应当保存", "第三条，应当保存"} <= texts
        assert not texts & {"时间离谱", "时间太早"}
        assert db.get(m.Session, new_id) is None
        assert db.get(m.Session, s).state == "active"  # type: ignore[union-attr]
    # The refusal is remembered: the same action again gets the same answer.
    [again] = agent.push([batch[1]])
    assert again["status"] == "rejected" and again["reason"] == answers[1]["reason"]


def test_a_handler_that_fails_unexpectedly_refuses_its_action_and_the_batch_goes_on(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_db, _user, _mutation):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug in a handler")

    monkeypatch.setitem(HANDLERS, ("session", "reveal"), broken)
    agent = login(live_server, "agent")
    s = sid("S010")
    secret = "13912345678-not-in-the-log"
    answers = agent.push(
        [
            mutation("session", "reveal", s, {"session_id": s, "field": "phone", "x": secret}),
            note(s, "之后的备注照常保存"),
        ]
    )
    assert [a["status"] for a in answers] == ["rejected", "applied"]
    assert answers[0]["reason"] == FAILED
    assert secret not in caplog.text
    assert count(live_server, m.SessionEvent, session_id=s, kind="revealed") == 0


def test_a_mutation_id_reused_with_other_content_or_by_another_user_is_refused(
    live_server: LiveServer,
) -> None:
    agent, lead = login(live_server, "agent"), login(live_server, "lead")
    s = sid("S010")
    first = note(s, "原来的备注")
    [applied] = agent.push([first])
    assert applied["status"] == "applied"
    # The same content again (a resend after a lost answer) is a duplicate.
    [dup] = agent.push([first])
    assert dup["status"] == "duplicate"
    # Other content under the same id is refused, and says nothing of the first.
    other = note(s, "换了内容", mutation_id=first["mutation_id"])
    [reused] = agent.push([other])
    assert reused["status"] == "rejected" and reused["reason"] == REUSED
    assert "原来的备注" not in str(reused)
    # So is the very same action sent by someone else.
    [stolen] = lead.push([first])
    assert stolen["status"] == "rejected" and stolen["reason"] == REUSED
    assert count(live_server, m.SessionNote, session_id=s, text="换了内容") == 0
    # A refused action resent is refused again, with the same reason.
    bad = note(s, "")
    [refused] = agent.push([bad])
    [again] = agent.push([bad])
    assert refused["status"] == again["status"] == "rejected"
    assert again["reason"] == refused["reason"] and "备注内容（text）不能为空" in again["reason"]


def test_a_note_id_or_evaluation_id_reused_with_other_content_is_refused(
    live_server: LiveServer,
) -> None:
    agent = login(live_server, "agent")
    s = sid("S010")
    note_id = str(uuid.uuid4())
    assert agent.push([note(s, "第一版", note_id)])[0]["status"] == "applied"
    # The same note queued again under a new mutation id is the same fact.
    assert agent.push([note(s, "第一版", note_id)])[0]["status"] == "applied"
    [changed] = agent.push([note(s, "第二版", note_id)])
    assert changed["status"] == "rejected" and "备注编号已被使用" in changed["reason"]
    with live_server.db() as db:
        assert db.get(m.SessionNote, note_id).text == "第一版"  # type: ignore[union-attr]

    # Ratings are the caller's own now: a staff rating is refused under any id, and
    # the same refused action sent again is refused again (nothing is stored).
    eid = str(uuid.uuid4())
    rating = {"evaluation_id": eid, "session_id": s, "score": 4, "comment": "很耐心"}
    for _ in range(2):
        [refused] = agent.push([mutation("evaluation", "create", eid, rating)])
        assert refused["status"] == "rejected" and "群众本人" in refused["reason"]
    assert count(live_server, m.Evaluation, session_id=s) == 0
    assert count(live_server, m.Rectification, session_id=s) == 0


def test_a_constraint_other_than_the_mutation_ids_is_a_refusal_not_a_duplicate(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database itself refuses the write (a primary key taken, as by a racing copy
    that got in after the handler looked): the action is rejected in words, the first
    row is untouched, and only a repeat of the same mutation id is a duplicate."""
    agent = login(live_server, "agent")
    with live_server.db() as db:
        entry_id = db.scalars(select(m.KnowledgeEntry.id).order_by(m.KnowledgeEntry.id)).first()
    fid = str(uuid.uuid4())
    first = {"feedback_id": fid, "entry_id": entry_id, "kind": "correction", "text": "第一份"}
    assert agent.push([mutation("knowledge_feedback", "create", fid, first)])[0]["status"] == (
        "applied"
    )

    def without_looking(db, user, mutation):  # type: ignore[no-untyped-def]
        p = mutation.payload
        db.add(
            m.KnowledgeFeedback(
                id=p.feedback_id,
                entry_id=p.entry_id,
                kind=p.kind,
                text=p.text,
                author_id=user.id,
                created_at=datetime.now(),
            )
        )
        db.flush()  # the primary key refuses it here, in the database

    monkeypatch.setitem(HANDLERS, ("knowledge_feedback", "create"), without_looking)
    second = mutation("knowledge_feedback", "create", fid, {**first, "text": "第二份"})
    for _ in range(2):  # and the same action resent gets the same answer
        [answer] = agent.push([second])
        assert answer["status"] == "rejected", answer
        assert "反馈编号已被使用" in answer["reason"]
    with live_server.db() as db:
        kept = db.get(m.KnowledgeFeedback, fid)
        assert kept is not None and kept.text == "第一份"


def test_notes_only_from_who_may_see_the_session_and_not_on_closed_ones(
    live_server: LiveServer,
) -> None:
    agent, lead, chenjing = (login(live_server, u) for u in ("agent", "lead", "chenjing"))
    colleague_active, colleague_closed, own_closed = sid("S017"), sid("S014"), sid("S007")
    answers = agent.push(
        [
            note(colleague_active, "同组但看不到的会话"),
            note(colleague_closed, "同组已办结的会话"),
            note(own_closed, "自己已办结的会话"),
        ]
    )
    assert [a["status"] for a in answers] == ["rejected"] * 3
    assert "无权" in answers[0]["reason"] and "无权" in answers[1]["reason"]
    assert "已办结" in answers[2]["reason"]
    [other_team] = chenjing.push([note(colleague_active, "别的班组")])
    assert other_team["status"] == "rejected" and "无权" in other_team["reason"]
    # The team's lead sees the session, and so may add a note to it.
    [by_lead] = lead.push([note(colleague_active, "班组长的备注")])
    assert by_lead["status"] == "applied"
    # A note written before the session closed (queued offline) is still kept.
    with live_server.db() as db:
        closed_at = db.get(m.Session, own_closed).closed_at  # type: ignore[union-attr]
    [offline] = agent.push(
        [note(own_closed, "离线时写的", created_at=closed_at.isoformat(timespec="seconds"))]
    )
    assert offline["status"] == "applied", offline
    assert count(live_server, m.SessionNote, session_id=colleague_active) == 1


def test_the_real_engine_keeps_pushing_and_pulling_after_a_refused_action(
    live_server: LiveServer, tmp_path: Path
) -> None:
    client = make_client(live_server.url, tmp_path / "agent.sqlite3")
    lead = login(live_server, "lead")
    try:
        client.engine.sync_blocking()
        s = sid("S010")
        # An outbox written by an older or broken client: actions no server accepts.
        client.store.enqueue("session", "transfer", s, {"session_id": s, "to_agent_id": 10**30})
        client.store.enqueue(
            "session_note", "create", "n-1", {"note_id": "n-1", "session_id": s, "text": {}}
        )
        good, _ = client.store.add_note(s, "后面的备注照常保存", None)
        # The client checks the server's rules first: nothing is queued for these.
        with pytest.raises(RuleViolation, match="已办结"):
            client.store.add_note(sid("S007"), "已办结的会话", None)
        with pytest.raises(ProtocolError, match="text"):
            client.store.add_note(s, "  ", None)
        report = client.engine.sync_blocking()
        assert report.pushed == 3 and len(report.rejected) == 2
        assert "to_agent_id" in report.rejected[0] and "text" in report.rejected[1]
        assert client.store.outbox_size() == 0
        assert count(live_server, m.SessionNote, id=good) == 1
        # The next round pushes and pulls as usual: a new note goes up, the lead's comes down.
        later, _ = client.store.add_note(s, "再来一条", None)
        lead_note = note(s, "班组长：请尽快回电")
        assert lead.push([lead_note])[0]["status"] == "applied"
        report = client.engine.sync_blocking()
        assert report.rejected == [] and report.pushed == 1
        assert count(live_server, m.SessionNote, id=later) == 1
        texts = {n.text for n, _pending in client.store.notes(s)}
        assert {"后面的备注照常保存", "再来一条", "班组长：请尽快回电"} <= texts
    finally:
        client.close()


def test_an_escalation_looks_the_same_in_the_cache_as_on_the_server(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """Both sides run ``transition_effect``: the 1515 record the agent sees at once is
    the one the server stores (the two copies had drifted apart)."""
    client = make_client(live_server.url, tmp_path / "agent.sqlite3")
    try:
        client.engine.sync_blocking()
        user = client.api.me()
        actions = SessionActions(
            client.store, Me(user.id, user.display_name, user.role, user.team_id)
        )
        s = sid("S010")
        actions.transition(
            s,
            TransitionRequest(
                Action.ESCALATE, reason="需要人社局确认", department="人社局", complexity="complex"
            ),
        )
        local = client.store.session(s)
        assert local is not None
        local_escalation = dict(local.escalation or {})
        local_entry = dict(local.timeline[-1]["detail"])
        assert client.engine.sync_blocking().rejected == []
        with live_server.db() as db:
            row = db.get(m.Session, s)
            assert row is not None and row.state == "escalated"
            server_escalation = dict(row.escalation or {})
            server_detail = {k: v for k, v in row.events[-1].detail.items() if k != "offline_at"}
            server_due = row.due_at
        local_at = datetime.fromisoformat(local_escalation.pop("escalated_at"))
        server_at = datetime.fromisoformat(server_escalation.pop("escalated_at"))
        assert abs(server_at - local_at) <= timedelta(seconds=2)
        assert local_escalation == server_escalation
        assert local_entry == server_detail
        assert local.due_at == server_due
    finally:
        client.close()
