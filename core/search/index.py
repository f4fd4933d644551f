"""The full-text index of knowledge entries in the local cache, kept in step with the
``knowledge`` table inside the caller's transaction.

Two contentless FTS5 tables, so that no text is stored twice (the ``knowledge`` table
keeps the text; the index keeps only its pieces):

``knowledge_title_fts`` (title, keywords, initials, facets), ``detail=full``
    Small (titles are short) and exact: phrases, bm25 with the title weighted above
    keywords and pinyin initials. Searched first.
``knowledge_body_fts`` (text), ``detail=none``
    The whole entry (title, keywords, category, answer, department, issuing unit).
    Without positions it is about a third of the size of a positional index and
    builds twice as fast; a long term is matched as the AND of its pieces, and the
    search checks the text of the hits it shows.

Both carry facet tokens (department, matter, kind, service type) so that filters are
part of the match, and a one-character prefix index (every character starts a
piece) for one-character queries. A contentless table can only forget a row when
told its old pieces, so every change reads the old row first and re-derives them;
the pieces are a pure function of the row (see :mod:`core.search.text`). Changing
how text is cut into pieces therefore needs a cache migration that calls
:func:`rebuild`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session as DbSession

from core.entities import KnowledgeEntry
from core.search.text import initials_pieces, pieces

TITLE_FTS = "knowledge_title_fts"
BODY_FTS = "knowledge_body_fts"
PENDING_KEY = "search_index_unmerged"
GENERATION_KEY = "knowledge_generation"
"""Bumped by every change of the entries, so that readers can cache what they derive."""

COLUMNS = tuple(f.name for f in dataclasses.fields(KnowledgeEntry))
"""Columns of the ``knowledge`` table besides ``rowid``, in the wire order."""

# Columns the pieces are derived from (what a delete must re-derive).
_SOURCE_COLUMNS = (
    "title",
    "keywords",
    "category",
    "answer",
    "department",
    "issuing_unit",
    "matter_code",
    "kind",
    "service_type",
)

# -- facets ------------------------------------------------------------------------------

FACET_PREFIXES = {"department": "ffd", "matter_code": "ffm", "kind": "ffk", "service_type": "ffs"}


@functools.lru_cache(maxsize=4096)
def facet_token(field: str, value: str | None) -> str:
    """The index token of one filter value (``ffd`` + a short hash of the department
    …): plain letters and digits that no query term can produce by accident."""
    digest = hashlib.blake2b((value or "").encode("utf-8"), digest_size=6).hexdigest()
    return FACET_PREFIXES[field] + digest


def _facets(department: str, matter_code: str | None, kind: str, service_type: str) -> str:
    return " ".join(
        (
            facet_token("department", department),
            facet_token("matter_code", matter_code),
            facet_token("kind", kind),
            facet_token("service_type", service_type),
        )
    )


def _keywords(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return [str(v) for v in value or []]


def documents(
    title: str,
    keywords: Iterable[str],
    category: str,
    answer: str,
    department: str,
    issuing_unit: str,
    matter_code: str | None,
    kind: str,
    service_type: str,
) -> tuple[tuple[str, str, str, str], str]:
    """The title-index columns and the body-index text of one entry."""
    words = "\n".join(keywords)
    title_p = pieces(title)
    topic_p = pieces(f"{words}\n{category.replace('/', chr(10))}")
    facets = _facets(department, matter_code, kind, service_type)
    body = " ".join((title_p, topic_p, pieces(f"{answer}\n{department} {issuing_unit}"), facets))
    return (title_p, topic_p, initials_pieces(f"{title}\n{words}"), facets), body


# -- reading the wire shape -----------------------------------------------------------------

_FIELDS = {f.name: f for f in dataclasses.fields(KnowledgeEntry)}
_REQUIRED = tuple(
    name
    for name, f in _FIELDS.items()
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)
_DEFAULTS = {name: f.default for name, f in _FIELDS.items() if f.default is not dataclasses.MISSING}


def _wire_date(value: Any) -> str | None:
    """A wire date as the cache stores it (``YYYY-MM-DD``); raises ValueError when it
    is not a date."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(str(value)[:10]).isoformat()


