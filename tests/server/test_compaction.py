"""Compacting the change log (``python -m server compact``): superseded rows and old
tombstones go, the horizon is recorded, and no audience loses a row it needs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from server import models as m
from server.__main__ import main as server_main
from server.changes import Audience, record
from server.serialize import knowledge_entry
from server.services import catalog
from server.services.compaction import compact
from server.services.pull import HORIZON_KEY, horizon
from tests.support import LiveServer


def log_rows(db, kind: str, entity_id: str) -> list[int]:  # type: ignore[no-untyped-def]
    return list(
        db.scalars(
            select(m.ChangeLog.seq)
            .where(m.ChangeLog.kind == kind, m.ChangeLog.entity_id == entity_id)
            .order_by(m.ChangeLog.seq)
        )
    )


def edit(db, entry_id: str, times: int = 1) -> None:  # type: ignore[no-untyped-def]
    for i in range(times):
        row = db.get(m.KnowledgeEntry, entry_id)
        data = knowledge_entry(row)
        data["answer"] += f"（第{i + 1}次修订）"
        catalog.upsert_knowledge(db, data, bump_version=True)


def entry_ids(db, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    return list(db.scalars(select(m.KnowledgeEntry.id).order_by(m.KnowledgeEntry.id).limit(n)))


@pytest.fixture
def db(live_server: LiveServer) -> Iterator:  # type: ignore[type-arg]
    """A session on the server's database (SQLite, and PostgreSQL where provided)."""
    with live_server.db() as session:
        yield session


def test_compaction_drops_superseded_rows_and_old_tombstones_and_sets_the_horizon(db) -> None:  # type: ignore[no-untyped-def]
    edited, old_gone, new_gone = entry_ids(db, 3)
    edit(db, edited, times=3)
    catalog.delete_knowledge(db, old_gone)
    catalog.delete_knowledge(db, new_gone)
    db.flush()
    old_tombstone = log_rows(db, "knowledge_entry", old_gone)[-1]
    db.execute(
        update(m.ChangeLog)
        .where(m.ChangeLog.seq == old_tombstone)
        .values(at=datetime.now() - timedelta(days=40))
    )
    db.commit()
    newest_edit = log_rows(db, "knowledge_entry", edited)[-1]

    result = compact(db, days=30)
    db.commit()
    assert log_rows(db, "knowledge_entry", edited) == [newest_edit]
    assert log_rows(db, "knowledge_entry", old_gone) == []
    assert len(log_rows(db, "knowledge_entry", new_gone)) == 1  # a fresh tombstone stays
    assert result.tombstones == 1 and result.superseded >= 5
    assert result.horizon_seq == old_tombstone == horizon(db)
    assert db.get(m.Meta, HORIZON_KEY).value == str(old_tombstone)

    again = compact(db, days=30)
    assert (again.superseded, again.tombstones, again.horizon_seq) == (0, 0, old_tombstone)


def test_a_scoped_row_stays_while_no_newer_row_reaches_its_audience(db) -> None:  # type: ignore[no-untyped-def]
    """A → B → C: the row of the move to B is what tells A the session left; the row
    of the move to C reaches B and C only, so it cannot replace it."""
    first = record(db, "session", "s-moving", audience=Audience("team-zx", user_a=1))
    to_b = record(db, "session", "s-moving", audience=Audience("team-zx", user_a=2, user_b=1))
    to_c = record(db, "session", "s-moving", audience=Audience("team-zx", user_a=3, user_b=2))
    db.commit()
    compact(db, days=30)
    assert log_rows(db, "session", "s-moving") == [to_b, to_c]
    assert first < to_b


def test_the_compact_command(live_server: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    url = live_server.app.state.settings.database_url
    with live_server.db() as session:
        gone = entry_ids(session, 1)[0]
        catalog.delete_knowledge(session, gone)
        session.commit()
        tombstone = log_rows(session, "knowledge_entry", gone)[-1]
    assert server_main(["compact", "--database-url", url, "--days", "0"]) == 0
    out = capsys.readouterr().out
    assert "删除记录 1 条" in out and str(tombstone) in out
    with live_server.db() as session:
        assert horizon(session) == tombstone
    assert server_main(["compact", "--database-url", url, "--days", "-1"]) == 2
