"""Cursor pull (``GET /api/v1/sync/changes``), DESIGN.md §4."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import selectinload

from core.protocol import RecordKind
from server import models as m
from server import serialize
from server.auth import CurrentUser
from server.changes import watermark
from server.errors import ApiError
from server.services.visibility import SESSION_KINDS, change_filter, session_visible

HORIZON_KEY = "tombstone_horizon_seq"


def horizon(db: DbSession) -> int:
    value = db.execute(select(m.Meta.value).where(m.Meta.key == HORIZON_KEY)).scalar()
    return int(value or 0)


def _load(db: DbSession, kind: str, ids: list[str]) -> dict[str, Any]:
    """Load the current rows of one kind, keyed by their id as text."""
    if kind == RecordKind.KNOWLEDGE_ENTRY:
        rows: Iterable[Any] = db.scalars(
            select(m.KnowledgeEntry).where(m.KnowledgeEntry.id.in_(ids))
        )
        return {r.id: r for r in rows}
    if kind == RecordKind.MATTER_GUIDE:
        rows = db.scalars(select(m.MatterGuide).where(m.MatterGuide.code.in_(ids)))
        return {r.code: r for r in rows if not r.deleted}
    if kind == RecordKind.CALENDAR:
        rows = db.scalars(select(m.CalendarYear).where(m.CalendarYear.year.in_(map(int, ids))))
        return {str(r.year): r for r in rows}
    if kind == RecordKind.AGENT:
        rows = db.scalars(
            select(m.User).options(selectinload(m.User.team)).where(m.User.id.in_(map(int, ids)))
        )
        return {str(r.id): r for r in rows}
    if kind == RecordKind.SESSION:
        rows = db.scalars(
            select(m.Session).options(selectinload(m.Session.events)).where(m.Session.id.in_(ids))
        )
        return {r.id: r for r in rows}
    if kind == RecordKind.SESSION_NOTE:
        rows = db.scalars(select(m.SessionNote).where(m.SessionNote.id.in_(ids)))
        return {r.id: r for r in rows}
    if kind == RecordKind.EVALUATION:
        rows = db.scalars(select(m.Evaluation).where(m.Evaluation.id.in_(ids)))
        return {r.id: r for r in rows}
    extra = EXTRA_LOADERS.get(kind)
    if extra is not None:
        return extra[0](db, ids)
    return {}


def _serialize(kind: str, row: Any) -> dict[str, Any]:
    if kind in EXTRA_LOADERS:
        return EXTRA_LOADERS[kind][1](row)
    return SERIALIZERS[kind](row)


def _knowledge_entry(row: m.KnowledgeEntry) -> dict[str, Any]:
    """``serialize.knowledge_entry`` without building the dataclass and deep-copying it
    (``asdict``): the same dict, in the same order, at a tenth of the cost. A first
    sync sends 100,000 of these (tests/server/test_pull_serializer.py checks that the
    two agree)."""
    effective, expiry = row.effective_date, row.expiry_date
    return {
        "id": row.id,
        "title": row.title,
        "answer": row.answer,
        "category": row.category,
        "issuing_unit": row.issuing_unit,
        "kind": row.kind,
        "keywords": list(row.keywords or []),
        "scope": row.scope,
        "region": row.region,
        "matter_code": row.matter_code,
        "department": row.department,
        "service_type": row.service_type,
        "effective_date": effective.isoformat() if effective is not None else None,
        "expiry_date": expiry.isoformat() if expiry is not None else None,
        "version": row.version,
        "review_state": row.review_state,
        "source": row.source,
    }


SERIALIZERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    RecordKind.KNOWLEDGE_ENTRY: _knowledge_entry,
    RecordKind.MATTER_GUIDE: serialize.matter_guide,
    RecordKind.CALENDAR: serialize.calendar_year,
    RecordKind.AGENT: serialize.agent,
    RecordKind.SESSION: serialize.session,
    RecordKind.SESSION_NOTE: serialize.session_note,
    RecordKind.EVALUATION: serialize.evaluation,
}

EXTRA_LOADERS: dict[
    str,
    tuple[Callable[[DbSession, list[str]], dict[str, Any]], Callable[[Any], dict[str, Any]]],
] = {}
"""Loaders that later features register for their own kinds (walkthroughs, share links)."""

EXTRA_VISIBILITY: dict[str, Callable[[Any, CurrentUser], bool]] = {}
"""For kinds outside ``SESSION_KINDS`` whose rows only some users may see: checked on
every pull and every record a push answer returns (rectifications: the team's leads)."""


def _parent_session_id(kind: str, row: Any) -> str | None:
    if kind == RecordKind.SESSION:
        return str(row.id)
    return getattr(row, "session_id", None)


def pull(
    db: DbSession, user: CurrentUser, since: int, limit: int, known_horizon: int | None = None
) -> dict[str, Any]:
    """One page of changes after ``since`` that ``user`` may see.

    A cursor below the tombstone horizon may have missed a deletion, and is answered
    410, unless the client says (``known_horizon``, the ``horizon`` of its previous
    page) that it reached that cursor under the current horizon: a client downloading
    everything from 0 passes through such cursors, and it started after the tombstones
    were dropped, so it misses nothing.
    """
    if since < 0:
        raise ApiError(400, "bad_cursor", "同步游标无效")
    limit_horizon = horizon(db)
    if 0 < since < limit_horizon and known_horizon != limit_horizon:
        raise ApiError(
            410,
            "cursor_expired",
            "本地缓存过旧，服务器已清理其后的删除记录，需要重新下载全部数据",
        )
    top = watermark(db)
    if since > top:
        # The cursor comes from another database (a server restored from backup, say).
        raise ApiError(410, "cursor_expired", "服务器数据已重置，需要重新下载全部数据")
    rows = list(
        db.scalars(
            select(m.ChangeLog)
            .where(m.ChangeLog.seq > since, m.ChangeLog.seq <= top, change_filter(user))
            .order_by(m.ChangeLog.seq)
            .limit(limit + 1)
        )
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    # Only the newest row of an entity in this page matters: the data is read as it is now.
    latest: dict[tuple[str, str], m.ChangeLog] = {}
    for row in rows:
        latest.pop((row.kind, row.entity_id), None)
        latest[(row.kind, row.entity_id)] = row
    resolved = resolve(db, user, [(k, i) for k, i in latest])
    changes = []
    for (kind, entity_id), log in latest.items():
        data = None if log.deleted else resolved.get((kind, entity_id))
        changes.append(
            {"seq": log.seq, "kind": kind, "id": entity_id, "deleted": data is None, "data": data}
        )
    cursor = rows[-1].seq if has_more else max(top, since)
    return {"changes": changes, "cursor": cursor, "has_more": has_more, "horizon": limit_horizon}


def resolve(
    db: DbSession, user: CurrentUser, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The current wire data of each (kind, id) that ``user`` may see now."""
    by_kind: dict[str, list[str]] = {}
    for kind, entity_id in keys:
        by_kind.setdefault(kind, []).append(entity_id)
    loaded = {kind: _load(db, kind, ids) for kind, ids in by_kind.items()}
    parent_ids = {
        sid
        for kind in SESSION_KINDS - {RecordKind.SESSION}
        for r in loaded.get(kind, {}).values()
        if (sid := _parent_session_id(kind, r))
    }
    parent_ids -= set(loaded.get(RecordKind.SESSION, {}))
    parents: dict[str, m.Session] = {}
    if parent_ids:
        parents = {
            s.id: s for s in db.scalars(select(m.Session).where(m.Session.id.in_(parent_ids)))
        }
    parents.update(loaded.get(RecordKind.SESSION, {}))
    result: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, entity_id in keys:
        row = loaded.get(kind, {}).get(entity_id)
        if row is None:
            continue
        if kind in SESSION_KINDS:
            parent = parents.get(_parent_session_id(kind, row) or "")
            if parent is None or not session_visible(parent, user):
                continue
        elif kind in EXTRA_VISIBILITY and not EXTRA_VISIBILITY[kind](row, user):
            continue
        result[(kind, entity_id)] = _serialize(kind, row)
    return result


def records_for(
    db: DbSession, user: CurrentUser, keys: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Records in the shape of pulled changes (a tombstone where the user may not see it)."""
    resolved = resolve(db, user, keys)
    return [
        {"kind": k, "id": i, "deleted": (k, i) not in resolved, "data": resolved.get((k, i))}
        for k, i in dict.fromkeys(keys)
    ]
