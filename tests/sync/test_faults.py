"""Faults between the real client and the real server, through the fault proxy.

Each test spoils one exchange the way a weak link or a broken gateway does, then
checks that nothing was lost, nothing was applied twice, and that after a clean
round the client's cache equals what the server says the user may see.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from random import Random

import pytest
from sqlalchemy import func, select

from server import models as m
from server.services import catalog
from server.services.mutations import HANDLERS, Mutation
from sync.client import ApiClient
from sync.connectivity import ConnState
from sync.errors import BadResponse, ServerBusy, ServerUnreachable
from sync.scheduler import Step, SyncScheduler
from tests.faultproxy import Fault, FaultProxy
from tests.support import LiveServer
from tests.sync.conftest import Client
from tests.sync.views import assert_agree, client_view, pending_local

CHANGES = "/api/v1/sync/changes"
MUTATIONS = "/api/v1/sync/mutations"


def my_session_id(client: Client) -> str:
    me = client.api.me().id
    return next(s.id for s in client.store.sessions() if s.assignee_id == me)


def count(live_server: LiveServer, model: type, **where: object) -> int:
    with live_server.db() as db:
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return int(db.scalar(stmt) or 0)


def agree(client: Client, live_server: LiveServer) -> None:
    assert client.store.outbox_size() == 0
    assert pending_local(client.cache.sessions) == 0
    with live_server.db() as db:
        assert_agree(client.cache.sessions, db, client.username)


def direct_api(live_server: LiveServer, client: Client) -> ApiClient:
    """The same user, straight to the server (no proxy), to see what pages hold."""
    api = ApiClient(live_server.url)
    api.token = client.api.token
    return api


# -- pull ----------------------------------------------------------------------------------


def test_a_connection_cut_in_the_middle_of_a_page_resumes_at_the_last_whole_page(
    client: Client, proxy: FaultProxy, live_server: LiveServer
) -> None:
    proxy.add(Fault.CUT, "GET", CHANGES, skip=2, cut_after=3000)
    with pytest.raises(ServerUnreachable) as caught:
        client.engine.sync_blocking()
    assert "连接中断" in caught.value.message
    assert proxy.faults(Fault.CUT) == 1
    # Exactly the first two pages are in the cache, with the second page's cursor.
    direct = direct_api(live_server, client)
    first = direct.changes(0, 50)
    second = direct.changes(first.cursor, 50)
    assert second.has_more
    expected = {(c["kind"], str(c["id"])) for c in first.changes + second.changes}
    assert client.store.cursor() == second.cursor
    assert set(client_view(client.cache.sessions)) == expected
    report = client.engine.sync_blocking()
    assert report.pages > 1 and not report.reset
    agree(client, live_server)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_server_error_on_a_later_page_keeps_what_was_applied(
    client: Client, proxy: FaultProxy, live_server: LiveServer, status: int
) -> None:
    proxy.add(Fault.STATUS, "GET", CHANGES, skip=1, status=status)
    with pytest.raises(ServerBusy) as caught:
        client.engine.sync_blocking()
    assert caught.value.status == status
    first = direct_api(live_server, client).changes(0, 50)
    assert client.store.cursor() == first.cursor
    client.engine.sync_blocking()
    agree(client, live_server)


def test_a_malformed_page_is_not_applied_and_is_fetched_again(
    client: Client, proxy: FaultProxy, live_server: LiveServer
) -> None:
    proxy.add(Fault.MALFORMED, "GET", CHANGES, skip=1)
    with pytest.raises(BadResponse) as caught:
        client.engine.sync_blocking()
    assert "无法识别" in caught.value.message
    first = direct_api(live_server, client).changes(0, 50)
    assert client.store.cursor() == first.cursor
    client.engine.sync_blocking()
    agree(client, live_server)


def test_a_refused_connection_leaves_the_cache_as_it_was(
    client: Client, proxy: FaultProxy, live_server: LiveServer
) -> None:
    client.engine.sync_blocking()
    before = client_view(client.cache.sessions), client.store.cursor()
    with live_server.db() as db:
        entry = db.scalars(select(m.KnowledgeEntry).order_by(m.KnowledgeEntry.id)).first()
        assert entry is not None
        catalog.delete_knowledge(db, entry.id)
        db.commit()
    proxy.refusing = True
    with pytest.raises(ServerUnreachable) as caught:
        client.engine.sync_blocking()
    assert "无法连接服务器" in caught.value.message
    assert (client_view(client.cache.sessions), client.store.cursor()) == before
    proxy.refusing = False
    client.engine.sync_blocking()
    assert client.store.knowledge(entry.id) is None
    agree(client, live_server)


# -- push ----------------------------------------------------------------------------------


def test_a_lost_push_answer_is_resent_and_applied_once(
    client: Client, proxy: FaultProxy, live_server: LiveServer
) -> None:
    client.engine.sync_blocking()
    session_id = my_session_id(client)
    entry_id = client.store.knowledge_list(1)[0].id
    note_id, _ = client.store.add_note(session_id, "群众表示明天上午补交材料", None)
    feedback_id = client.store.add_knowledge_feedback(
        entry_id, "correction", "办理时限已改为5个工作日"
    )
    proxy.add(Fault.LOSE, "POST", MUTATIONS)
    with pytest.raises(ServerUnreachable):
        client.engine.sync_blocking()
    # The server committed both; the client, not knowing, keeps both queued.
    assert proxy.count("POST", MUTATIONS, forwarded=True) == 1
    assert count(live_server, m.SessionNote, id=note_id) == 1
    assert count(live_server, m.KnowledgeFeedback, id=feedback_id) == 1
    assert client.store.outbox_size() == 2
    assert client.store.notes(session_id)[-1][1] is True
    report = client.engine.sync_blocking()
    assert report.pushed == 2 and report.duplicates == 2 and not report.rejected
    assert count(live_server, m.SessionNote, id=note_id) == 1
    assert count(live_server, m.KnowledgeFeedback, id=feedback_id) == 1
    assert count(live_server, m.AppliedMutation) == 2
    agree(client, live_server)


def test_a_refusal_whose_answer_was_lost_is_refused_again_not_called_a_duplicate(
    client: Client, proxy: FaultProxy, live_server: LiveServer
) -> None:
    client.engine.sync_blocking()
    entry_id = client.store.knowledge_list(1)[0].id
    with live_server.db() as db:
        catalog.delete_knowledge(db, entry_id)
        db.commit()
    client.store.add_knowledge_feedback(entry_id, "correction", "这条的电话 13812345678 已停用")
    proxy.add(Fault.LOSE, "POST", MUTATIONS)
    with pytest.raises(ServerUnreachable):
        client.engine.sync_blocking()
    report = client.engine.sync_blocking()
    assert report.duplicates == 0 and len(report.rejected) == 1
    problems = client.store.open_problems()
    assert len(problems) == 1
    assert "已不存在" in problems[0].reason
    # What was written is named, with the phone number masked.
    assert "138****5678" in problems[0].reason and "13812345678" not in problems[0].reason
    assert count(live_server, m.KnowledgeFeedback) == 0
    agree(client, live_server)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_server_error_on_push_keeps_the_outbox_for_a_retry(
    client: Client, proxy: FaultProxy, live_server: LiveServer, status: int
) -> None:
    client.engine.sync_blocking()
    note_id, _ = client.store.add_note(my_session_id(client), "已转交社保窗口", None)
    proxy.add(Fault.STATUS, "POST", MUTATIONS, status=status)
    with pytest.raises(ServerBusy):
        client.engine.sync_blocking()
    (queued,) = client.store.pending_mutations()
    assert queued.attempts == 1
    assert count(live_server, m.SessionNote, id=note_id) == 0
    report = client.engine.sync_blocking()
    assert report.pushed == 1 and report.duplicates == 0
    assert count(live_server, m.SessionNote, id=note_id) == 1
    agree(client, live_server)


def test_503_with_retry_after_is_honoured_by_the_schedule(
    client: Client, proxy: FaultProxy, live_server: LiveServer
) -> None:
    client.engine.sync_blocking()
    client.store.add_note(my_session_id(client), "稍后回电", None)
    scheduler = SyncScheduler(rng=Random(7))
    proxy.add(Fault.STATUS, "POST", MUTATIONS, status=503, retry_after="7")
    with pytest.raises(ServerBusy) as caught:
        client.engine.sync_blocking()
    assert caught.value.retry_after == 7
    plan = scheduler.round_failed(caught.value)
    assert plan.step is Step.SYNC and plan.delay >= 7
    assert scheduler.state.state is ConnState.DEGRADED
    # An HTTP date works too.
    when = datetime.now().astimezone() + timedelta(seconds=90)
    proxy.add(Fault.STATUS, "POST", MUTATIONS, status=503, retry_after=format_datetime(when))
    with pytest.raises(ServerBusy) as caught:
        client.engine.sync_blocking()
    assert caught.value.retry_after is not None and 60 < caught.value.retry_after <= 90
    assert scheduler.round_failed(caught.value).delay > 60
    client.engine.sync_blocking()
    agree(client, live_server)


def test_a_malformed_push_answer_after_the_commit_is_resent_as_a_duplicate(
    client: Client, proxy: FaultProxy, live_server: LiveServer
) -> None:
    client.engine.sync_blocking()
    note_id, _ = client.store.add_note(my_session_id(client), "材料齐全，已受理", None)
    proxy.add(Fault.MALFORMED, "POST", MUTATIONS)
    with pytest.raises(BadResponse):
        client.engine.sync_blocking()
    assert client.store.outbox_size() == 1
    assert count(live_server, m.SessionNote, id=note_id) == 1
    report = client.engine.sync_blocking()
    assert report.duplicates == 1
    assert count(live_server, m.SessionNote, id=note_id) == 1
    agree(client, live_server)


def test_an_action_the_server_cannot_parse_is_refused_without_blocking_the_queue(
    client: Client, live_server: LiveServer
) -> None:
    """A 422 for the whole batch (one action too long for the API) is narrowed down to
    that action, which becomes a problem; the actions behind it go through."""
    client.engine.sync_blocking()
    session_id = my_session_id(client)
    client.store.enqueue("session_note", "create", "x" * 200, {"text": "编号过长"})
    good_id, _ = client.store.add_note(session_id, "这条应当保存", None)
    feedback_id = client.store.add_knowledge_feedback(None, "new_question", "异地就医备案怎么办？")
    report = client.engine.sync_blocking()
    assert report.pushed == 3 and len(report.rejected) == 1
    (problem,) = client.store.open_problems()
    assert "格式" in problem.reason
    assert count(live_server, m.SessionNote, id=good_id) == 1
    assert count(live_server, m.KnowledgeFeedback, id=feedback_id) == 1
    agree(client, live_server)


def test_a_handler_that_trips_on_a_malformed_payload_refuses_it_instead_of_failing(
    client: Client, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fragile(_db, _user, mutation: Mutation):  # type: ignore[no-untyped-def]
        return int(mutation.raw["count"])  # KeyError for the payload sent below

    # A handler with a bug (the protocol let the payload through; the handler trips).
    monkeypatch.setitem(HANDLERS, ("session", "reveal"), fragile)
    client.engine.sync_blocking()
    session_id = my_session_id(client)
    client.store.enqueue("session", "reveal", session_id, {"session_id": session_id})
    note_id, _ = client.store.add_note(session_id, "后面的操作照常保存", None)
    report = client.engine.sync_blocking()
    assert len(report.rejected) == 1 and "服务器处理此操作时出错" in report.rejected[0]
    assert count(live_server, m.SessionNote, id=note_id) == 1
    agree(client, live_server)


def test_pushes_and_pages_travel_gzip_compressed(
    client: Client, proxy: FaultProxy, live_server: LiveServer
) -> None:
    client.engine.sync_blocking()
    assert any(e.gzip_answer for e in proxy.log if e.path == CHANGES)
    long_text = "申请人反映：" + "线上提交后一直显示待审核，" * 200
    note_id, _ = client.store.add_note(my_session_id(client), long_text[:3900], None)
    client.engine.sync_blocking()
    pushes = [e for e in proxy.log if e.path == MUTATIONS]
    assert pushes and pushes[-1].gzip_request
    with live_server.db() as db:
        note = db.get(m.SessionNote, note_id)
        assert note is not None and note.text == long_text[:3900]
    agree(client, live_server)
