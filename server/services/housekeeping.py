"""Trimming the tables that only ever grow: ``applied_mutations``, ``events`` and
``audit_log`` (``python -m server compact`` runs it after the change-log compaction).

- ``applied_mutations`` remember every mutation id so that a resend is a no-op. A
  client resends only what is still in its outbox, i.e. a push whose answer it never
  got, which it retries at once whenever a link is up; ids older than the resend window
  (``ServerSettings.mutation_resend_days``, 30 days) go. A push resent after longer
  than that would be applied again, so the window must stay longer than any client
  stays offline with an unanswered push.
- ``events`` feed the long polls, which ask for what came after the last id they saw;
  a client that was away longer than ``event_retention_days`` (2 days) syncs in full
  on reconnecting and needs none of them. The newest event always stays: its id is
  where every poll starts (``last_event_id``), and on SQLite a table emptied of its
  highest id would hand the same ids out again.
- ``audit_log`` is kept for ``audit_retention_days`` (3 years by default).

Each table is trimmed in chunks of ``chunk`` rows (5,000), each in its own short
transaction, oldest first: a big table on SQLite never holds the write lock for long,
and a run that is stopped halfway has still done its part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, sessionmaker
from sqlalchemy.orm import Session as DbSession

from server import models as m

CHUNK = 5000


@dataclass(frozen=True)
class Retention:
    """How long each table keeps its rows, in days."""

    mutations_days: float = 30.0
    events_days: float = 2.0
    audit_days: float = 3 * 365.0
    webhook_days: float = 30.0
    """Delivered callbacks (``webhook_deliveries``); pending ones are never trimmed."""

    def __post_init__(self) -> None:
        for name in ("mutations_days", "events_days", "audit_days", "webhook_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass
class TrimResult:
    """Rows deleted per table, and the size of every chunk (one transaction each)."""

    deleted: dict[str, int] = field(default_factory=dict)
    chunks: dict[str, list[int]] = field(default_factory=dict)

    def total(self, table: str) -> int:
        return self.deleted.get(table, 0)


def _trim_table(
    sessions: sessionmaker[DbSession],
    table: str,
    key: InstrumentedAttribute[Any],
    age: InstrumentedAttribute[Any],
    cutoff: datetime,
    chunk: int,
    result: TrimResult,
    keep_newest: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> None:
    sizes: list[int] = result.chunks.setdefault(table, [])
    with sessions() as db:
        ceiling = db.scalar(select(func.max(key))) if keep_newest else None
    while True:
        with sessions() as db:
            query = select(key).where(age < cutoff)
            if ceiling is not None:
                query = query.where(key < ceiling)
            ids = list(db.scalars(query.order_by(age, key).limit(chunk)))
            if not ids:
                break
            db.execute(
                delete(key.class_).where(key.in_(ids)).execution_options(synchronize_session=False)
            )
            db.commit()
        sizes.append(len(ids))
        if progress is not None:
            progress(table, sum(sizes))
        if len(ids) < chunk:
            break
    result.deleted[table] = sum(sizes)


def trim(
    sessions: sessionmaker[DbSession],
    retention: Retention | None = None,
    *,
    now: datetime | None = None,
    chunk: int = CHUNK,
    progress: Callable[[str, int], None] | None = None,
) -> TrimResult:
    """Delete what is older than ``retention`` from the three tables, ``chunk`` rows per
    transaction (each chunk commits on its own; ``sessions`` makes the transactions)."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    retention = retention or Retention()
    now = now or datetime.now()
    result = TrimResult()
    plan = [
        (
            "applied_mutations",
            m.AppliedMutation.mutation_id,
            m.AppliedMutation.applied_at,
            retention.mutations_days,
            False,
        ),
        ("events", m.Event.id, m.Event.at, retention.events_days, True),
        ("audit_log", m.AuditLog.id, m.AuditLog.at, retention.audit_days, False),
        # delivered_at is NULL until delivered, so pending rows never match the cutoff.
        (
            "webhook_deliveries",
            m.WebhookDelivery.id,
            m.WebhookDelivery.delivered_at,
            retention.webhook_days,
            False,
        ),
    ]
    for table, key, age, days, keep_newest in plan:
        _trim_table(
            sessions,
            table,
            key,
            age,
            now - timedelta(days=days),
            chunk,
            result,
            keep_newest=keep_newest,
            progress=progress,
        )
    return result
