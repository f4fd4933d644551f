"""Writing knowledge entries, matter guides, the calendar and users, each with its change row."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from core.calendar import YearSchedule
from core.entities import KnowledgeEntry as WireKnowledge
from core.entities import MatterGuide as WireGuide
from server import models as m
from server.changes import Audience, record

_KNOWLEDGE_FIELDS = (
    "title",
    "answer",
    "category",
    "issuing_unit",
    "kind",
    "keywords",
    "scope",
    "region",
    "matter_code",
    "department",
    "service_type",
    "effective_date",
    "expiry_date",
    "review_state",
    "source",
)


def upsert_knowledge(
    db: DbSession, data: dict[str, Any], *, now: datetime | None = None, bump_version: bool = False
) -> m.KnowledgeEntry:
    """Insert or update a knowledge entry from its wire shape, and log the change."""
    entry = WireKnowledge.from_wire(data)
    if len(entry.title) > 128:
        raise ValueError(f"标题超过128字：{entry.title[:20]}…")
    row = db.get(m.KnowledgeEntry, entry.id)
    old_version = row.version if row is not None else None
    if row is None:
        row = m.KnowledgeEntry(id=entry.id, version=entry.version)
        db.add(row)
    elif bump_version:
        row.version = (row.version or 0) + 1
    else:
        row.version = entry.version
    for name in _KNOWLEDGE_FIELDS:
        value = getattr(entry, name)
        setattr(row, name, list(value) if isinstance(value, list) else value)
    row.updated_at = now or datetime.now()
    row.review_state = "published"
    if old_version != row.version:
        _keep_version(db, row, now or datetime.now())
    record(db, "knowledge_entry", entry.id, now=now)
    if old_version is not None and old_version != row.version:
        _knowledge_changed(db, entry.id, row.version, row.title)
    return row


def _keep_version(db: DbSession, row: m.KnowledgeEntry, now: datetime) -> None:
    """The history row of a version written outside the review flow (seed, bench)."""
    exists = db.scalar(
        select(m.KnowledgeVersion.id).where(
            m.KnowledgeVersion.entry_id == row.id, m.KnowledgeVersion.version == row.version
        )
    )
    if exists is not None:
        return
    data = {name: getattr(row, name) for name in _KNOWLEDGE_FIELDS if name != "review_state"}
    for name in ("effective_date", "expiry_date"):
        data[name] = data[name].isoformat() if data[name] else None
    data["keywords"] = list(data["keywords"] or [])
    db.add(
        m.KnowledgeVersion(
            entry_id=row.id,
            version=row.version,
            action="publish",
            title=row.title,
            data=data,
            reason="初始版本",
            published_at=now,
        )
    )


def delete_knowledge(db: DbSession, entry_id: str) -> bool:
    row = db.get(m.KnowledgeEntry, entry_id)
    if row is None:
        return False
    db.delete(row)
    record(db, "knowledge_entry", entry_id, deleted=True)
    _knowledge_changed(db, entry_id, None, row.title)
    return True


def _knowledge_changed(db: DbSession, entry_id: str, version: int | None, title: str) -> None:
    """Flag the walkthroughs that cite the entry for review (DESIGN.md §7)."""
    # Imported here: the walkthrough service registers pull loaders on import.
    from server.services.walkthroughs import flag_for_knowledge_change

    flag_for_knowledge_change(db, entry_id, version, title)


def upsert_matter(db: DbSession, data: dict[str, Any]) -> m.MatterGuide:
    guide = WireGuide.from_wire(data)
    row = db.get(m.MatterGuide, guide.code)
    rest = guide.to_wire()
    for key in ("code", "name", "department", "version"):
        rest.pop(key)
    if row is None:
        row = m.MatterGuide(code=guide.code, version=guide.version)
        db.add(row)
    row.name, row.department, row.data, row.deleted = guide.name, guide.department, rest, False
    record(db, "matter_guide", guide.code)
    return row


def upsert_calendar_year(db: DbSession, schedule: YearSchedule) -> m.CalendarYear:
    row = db.get(m.CalendarYear, schedule.year)
    wire = schedule.to_wire()
    if row is None:
        row = m.CalendarYear(year=schedule.year)
        db.add(row)
    row.source, row.holidays, row.workdays = wire["source"], wire["holidays"], wire["workdays"]
    record(db, "calendar", schedule.year)
    return row


def touch_agent(db: DbSession, user: m.User) -> None:
    """Log a change of a user so that the members of their team pull it."""
    record(db, "agent", user.id, audience=Audience(team_id=user.team_id, user_a=user.id))


def parse_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def existing_user(db: DbSession, username: str) -> m.User | None:
    return db.scalar(select(m.User).where(m.User.username == username))
