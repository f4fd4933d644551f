"""The server-wide change log that clients pull from.

Every write that a client may need to see calls :func:`record` inside the same
transaction. The sequence number comes from a counter row that is updated, and so
locked, until the transaction commits: the next writer waits for it. Sequence
numbers therefore commit in order, and the highest committed number is a safe
watermark — a reader never steps past a change that has yet to commit. On SQLite
the database-wide write lock gives the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from server.models import ChangeLog, Counter

SEQ = "change_seq"

PUBLIC_KINDS = frozenset({"knowledge_entry", "matter_guide", "walkthrough", "calendar", "synonyms"})


@dataclass(frozen=True)
class Audience:
    """Who may see a change of a team-scoped record."""

    team_id: str | None = None
    user_a: int | None = None
    user_b: int | None = None
    queue: bool = False


def next_seq(db: DbSession) -> int:
    value = db.execute(
        update(Counter)
        .where(Counter.name == SEQ)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    ).scalar_one_or_none()
    if value is None:
        db.add(Counter(name=SEQ, value=1))
        db.flush()
        return 1
    return int(value)


def record(
    db: DbSession,
    kind: str,
    entity_id: str | int,
    *,
    deleted: bool = False,
    audience: Audience | None = None,
    now: datetime | None = None,
) -> int:
    """Append a change row and return its sequence number."""
    seq = next_seq(db)
    audience = audience or Audience()
    db.add(
        ChangeLog(
            seq=seq,
            kind=kind,
            entity_id=str(entity_id),
            deleted=deleted,
            public=kind in PUBLIC_KINDS,
            team_id=audience.team_id,
            user_a=audience.user_a,
            user_b=audience.user_b,
            queue=audience.queue,
            at=now or datetime.now(),
        )
    )
    return seq


def watermark(db: DbSession) -> int:
    """The highest committed sequence number."""
    value = db.execute(select(Counter.value).where(Counter.name == SEQ)).scalar_one_or_none()
    return int(value or 0)
