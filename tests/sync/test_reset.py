"""The tombstone horizon from the client's side: a cache whose cursor fell behind it
resets and downloads everything again, keeping its unsent outbox; a download from 0
passes through cursors below the horizon; a compaction in the middle of a download
starts it again; a cursor ahead of the horizon syncs on."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from server import models as m
from server.serialize import knowledge_entry
from server.services import catalog
from server.services.compaction import compact
from server.services.sessions import log_session, relog_children
from tests.faultproxy import FaultProxy
from tests.support import LiveServer
from tests.sync.conftest import Client
from tests.sync.views import assert_agree, pending_local


def edit(db, entry_id: str, times: int = 1) -> None:  # type: ignore[no-untyped-def]
    for i in range(times):
        row = db.get(m.KnowledgeEntry, entry_id)
        data = knowledge_entry(row)
        data["answer"] += f"（第{i + 1}次修订）"
        catalog.upsert_knowledge(db, data, bump_version=True)


def entry_ids(db, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    return list(db.scalars(select(m.KnowledgeEntry.id).order_by(m.KnowledgeEntry.id).limit(n)))


# -- the client side ------------------------------------------------------------------------


def test_a_client_behind_the_horizon_resets_and_keeps_its_unsent_outbox(
    client: Client, proxy: FaultProxy, live_server: LiveServer
) -> None:
    client.engine.sync_blocking()
    behind = client.store.cursor()
    me = client.api.me().id
    session_id = next(s.id for s in client.store.sessions() if s.assignee_id == me)
    with live_server.db() as db:
        gone, changed = entry_ids(db, 2)
        catalog.delete_knowledge(db, gone)
        edit(db, changed, times=2)
        db.commit()
        assert compact(db, days=0).horizon_seq > behind
        db.commit()

    # The person writes a note while the reset runs (the database worker takes it
    # just before the reset): it must survive the reset and go out next.
    real_reset = client.store.reset
    written: list[str] = []

    def reset_while_writing():  # type: ignore[no-untyped-def]
        written.append(client.store.add_note(session_id, "重置期间写下的备注", None)[0])
        return real_reset()

    client.store.reset = reset_while_writing  # type: ignore[method-assign]
    report = client.engine.sync_blocking()
    assert report.reset
    assert client.store.knowledge(gone) is None
    assert client.store.knowledge(changed) is not None
    assert "第2次修订" in client.store.knowledge(changed).answer  # type: ignore[union-attr]
    note_id = written[0]
    # Still shown, still marked as not yet confirmed, still queued.
    assert {n.id: pending for n, pending in client.store.notes(session_id)}[note_id] is True
    assert client.store.outbox_size() == 1

    client.store.reset = real_reset  # type: ignore[method-assign]
    again = client.engine.sync_blocking()
    assert not again.reset and again.pushed == 1
    assert client.store.outbox_size() == 0 and pending_local(client.cache.sessions) == 0
    with live_server.db() as db:
        assert db.get(m.SessionNote, note_id) is not None
        assert_agree(client.cache.sessions, db, client.username)


def test_a_client_ahead_of_the_horizon_syncs_on_without_a_reset(
    client: Client, live_server: LiveServer
) -> None:
    with live_server.db() as db:
        gone = entry_ids(db, 1)[0]
        catalog.delete_knowledge(db, gone)
        db.commit()
    client.engine.sync_blocking()  # sees the deletion
    with live_server.db() as db:
        changed = entry_ids(db, 1)[0]
        edit(db, changed, times=3)
        db.commit()
        result = compact(db, days=0)
        db.commit()
        assert 0 < result.horizon_seq <= client.store.cursor()
    report = client.engine.sync_blocking()
    assert not report.reset and report.pulled >= 1
    with live_server.db() as db:
        assert_agree(client.cache.sessions, db, client.username)


def test_compaction_never_hides_that_a_session_left_an_agent(
    client: Client, live_server: LiveServer
) -> None:
    client.engine.sync_blocking()
    me = client.api.me().id
    session_id = next(s.id for s in client.store.sessions() if s.assignee_id == me)
    with live_server.db() as db:
        users = {u.username: u.id for u in db.scalars(select(m.User))}
        session = db.get(m.Session, session_id)
        for nxt in ("wangfang", "liuyang"):
            prev = session.assignee_id
            session.assignee_id = users[nxt]
            log_session(db, session, prev_assignee_id=prev)
            relog_children(db, session, prev_assignee_id=prev)
        db.commit()
        compact(db, days=30)
        db.commit()
    client.engine.sync_blocking()
    assert client.store.session(session_id) is None
    with live_server.db() as db:
        assert_agree(client.cache.sessions, db, client.username)


def test_reset_keeps_the_records_the_outbox_still_needs(client: Client, tmp_path: Path) -> None:
    client.engine.sync_blocking()
    me = client.api.me().id
    session_id = next(s.id for s in client.store.sessions() if s.assignee_id == me)
    note_id, _ = client.store.add_note(session_id, "离线时写的备注", None)
    before = client.store.pending_mutations()
    client.store.reset()
    assert client.store.cursor() == 0
    assert client.store.knowledge_count() == 0
    assert client.store.pending_mutations() == before
    assert [(n.id, p) for n, p in client.store.notes(session_id)] == [(note_id, True)]


def test_a_download_from_zero_passes_the_horizon_and_restarts_if_it_moves(
    client: Client, live_server: LiveServer
) -> None:
    """Pages of a download from 0 carry cursors below the horizon; the server lets them
    through because the client names the horizon it started under. A compaction that
    moves the horizon half-way sends the client back to 0 (it might have missed a
    deletion), and the second download completes."""
    with live_server.db() as db:
        first_gone, second_gone = entry_ids(db, 2)
        catalog.delete_knowledge(db, first_gone)
        db.commit()
        assert compact(db, days=0).horizon_seq > 100
        db.commit()
    moved: list[int] = []

    def compact_half_way(_pulled: int, pages: int) -> None:
        if pages == 2 and not moved:
            with live_server.db() as db:
                catalog.delete_knowledge(db, second_gone)
                db.commit()
                moved.append(compact(db, days=0).horizon_seq)
                db.commit()

    client.engine.on_progress = compact_half_way
    report = client.engine.sync_blocking()
    assert moved and report.reset and report.pages > 4
    assert client.store.horizon() == moved[0] and client.store.cursor() >= moved[0]
    assert client.store.knowledge(first_gone) is None
    assert client.store.knowledge(second_gone) is None
    with live_server.db() as db:
        assert_agree(client.cache.sessions, db, client.username)
