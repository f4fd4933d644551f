"""Revision 0006 on a database that already has audit rows: the source address and
reason that ``record_audit`` used to keep inside ``detail`` move to their columns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, text

from server import models as m
from server.db import alembic_config, make_engine, session_factory


@pytest.fixture
def old_database(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    command.upgrade(alembic_config(engine), "0001")
    yield engine
    engine.dispose()


def test_old_audit_rows_get_their_columns(old_database: Engine) -> None:
    with old_database.begin() as conn:
        for detail in (
            {"field": "phone", "source_ip": "10.1.2.3", "reason": "来电人要求回拨"},
            {"note": "无来源"},
        ):
            conn.execute(
                text(
                    "INSERT INTO audit_log (at, actor_id, action, target_kind, target_id, detail)"
                    " VALUES ('2026-11-30 09:00:00', 2, 'session.reveal', 'session', 's1', :d)"
                ),
                {"d": json.dumps(detail, ensure_ascii=False)},
            )
    command.upgrade(alembic_config(old_database), "head")
    indexes = {i["name"] for i in inspect(old_database).get_indexes("audit_log")}
    assert {"ix_audit_log_actor_id", "ix_audit_log_action", "ix_audit_log_at"} <= indexes
    assert "ix_events_at" in {i["name"] for i in inspect(old_database).get_indexes("events")}
    with session_factory(old_database)() as db:
        moved, untouched = db.scalars(select(m.AuditLog).order_by(m.AuditLog.id)).all()
    assert (moved.source_ip, moved.reason, moved.detail) == (
        "10.1.2.3",
        "来电人要求回拨",
        {"field": "phone"},
    )
    assert (untouched.source_ip, untouched.reason, untouched.detail) == (
        None,
        None,
        {"note": "无来源"},
    )
    command.downgrade(alembic_config(old_database), "0001")
    columns = {c["name"] for c in inspect(old_database).get_columns("audit_log")}
    assert "source_ip" not in columns and "reason" not in columns
