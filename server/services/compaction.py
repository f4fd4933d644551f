"""Compacting the change log: drop the rows no client needs, and keep a horizon.

Two kinds of row go:

- a row *superseded* by a newer row of the same record that reaches at least the
  same people. A pull reads a record as it is now, so the newer row tells a client
  everything the older one would have. The audience test matters for team-scoped
  records: when a session moves from agent A to B and then to C, the row of the
  second move is the one that tells A the session left them; the row of the third
  move reaches B and C only, so the second must stay.
- a *tombstone* older than the horizon (``days``). A client whose cursor is below the
  newest tombstone dropped this way might have missed a deletion, so the sequence
  number of that tombstone is stored as ``tombstone_horizon_seq``; the pull answers
  such a cursor with 410 and the client downloads everything again
  (:func:`server.services.pull.pull`).

Rows of a record's newest change (other than old tombstones) are never dropped, so a
client that downloads from the start still receives every record it may see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, and_, delete, exists, func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased

from server import models as m
from server.changes import watermark
from server.services.pull import HORIZON_KEY, horizon

DELETE_CHUNK = 500


@dataclass(frozen=True)
class CompactionResult:
    """What one compaction did.

    Attributes:
        superseded: Rows dropped because a newer row of the same record replaces them.
        tombstones: Tombstones dropped because they were older than the horizon.
        horizon_seq: The tombstone horizon now in force (cursors below it get 410).
        watermark: The highest committed sequence number when compaction ran.
    """

    superseded: int
    tombstones: int
    horizon_seq: int
    watermark: int


@dataclass(frozen=True)
class _Row:
    seq: int
    public: bool
    team_id: str | None
    user_a: int | None
    user_b: int | None
    queue: bool

    def covers(self, older: _Row) -> bool:
        """Whether everyone who may pull ``older`` may also pull this row
        (mirrors :func:`server.services.visibility.change_filter`)."""
        if self.public:
            return True
        if older.public:
            return False
        # Leads see their team's rows; agents their team's queue (and agent) rows.
        if older.team_id is not None and older.team_id != self.team_id:
            return False
        if older.queue and not self.queue:
            return False
        users = {self.user_a, self.user_b}
        return {u for u in (older.user_a, older.user_b) if u is not None} <= users


def compact(db: DbSession, *, days: float, now: datetime | None = None) -> CompactionResult:
    """Drop superseded change rows and tombstones older than ``days``; record the
    horizon. Runs in the caller's transaction (the caller commits)."""
    if days < 0:
        raise ValueError("days must not be negative")
    top = watermark(db)
    superseded = _drop_public_superseded(db, top)
    superseded += _drop_scoped_superseded(db, top)
    cutoff = (now or datetime.now()) - timedelta(days=days)
    dropped, newest = _drop_old_tombstones(db, top, cutoff)
    current = horizon(db)
    new_horizon = max(current, newest)
    if new_horizon != current:
        row = db.get(m.Meta, HORIZON_KEY)
        if row is None:
            db.add(m.Meta(key=HORIZON_KEY, value=str(new_horizon)))
        else:
            row.value = str(new_horizon)
    db.flush()
    return CompactionResult(superseded, dropped, new_horizon, top)


def _drop_public_superseded(db: DbSession, top: int) -> int:
    """Public records (knowledge, guides, scripts, the calendar) reach everyone, so
    any newer row of the same record supersedes an older one: one statement."""
    newer = aliased(m.ChangeLog)
    log = m.ChangeLog
    result = db.execute(
        delete(log)
        .where(
            log.public.is_(True),
            log.seq <= top,
            exists().where(
                newer.kind == log.kind,
                newer.entity_id == log.entity_id,
                newer.seq > log.seq,
                newer.seq <= top,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


def _drop_scoped_superseded(db: DbSession, top: int) -> int:
    """Team-scoped records: an older row goes only when a newer one covers its audience."""
    log = m.ChangeLog
    repeated = (
        select(log.kind, log.entity_id)
        .where(log.public.is_(False), log.seq <= top)
        .group_by(log.kind, log.entity_id)
        .having(func.count() > 1)
        .subquery()
    )
    rows = db.execute(
        select(
            log.kind,
            log.entity_id,
            log.seq,
            log.public,
            log.team_id,
            log.user_a,
            log.user_b,
            log.queue,
        )
        .join(repeated, and_(log.kind == repeated.c.kind, log.entity_id == repeated.c.entity_id))
        .where(log.seq <= top)
        .order_by(log.kind, log.entity_id, log.seq.desc())
    )
    doomed: list[int] = []
    key: tuple[str, str] | None = None
    newer: list[_Row] = []
    for kind, entity_id, seq, public, team_id, user_a, user_b, queue in rows:
        if (kind, entity_id) != key:
            key, newer = (kind, entity_id), []
        row = _Row(seq, public, team_id, user_a, user_b, queue)
        # Covering is transitive, so comparing with every newer row (dropped or not)
        # is the same as comparing with the newer rows that stay.
        if any(n.covers(row) for n in newer):
            doomed.append(seq)
        newer.append(row)
    _delete_seqs(db, doomed)
    return len(doomed)


def _drop_old_tombstones(db: DbSession, top: int, cutoff: datetime) -> tuple[int, int]:
    """Drop tombstones recorded before ``cutoff``; returns (how many, newest seq)."""
    log = m.ChangeLog
    old = (log.deleted.is_(True), log.at < cutoff, log.seq <= top)
    newest = db.scalar(select(func.max(log.seq)).where(*old))
    if newest is None:
        return 0, 0
    result = db.execute(
        delete(log).where(*old, log.seq <= newest).execution_options(synchronize_session=False)
    )
    return _rowcount(result), int(newest)


def _rowcount(result: Result[Any]) -> int:
    # A DELETE's result is a CursorResult, which knows how many rows it touched.
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _delete_seqs(db: DbSession, seqs: Iterable[int]) -> None:
    batch: list[int] = []
    for seq in seqs:
        batch.append(seq)
        if len(batch) >= DELETE_CHUNK:
            _delete_batch(db, batch)
            batch = []
    if batch:
        _delete_batch(db, batch)


def _delete_batch(db: DbSession, seqs: list[int]) -> None:
    db.execute(
        delete(m.ChangeLog)
        .where(m.ChangeLog.seq.in_(seqs))
        .execution_options(synchronize_session=False)
    )
