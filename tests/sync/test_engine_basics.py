"""The sync engine against a real server: pull into a real cache, push the outbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.localstore.db import open_cache
from core.localstore.store import LocalStore
from server import models as m
from sync.client import ApiClient
from sync.engine import SyncEngine
from tests.support import DEMO_PASSWORD, LiveServer


@pytest.fixture
def client(live_server: LiveServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    api = ApiClient(live_server.url)
    api.login("agent", DEMO_PASSWORD)
    cache = open_cache(tmp_path / "cache.sqlite3")
    store = LocalStore(cache.sessions)
    yield api, store
    api.close()
    cache.engine.dispose()


def test_first_sync_fills_the_cache(client, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    api, store = client
    report = SyncEngine(api, store, page_limit=50).sync_blocking()
    assert report.pages > 3
    with live_server.db() as db:
        expected = db.scalar(select(func.count()).select_from(m.KnowledgeEntry))
    assert store.knowledge_count() == expected
    assert store.cursor() > 0
    assert len(store.matters()) >= 20
    again = SyncEngine(api, store).sync_blocking()
    assert again.pulled == 0


def test_a_note_goes_through_the_outbox_once(client, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    api, store = client
    engine = SyncEngine(api, store)
    engine.sync_blocking()
    session = next(s for s in store.sessions() if s.assignee_id == api.me().id)
    note_id, _ = store.add_note(session.id, "已电话告知需补充租房合同", None)
    assert store.outbox_size() == 1
    assert store.notes(session.id)[-1][1] is True  # pending until the server confirms
    pending = store.pending_mutations()
    report = engine.sync_blocking()
    assert report.pushed == 1 and store.outbox_size() == 0
    assert [n.id for n, p in store.notes(session.id) if not p].count(note_id) == 1
    # Resending the same mutation (an answer that was lost) is a duplicate, applied once.
    results = api.push([pending[0].to_wire()])
    assert results[0]["status"] == "duplicate"
    with live_server.db() as db:
        assert (
            db.scalar(
                select(func.count()).select_from(m.SessionNote).where(m.SessionNote.id == note_id)
            )
            == 1
        )


def test_a_refused_write_is_kept_as_a_problem_and_does_not_block(
    client, live_server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    api, store = client
    engine = SyncEngine(api, store)
    engine.sync_blocking()
    session = next(s for s in store.sessions() if s.assignee_id == api.me().id)
    store.add_note("no-such-session", "这条会被拒绝", None)
    good_id, _ = store.add_note(session.id, "这条应当保存", None)
    store.add_knowledge_feedback(None, "new_question", "群众问：灵活就业社保补缴怎么办理？")
    report = engine.sync_blocking()
    assert report.pushed == 3 and store.outbox_size() == 0
    problems = store.open_problems()
    assert len(problems) == 1 and "不存在" in problems[0].reason
    with live_server.db() as db:
        assert db.get(m.SessionNote, good_id) is not None
        assert db.scalar(select(func.count()).select_from(m.KnowledgeFeedback)) == 1