def _row(item: KnowledgeEntry | Mapping[str, Any]) -> dict[str, Any]:
    """The stored values of one entry, from an entity or its wire shape (the same
    rules as ``KnowledgeEntry.from_wire``, without building the object: the first
    sync reads 100,000 of them)."""
    if isinstance(item, KnowledgeEntry):
        values = {name: getattr(item, name) for name in COLUMNS}
    else:
        missing = [name for name in _REQUIRED if name not in item]
        if missing:
            raise ValueError(f"KnowledgeEntry: missing field {missing[0]!r}")
        values = {name: item.get(name, _DEFAULTS.get(name)) for name in COLUMNS}
        if values["keywords"] is None:
            values["keywords"] = []
    values["effective_date"] = _wire_date(values["effective_date"])
    values["expiry_date"] = _wire_date(values["expiry_date"])
    values["keywords"] = list(values["keywords"])
    values["id"] = str(values["id"])
    return values


# -- writing --------------------------------------------------------------------------------


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def _chunks(items: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _forget(conn: Connection, ids: Sequence[str]) -> list[int]:
    """Remove the index rows of the entries ``ids`` (as they are stored now) and
    return their rowids."""
    rowids: list[int] = []
    title_rows: list[tuple[Any, ...]] = []
    body_rows: list[tuple[Any, ...]] = []
    cols = ", ".join(_SOURCE_COLUMNS)
    for chunk in _chunks(list(ids)):
        result = conn.exec_driver_sql(
            f"SELECT rowid, {cols} FROM knowledge WHERE id IN ({_placeholders(len(chunk))})",
            tuple(chunk),
        )
        for row in result:
            rowid, title, keywords, category, answer, dept, unit, matter, kind, stype = row
            title_cols, body = documents(
                title, _keywords(keywords), category, answer, dept, unit, matter, kind, stype
            )
            rowids.append(rowid)
            title_rows.append((rowid, *title_cols))
            body_rows.append((rowid, body))
    if title_rows:
        # FTS5 keeps pending rows in memory only while rowids rise: one that goes
        # down writes a segment out first. In rowid order, a page costs one segment.
        title_rows.sort()
        body_rows.sort()
        conn.exec_driver_sql(
            f"INSERT INTO {TITLE_FTS}({TITLE_FTS}, rowid, title, keywords, initials, facets) "
            "VALUES ('delete', ?, ?, ?, ?, ?)",
            title_rows,
        )
        conn.exec_driver_sql(
            f"INSERT INTO {BODY_FTS}({BODY_FTS}, rowid, text) VALUES ('delete', ?, ?)",
            body_rows,
        )
    return rowids


def _note_pending(conn: Connection, count: int) -> None:
    conn.exec_driver_sql(
        "INSERT INTO meta(key, value) VALUES (?, ?), (?, '1') "
        "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + excluded.value",
        (PENDING_KEY, str(count), GENERATION_KEY),
    )


def upsert_entries(
    db: DbSession | Connection, entries: Sequence[KnowledgeEntry | Mapping[str, Any]]
) -> None:
    """Insert or replace knowledge entries (entities or their wire shape) and their
    index rows, in the caller's transaction. The last of several versions of one id
    wins. Raises ValueError for an entry without an id, title or answer, or with a
    malformed date; the caller's transaction then rolls back."""
    conn = db.connection() if isinstance(db, DbSession) else db
    latest = {row["id"]: row for row in map(_row, entries)}
    if not latest:
        return
    existing = _forget(conn, list(latest))
    values = [
        tuple(
            json.dumps(row[c], ensure_ascii=False) if c == "keywords" else row[c] for c in COLUMNS
        )
        for row in latest.values()
    ]
    names = ", ".join(COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "id")
    conn.exec_driver_sql(
        f"INSERT INTO knowledge ({names}) VALUES ({_placeholders(len(COLUMNS))}) "
        f"ON CONFLICT(id) DO UPDATE SET {updates}",
        values,
    )
    rowid_of: dict[str, int] = {}
    ids = list(latest)
    for chunk in _chunks(ids):
        result = conn.exec_driver_sql(
            f"SELECT id, rowid FROM knowledge WHERE id IN ({_placeholders(len(chunk))})",
            tuple(chunk),
        )
        rowid_of.update({str(i): int(r) for i, r in result})
    title_rows = []
    body_rows = []
    for entry_id, row in latest.items():
        rowid = rowid_of[entry_id]
        title_cols, body = documents(
            row["title"],
            row["keywords"],
            row["category"],
            row["answer"],
            row["department"],
            row["issuing_unit"],
            row["matter_code"],
            row["kind"],
            row["service_type"],
        )
        title_rows.append((rowid, *title_cols))
        body_rows.append((rowid, body))
    title_rows.sort()  # rising rowids: see _forget
    body_rows.sort()
    conn.exec_driver_sql(
        f"INSERT INTO {TITLE_FTS}(rowid, title, keywords, initials, facets) VALUES (?, ?, ?, ?, ?)",
        title_rows,
    )
    conn.exec_driver_sql(f"INSERT INTO {BODY_FTS}(rowid, text) VALUES (?, ?)", body_rows)
    _note_pending(conn, len(values) + len(existing))


def delete_entries(db: DbSession | Connection, ids: Sequence[str]) -> None:
    """Delete knowledge entries and their index rows, in the caller's transaction."""
    conn = db.connection() if isinstance(db, DbSession) else db
    ids = list(dict.fromkeys(ids))
    if not ids:
        return
    rowids = _forget(conn, ids)
    for chunk in _chunks(rowids):
        conn.exec_driver_sql(
            f"DELETE FROM knowledge WHERE rowid IN ({_placeholders(len(chunk))})", tuple(chunk)
        )
    _note_pending(conn, len(rowids))


def clear(db: DbSession | Connection) -> None:
    """Delete every knowledge entry and empty the index."""
    conn = db.connection() if isinstance(db, DbSession) else db
    conn.exec_driver_sql("DELETE FROM knowledge")
    for table in (TITLE_FTS, BODY_FTS):
        conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('delete-all')")
    conn.exec_driver_sql("DELETE FROM meta WHERE key = ?", (PENDING_KEY,))
    _note_pending(conn, 0)


def rebuild(conn: Connection, batch: int = 2000) -> int:
    """Empty the index and index every stored entry again (migrations use it when the
    pieces change). Returns the number of entries indexed."""
    for table in (TITLE_FTS, BODY_FTS):
        conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('delete-all')")
    cols = ", ".join(_SOURCE_COLUMNS)
    rows = conn.exec_driver_sql(f"SELECT rowid, {cols} FROM knowledge ORDER BY rowid").fetchall()
    for chunk in _chunks(rows, batch):
        title_rows = []
        body_rows = []
        for row in chunk:
            rowid, title, keywords, category, answer, dept, unit, matter, kind, stype = row
            title_cols, body = documents(
                title, _keywords(keywords), category, answer, dept, unit, matter, kind, stype
            )
            title_rows.append((rowid, *title_cols))
            body_rows.append((rowid, body))
        conn.exec_driver_sql(
            f"INSERT INTO {TITLE_FTS}(rowid, title, keywords, initials, facets) "
            "VALUES (?, ?, ?, ?, ?)",
            title_rows,
        )
        conn.exec_driver_sql(f"INSERT INTO {BODY_FTS}(rowid, text) VALUES (?, ?)", body_rows)
    for table in (TITLE_FTS, BODY_FTS):
        conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('optimize')")
    return len(rows)


def maintain(db: DbSession | Connection, *, pages: int = 500) -> bool:
    """Merge some of the index segments that syncs have written; ``True`` while more
    merging remains. Call it repeatedly after a sync round, each call in its own
    transaction on the database worker: one call writes about ``pages`` pages (tens
    of milliseconds), so searches queued behind it never wait long, and after the
    first download of 100,000 entries the loop ends within a second with the index
    as fast as a full 'optimize' would leave it, in a third of the time."""
    conn = db.connection() if isinstance(db, DbSession) else db
    value = conn.exec_driver_sql("SELECT value FROM meta WHERE key = ?", (PENDING_KEY,)).scalar()
    if int(value or 0) <= 0:
        return False
    worked = False
    for table in (TITLE_FTS, BODY_FTS):
        before = conn.exec_driver_sql("SELECT total_changes()").scalar() or 0
        conn.exec_driver_sql(f"INSERT INTO {table}({table}, rank) VALUES ('merge', ?)", (pages,))
        after = conn.exec_driver_sql("SELECT total_changes()").scalar() or 0
        # The command itself counts as one change; more means segments were merged.
        worked = worked or after - before >= 2
    if not worked:
        conn.exec_driver_sql("DELETE FROM meta WHERE key = ?", (PENDING_KEY,))
    return worked


def integrity_check(db: DbSession | Connection) -> None:
    """Raise (a wrapped ``sqlite3.DatabaseError``) when an index's own structure is
    damaged. Contentless tables cannot be compared with the text by SQLite; tests
    compare them with a freshly built index instead."""
    conn = db.connection() if isinstance(db, DbSession) else db
    for table in (TITLE_FTS, BODY_FTS):
        conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
