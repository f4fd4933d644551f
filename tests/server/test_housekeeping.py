"""Housekeeping (issue 11, part 10): ``applied_mutations``, ``events`` and ``audit_log``
are trimmed by age in chunks of their own transactions, oldest first, and exactly the
rows inside the retention survive (on SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, event, func, insert, select

from server import models as m
from server.__main__ import main as server_main
from server.services.housekeeping import Retention, trim
from tests.support import LiveServer

NOW = datetime(2026, 12, 3, 12, 0, 0)
OLD, NEW = 22_000, 8_000  # 30,000 rows per table


def fill(
    live_server: LiveServer, now: datetime = NOW, old_rows: int = OLD, new_rows: int = NEW
) -> int:
    """Rows in each table: ``old_rows`` past their retention, ``new_rows`` within it."""
    with live_server.db() as db:
        db.execute(delete(m.Event))
        db.execute(delete(m.AuditLog))
        db.execute(delete(m.AppliedMutation))
        uid = int(db.scalar(select(m.User.id).where(m.User.username == "agent")))
        mutations, events, audit = [], [], []
        for i in range(old_rows + new_rows):
            old = i < old_rows
            mutations.append(
                {
                    "mutation_id": str(uuid.uuid4()),
                    "user_id": uid,
                    "status": "applied",
                    "reason": "",
                    "applied_at": now - timedelta(days=31 if old else 29, seconds=i),
                }
            )
            events.append(
                {
                    # Ids given here: events are numbered at commit by ``publish``, and
                    # these rows stand for an old history written straight to the table.
                    "id": i + 1,
                    "at": now - timedelta(days=3 if old else 1, seconds=-i),
                    "kind": "queue_changed",
                    "user_id": uid,
                    "team_id": None,
                    "for_team": False,
                    "for_leads": False,
                    "payload": {"n": i},
                }
            )
            audit.append(
                {
                    "at": now - timedelta(days=1100 if old else 1000, seconds=-i),
                    "actor_id": uid,
                    "action": "session.reveal",
                    "target_kind": "session",
                    "target_id": f"s{i}",
                    "detail": {},
                }
            )
        db.execute(insert(m.AppliedMutation), mutations)
        db.execute(insert(m.Event), events)
        db.execute(insert(m.AuditLog), audit)
        db.commit()
        return uid


def counts(live_server: LiveServer) -> dict[str, int]:
    with live_server.db() as db:
        return {
            "applied_mutations": db.scalar(select(func.count()).select_from(m.AppliedMutation)),
            "events": db.scalar(select(func.count()).select_from(m.Event)),
            "audit_log": db.scalar(select(func.count()).select_from(m.AuditLog)),
        }


def test_trimming_deletes_in_chunks_and_keeps_what_is_inside_the_retention(
    live_server: LiveServer,
) -> None:
    fill(live_server)
    assert counts(live_server) == dict.fromkeys(
        ("applied_mutations", "events", "audit_log"), 30_000
    )
    engine = live_server.app.state.engine
    commits: list[int] = []

    def committed(_conn: object) -> None:
        commits.append(1)

    event.listen(engine, "commit", committed)
    try:
        result = trim(live_server.app.state.db, Retention(30, 2, 1095), now=NOW, chunk=5000)
    finally:
        event.remove(engine, "commit", committed)
    assert result.chunks == {
        "applied_mutations": [5000, 5000, 5000, 5000, 2000],
        "events": [5000, 5000, 5000, 5000, 2000],
        "audit_log": [5000, 5000, 5000, 5000, 2000],
        "webhook_deliveries": [],  # none delivered long ago
    }
    assert {k: result.deleted[k] for k in ("applied_mutations", "events", "audit_log")} == (
        dict.fromkeys(("applied_mutations", "events", "audit_log"), OLD)
    )
    # One transaction per chunk, no more (and no one transaction for everything).
    assert len(commits) == 15
    assert counts(live_server) == dict.fromkeys(("applied_mutations", "events", "audit_log"), NEW)
    with live_server.db() as db:
        oldest_event = db.scalar(select(func.min(m.Event.at)))
        assert oldest_event >= NOW - timedelta(days=2)
        oldest_audit = db.scalar(select(func.min(m.AuditLog.at)))
        assert oldest_audit >= NOW - timedelta(days=1095)
        assert db.scalar(select(func.min(m.AppliedMutation.applied_at))) >= NOW - timedelta(days=30)
        survivors = {int(t[1:]) for t in db.scalars(select(m.AuditLog.target_id))}
        assert survivors == set(range(OLD, OLD + NEW))
    # Nothing more to do the second time.
    again = trim(live_server.app.state.db, Retention(30, 2, 1095), now=NOW, chunk=5000)
    assert again.deleted == dict.fromkeys(
        ("applied_mutations", "events", "audit_log", "webhook_deliveries"), 0
    )


def test_the_newest_event_always_stays(live_server: LiveServer) -> None:
    with live_server.db() as db:
        db.execute(delete(m.Event))
        for i in range(3):
            db.add(
                m.Event(id=i + 1, at=NOW - timedelta(days=10 - i), kind="queue_changed", payload={})
            )
        db.commit()
        newest = db.scalar(select(func.max(m.Event.id)))
    result = trim(live_server.app.state.db, Retention(events_days=0), now=NOW, chunk=2)
    assert result.chunks["events"] == [2]
    with live_server.db() as db:
        assert list(db.scalars(select(m.Event.id))) == [newest]


def test_the_compact_command_trims_too(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(live_server, now=datetime.now(), old_rows=2200, new_rows=800)  # by the real clock
    url = live_server.app.state.engine.url.render_as_string(hide_password=False)
    argv = ["compact", "--database-url", url, "--chunk", "7000"]
    assert server_main(argv) == 0
    out = capsys.readouterr().out
    assert "已处理操作记录 2200 条" in out and "实时通知 2200 条" in out
    assert "审计日志 2200 条" in out and "每批最多 7000 条" in out
    assert counts(live_server) == dict.fromkeys(("applied_mutations", "events", "audit_log"), 800)
    assert server_main(["compact", "--database-url", url, "--audit-days", "-1"]) == 2
    with pytest.raises(SystemExit):
        server_main(["compact", "--database-url", url, "--chunk", "0"])
