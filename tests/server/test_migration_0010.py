"""Revision 0010 on a database whose knowledge still has ``pending_review`` entries: they
become drafts under review with a tombstone for every cache, and each published entry
gets its current version as its first history row (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, inspect, make_url, select, text

from server import models as m
from server.db import alembic_config, make_engine, session_factory
from tests.server.conftest import PG_URL


@pytest.fixture(params=["sqlite", "postgres"])
def old_database(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
        command.upgrade(alembic_config(engine), "0007")
        yield engine
        engine.dispose()
        return
    if not PG_URL:
        pytest.skip("PostgreSQL not provided")
    name = f"bangban_m10_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    command.upgrade(alembic_config(engine), "0007")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _entry(conn, entry_id: str, title: str, state: str, version: int) -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        text(
            "INSERT INTO knowledge_entries (id, title, answer, category, issuing_unit, kind, "
            "keywords, scope, region, matter_code, department, service_type, effective_date, "
            "expiry_date, version, review_state, source) VALUES (:id, :t, '答复', '分类', '', "
            "'日常咨询', '[\"词\"]', '市', '', NULL, '公安局', 'consult', '2026-01-01', NULL, "
            ":v, :s, '')"
        ),
        {"id": entry_id, "t": title, "v": version, "s": state},
    )


def test_pending_entries_become_drafts_with_tombstones(old_database: Engine) -> None:
    with old_database.begin() as conn:
        _entry(conn, "kb-ok", "已发布的条目", "published", 3)
        _entry(conn, "kb-wait", "待审核的条目", "pending_review", 1)
        conn.execute(text("INSERT INTO counters (name, value) VALUES ('change_seq', 7)"))
    command.upgrade(alembic_config(old_database), "head")
    with session_factory(old_database)() as db:
        assert db.get(m.KnowledgeEntry, "kb-wait") is None
        draft = db.scalar(select(m.KnowledgeDraft))
        assert (draft.entry_id, draft.open_entry_id, draft.state) == (
            "kb-wait",
            "kb-wait",
            "review",
        )
        assert draft.data["title"] == "待审核的条目" and draft.data["keywords"] == ["词"]
        assert draft.data["effective_date"] == "2026-01-01"
        tomb = db.scalar(select(m.ChangeLog).where(m.ChangeLog.entity_id == "kb-wait"))
        assert tomb is not None and tomb.deleted and tomb.public and tomb.seq == 8
        history = db.scalars(select(m.KnowledgeVersion)).all()
        assert [(v.entry_id, v.version, v.action) for v in history] == [("kb-ok", 3, "publish")]
    columns = {c["name"] for c in inspect(old_database).get_columns("knowledge_feedback")}
    assert {"resolution", "resolved_entry_id", "resolution_note"} <= columns
    command.downgrade(alembic_config(old_database), "0007")
    tables = set(inspect(old_database).get_table_names())
    assert not {"knowledge_drafts", "knowledge_versions", "synonym_groups"} & tables
