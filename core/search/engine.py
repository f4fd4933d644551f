"""Searching the knowledge cache: ranked, filtered, highlighted, expired entries last.

A search runs in two stages so that its cost does not grow with the size of the
cache, whatever the query:

1. the **title index** (titles, keywords, category, pinyin initials) is matched and
   ranked by bm25 with the title weighted above keywords and initials;
2. only when the titles give fewer hits than asked for, the **body index** (the whole
   entry) is matched for the rest, ranked by bm25 below every title hit.

For very common pieces (办理 is in nearly every answer) ranking every match would
cost tens of milliseconds, so each stage ranks at most ``cap`` matches, taken newest
first, and counts at most ``count_cap``; results then say "more than". Expired
entries are moved after every valid one. Filters are facet tokens inside the match
(see :mod:`core.search.index`), so a filter makes a search cheaper, not dearer.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from core.entities import KnowledgeEntry
from core.search.index import BODY_FTS, COLUMNS, GENERATION_KEY, TITLE_FTS, facet_token
from core.search.text import (
    Query,
    Span,
    Term,
    find_spans,
    loose_spans,
    normalize,
    parse_query,
    pinyin_spans,
    snippet,
    to_html,
)

TITLE_WEIGHTS = (10.0, 5.0, 4.0, 0.0)
SENTENCE_CAP = 200
"""Entries a typed sentence ranks by how much of it they match (titles first)."""
"""bm25 weights of the title index columns: title, keywords+category, initials, facets."""

# Words that make a typed question a sentence; a long term is split at them when
# nothing matches it whole (社保卡丢了怎么补办 → 社保卡丢 / 补办).
_FILLERS = re.compile(
    "怎么办|怎么样|怎么|怎样|如何|什么|为什么|哪些|哪里|哪儿|哪个|多少|多久|多长时间|"
    "是否|能否|可不可以|能不能|要不要|需不需要|有没有|可以|需要|请问|我想|我要|一下|"
    "[吗呢吧啊呀了的么我你他她在和与及或]"
)


@dataclass(frozen=True)
class SearchFilters:
    """Narrow a search to one department, matter, kind (材料性质) or service type."""

    department: str | None = None
    matter_code: str | None = None
    kind: str | None = None
    service_type: str | None = None

    def tokens(self) -> list[str]:
        return [
            facet_token(name, value)
            for name, value in (
                ("department", self.department),
                ("matter_code", self.matter_code),
                ("kind", self.kind),
                ("service_type", self.service_type),
            )
            if value
        ]

    def __bool__(self) -> bool:
        return bool(self.department or self.matter_code or self.kind or self.service_type)


@dataclass(frozen=True)
class SearchHit:
    """One entry found, with where the query matched it.

    ``title_spans`` and ``snippet_spans`` are ``(start, end)`` character ranges of
    ``entry.title`` and ``snippet`` to highlight; ``in_title`` says the title,
    keywords or pinyin initials matched (such hits rank first); ``exact`` is false when
    the pieces of a long term were found apart rather than together.
    """

    entry: KnowledgeEntry
    expired: bool
    in_title: bool
    exact: bool
    score: float
    title_spans: tuple[Span, ...]
    snippet: str
    snippet_spans: tuple[Span, ...]

    def title_html(self) -> str:
        return to_html(self.entry.title, list(self.title_spans))

    def snippet_html(self) -> str:
        return to_html(self.snippet, list(self.snippet_spans))


@dataclass(frozen=True)
class SearchResult:
    """The hits of one search, best first, and how many entries match in all.

    ``total_capped`` means ``total`` is a lower bound (the count stopped there);
    ``relaxed`` means nothing matched the query as typed, and these hits match its
    main words.
    """

    text: str
    filters: SearchFilters
    hits: tuple[SearchHit, ...]
    total: int
    total_capped: bool = False
    relaxed: bool = False
    elapsed_ms: float = 0.0
    expansions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Synonyms (同义词与俗称) that found hits: query term → the equivalents that matched."""


@dataclass(frozen=True)
class Facets:
    """The filter values present in the cache, with how many entries have each."""

    departments: list[tuple[str, int]] = field(default_factory=list)
    kinds: list[tuple[str, int]] = field(default_factory=list)
    service_types: list[tuple[str, int]] = field(default_factory=list)
    matters: list[tuple[str, str, int]] = field(default_factory=list)
    """(code, name, count); the name is the code when the guide is not cached."""


@dataclass
class _Candidate:
    rowid: int
    score: float
    in_title: bool
    expired: bool


class KnowledgeSearch:
    """Search over one cache. Call from the database worker (it opens its own
    sessions); results are plain values."""

    def __init__(
        self,
        sessions: sessionmaker[DbSession],
        *,
        cap: int = 600,
        count_cap: int = 1000,
        synonyms: bool = True,
        sentences: bool = True,
    ) -> None:
        """``synonyms`` and ``sentences`` (matching most of a typed sentence) can be
        turned off, to measure what they add (``bench/sentence_queries.py``)."""
        self._sessions = sessions
        self.use_synonyms = synonyms
        self.use_sentences = sentences
        self.cap = cap
        self.count_cap = count_cap
        self._expired_key: tuple[date, str] | None = None
        self._expired: frozenset[int] = frozenset()
        self._synonyms_raw: str = ""
        self._synonym_groups: list[tuple[str, ...]] = []

    # -- public API ---------------------------------------------------------------------

    def search(
        self,
        text: str,
        filters: SearchFilters | None = None,
        *,
        limit: int = 50,
        today: date | None = None,
        typing: bool = True,
    ) -> SearchResult:
        """Entries matching ``text`` (and ``filters``), best first.

        ``typing`` treats the last Latin word as a prefix, for results as you type.
        An empty ``text`` lists the newest entries that pass the filters.
        """
        started = time.perf_counter()
        filters = filters or SearchFilters()
        today = today or date.today()
        query = parse_query(text, typing=typing)
        with self._sessions() as db:
            conn = _raw(db)
            expired = self._expired_rowids(conn, today)
            if not query:
                hits, total, capped = self._browse(conn, filters, limit, expired, today)
                return SearchResult(text, filters, hits, total, capped, False, _ms(started))
            hits, total, capped = self._run(conn, query, filters, limit, expired, today)
            relaxed = False
            expansions: dict[str, tuple[str, ...]] = {}
            if len(hits) < limit and self.use_synonyms:
                hits, total, expansions = self._expand(
                    conn, text, query, filters, limit, expired, today, hits, total, typing
                )
            if not hits and query.has_long_cjk:
                loose = self._relax(conn, query)
                if loose is not None:
                    hits, total, capped = self._run(
                        conn, loose, filters, limit, expired, today, highlight_as=query
                    )
                    relaxed = bool(hits)
            if self.use_sentences and len(hits) < min(limit, 5) and _sentence(query):
                more = self._most_of(conn, query, filters, limit, expired, today, hits)
                if more:
                    hits = hits + more
                    total = max(total, len(hits))
                    relaxed = True
        return SearchResult(text, filters, hits, total, capped, relaxed, _ms(started), expansions)

    def entries_of_matter(
        self, matter_code: str, *, today: date | None = None
    ) -> list[KnowledgeEntry]:
        """The knowledge entries of one matter, valid ones first, by title."""
        today = today or date.today()
        with self._sessions() as db:
            rows = _raw(db).execute(
                f"SELECT rowid, {', '.join(COLUMNS)} FROM knowledge WHERE matter_code = ?",
                (matter_code,),
            )
            entries = [_entry(row) for row in rows]
        entries.sort(key=lambda e: (e.is_expired(today), e.title))
        return entries

    def facets(self) -> Facets:
        """Departments, kinds, service types and matters in the cache, with counts
        (a scan of the table: call it after a sync, not on every keystroke)."""
        with self._sessions() as db:
            conn = _raw(db)

            def grouped(column: str) -> list[tuple[str, int]]:
                rows = conn.execute(
                    f"SELECT {column}, count(*) FROM knowledge "
                    f"WHERE {column} IS NOT NULL AND {column} != '' "
                    f"GROUP BY {column} ORDER BY count(*) DESC, {column}"
                )
                return [(str(v), int(n)) for v, n in rows]

            names = dict(conn.execute("SELECT code, name FROM matters").fetchall())
            matters = [(code, names.get(code, code), n) for code, n in grouped("matter_code")]
            matters.sort(key=lambda m: m[1])
            return Facets(grouped("department"), grouped("kind"), grouped("service_type"), matters)

    # -- stages -------------------------------------------------------------------------

    def _run(
        self,
        conn: sqlite3.Connection,
        query: Query,
        filters: SearchFilters,
        limit: int,
        expired: frozenset[int],
        today: date,
        *,
        highlight_as: Query | None = None,
    ) -> tuple[tuple[SearchHit, ...], int, bool]:
        facets = filters.tokens()
        title_expr = query.title_match("title keywords", "initials")
        if facets:
            title_expr = f"({title_expr}) AND " + " AND ".join(f'facets : "{t}"' for t in facets)
        body_expr = _body_match(query, facets)

        title_rows = self._ranked(
            conn,
            f"SELECT rowid, bm25({TITLE_FTS}, {', '.join(map(str, TITLE_WEIGHTS))}) "
            f"FROM {TITLE_FTS} WHERE {TITLE_FTS} MATCH ? ORDER BY rowid DESC LIMIT ?",
            title_expr,
        )
        title_count = len(title_rows)
        if title_count >= self.cap:
            title_count = self._count(conn, TITLE_FTS, title_expr, cap=None)
        candidates = [_Candidate(r, s, True, r in expired) for r, s in title_rows]
        seen = {c.rowid for c in candidates}
        valid_titles = sum(1 for c in candidates if not c.expired)
        body_count = self._count(conn, BODY_FTS, body_expr, cap=self.count_cap)
        if valid_titles < limit and body_count > 0:
            body_rows = self._ranked(
                conn,
                f"SELECT rowid, bm25({BODY_FTS}) FROM {BODY_FTS} "
                f"WHERE {BODY_FTS} MATCH ? ORDER BY rowid DESC LIMIT ?",
                body_expr,
            )
            candidates += [
                _Candidate(r, s, False, r in expired) for r, s in body_rows if r not in seen
            ]
        # Valid before expired; within each, title hits before body hits, by bm25
        # (smaller is better in FTS5).
        candidates.sort(key=lambda c: (c.expired, not c.in_title, c.score))
        chosen = candidates[: max(limit, 0)]
        entries = self._fetch(conn, [c.rowid for c in chosen])
        mark = highlight_as or query
        hits = [_hit(entries[c.rowid], c, mark, query, today) for c in chosen if c.rowid in entries]
        # A body hit whose long term was found only in pieces goes after the exact ones.
        hits.sort(key=lambda h: (h.expired, not h.in_title, not h.exact))
        total = max(title_count, body_count)
        capped = body_count >= self.count_cap
        return tuple(hits), total, capped

    def _browse(
        self,
        conn: sqlite3.Connection,
        filters: SearchFilters,
        limit: int,
        expired: frozenset[int],
        today: date,
    ) -> tuple[tuple[SearchHit, ...], int, bool]:
        if filters:
            expr = _body_match(Query(""), filters.tokens())
            rows = conn.execute(
                f"SELECT rowid FROM {BODY_FTS} WHERE {BODY_FTS} MATCH ? "
                "ORDER BY rowid DESC LIMIT ?",
                (expr, self.cap),
            ).fetchall()
            total = self._count(conn, BODY_FTS, expr, cap=self.count_cap)
            capped = total >= self.count_cap
        else:
            rows = conn.execute(
                "SELECT rowid FROM knowledge ORDER BY rowid DESC LIMIT ?", (limit + 200,)
            ).fetchall()
            total = int(conn.execute("SELECT count(*) FROM knowledge").fetchone()[0])
            capped = False
        candidates = [_Candidate(int(r[0]), 0.0, False, int(r[0]) in expired) for r in rows]
        candidates.sort(key=lambda c: c.expired)
        chosen = candidates[:limit]
        entries = self._fetch(conn, [c.rowid for c in chosen])
        empty = Query("")
        hits = tuple(
            _hit(entries[c.rowid], c, empty, empty, today) for c in chosen if c.rowid in entries
        )
        return hits, total, capped

    def _relax(self, conn: sqlite3.Connection, query: Query) -> Query | None:
        """A looser query for a question typed as a sentence: long terms split at
        question words, keeping the two-character pieces that some title contains.
        ``None`` when too little of the question would be left to mean the same."""
        terms: list[Term] = []
        candidates = kept = 0
        for term in query.terms:
            if not (term.cjk and len(term.text) >= 3):
                terms.append(term)
                continue
            for part in _FILLERS.split(term.text):
                for i in range(len(part) - 1):
                    piece = part[i : i + 2]
                    candidates += 1
                    found = conn.execute(
                        f"SELECT 1 FROM {TITLE_FTS} WHERE {TITLE_FTS} MATCH ? LIMIT 1",
                        (f'{{title keywords}} : "{piece}"',),
                    ).fetchone()
                    if found:
                        kept += 1
                        terms.append(Term(piece, True))
        terms = list(dict.fromkeys(terms))
        if not terms or tuple(terms) == query.terms or kept * 2 < candidates:
            return None
        return Query(query.raw, tuple(terms))

    # -- synonyms and sentences -----------------------------------------------------------

    def _synonyms(self, conn: sqlite3.Connection) -> list[tuple[str, ...]]:
        """The synced groups of equivalent terms (record kind ``synonyms``), longest
        terms first so that 住房公积金 is replaced before 公积金."""
        row = conn.execute("SELECT data FROM records WHERE kind = 'synonyms' LIMIT 1").fetchone()
        raw = row[0] if row else ""
        if raw != self._synonyms_raw:
            groups: list[tuple[str, ...]] = []
            try:
                data = json.loads(raw) if raw else {}
            except ValueError:
                data = {}
            for group in data.get("groups", []) if isinstance(data, dict) else []:
                terms = tuple(normalize(str(t)) for t in group if str(t).strip())
                if len(terms) >= 2:
                    groups.append(terms)
            self._synonyms_raw, self._synonym_groups = raw, groups
        return self._synonym_groups

    def _expand(
        self,
        conn: sqlite3.Connection,
        text: str,
        query: Query,
        filters: SearchFilters,
        limit: int,
        expired: frozenset[int],
        today: date,
        hits: tuple[SearchHit, ...],
        total: int,
        typing: bool,
    ) -> tuple[tuple[SearchHit, ...], int, dict[str, tuple[str, ...]]]:
        """Hits of the query with one synonym put in place of a term it contains (at
        most 6 variants), after the hits of the query as typed."""
        groups = self._synonyms(conn)
        if not groups:
            return hits, total, {}
        folded = normalize(text)
        variants: list[tuple[str, str, str]] = []
        for group in groups:
            for term in sorted(group, key=len, reverse=True):
                if term and term in folded:
                    for other in group:
                        if other != term and other not in folded:
                            variants.append((term, other, folded.replace(term, other)))
                    break
        found: dict[str, list[str]] = {}
        seen = {h.entry.id for h in hits}
        merged = list(hits)
        for term, other, variant in variants[:6]:
            more, count, _capped = self._run(
                conn, parse_query(variant, typing=typing), filters, limit, expired, today
            )
            fresh = [h for h in more if h.entry.id not in seen]
            if fresh:
                found.setdefault(term, []).append(other)
                seen.update(h.entry.id for h in fresh)
                merged.extend(fresh)
                total += count
        merged.sort(key=lambda h: (h.expired, not h.in_title))
        return tuple(merged[: max(limit, 0)]), total, {k: tuple(v) for k, v in found.items()}

    def _most_of(
        self,
        conn: sqlite3.Connection,
        query: Query,
        filters: SearchFilters,
        limit: int,
        expired: frozenset[int],
        today: date,
        hits: tuple[SearchHit, ...],
    ) -> tuple[SearchHit, ...]:
        """A sentence typed as the caller said it: entries matching most of its pieces
        (any of them, at least half of the distinct ones that some entry contains),
        ranked by the share matched, then by bm25 over the titles."""
        pieces: list[str] = []
        for term in query.terms:
            parts = _FILLERS.split(term.text) if term.cjk else [term.text]
            for part in parts:
                if term.cjk:
                    pieces += [part[i : i + 2] for i in range(len(part) - 1)]
                elif part:
                    pieces.append(part)
        pieces = list(dict.fromkeys(pieces))
        for group in self._synonyms(conn):
            for word in group:
                if any(word == p or (len(word) == 2 and word in p) for p in pieces):
                    pieces += [g for g in group if len(g) == 2 and g not in pieces]
        useful = [p for p in pieces if self._count(conn, BODY_FTS, f'"{p}"', cap=1)]
        if not useful:
            return ()
        facets = filters.tokens()
        facet_expr = "".join(f' AND facets : "{t}"' for t in facets)
        # Titles and keywords first (a small index, ranked cheaply); the whole text only
        # when no title has any of the pieces.
        expr = "{title keywords} : (" + " OR ".join(f'"{p}"' for p in useful) + ")" + facet_expr
        weights = ", ".join(map(str, TITLE_WEIGHTS))
        rows = [
            (int(r), float(sc))
            for r, sc in conn.execute(
                f"SELECT rowid, bm25({TITLE_FTS}, {weights}) FROM {TITLE_FTS} "
                f"WHERE {TITLE_FTS} MATCH ? ORDER BY rank LIMIT ?",
                (expr, SENTENCE_CAP),
            )
        ]
        if not rows:
            body = "(" + " OR ".join(f'"{p}"' for p in useful) + ")"
            body += "".join(f' AND "{t}"' for t in facets)
            rows = [
                (int(r), float(sc))
                for r, sc in conn.execute(
                    f"SELECT rowid, bm25({BODY_FTS}) FROM {BODY_FTS} WHERE {BODY_FTS} MATCH ? "
                    "ORDER BY rowid DESC LIMIT ?",
                    (body, SENTENCE_CAP),
                )
            ]
        known = {h.entry.id for h in hits}
        entries = self._fetch(conn, [r for r, _ in rows])
        need = max(2, (len(useful) + 1) // 2) if len(useful) > 2 else 1
        scored: list[tuple[bool, float, float, int]] = []
        for rowid, score in rows:
            entry = entries.get(rowid)
            if entry is None or entry.id in known:
                continue
            title = normalize(entry.title + " " + " ".join(entry.keywords))
            body = normalize(entry.answer)
            matched = sum(1 for p in useful if p in title or p in body)
            in_title = sum(1 for p in useful if p in title)
            if matched < need:
                continue
            share = (matched + in_title) / (2 * len(useful))
            scored.append((rowid in expired, -share, score, rowid))
        scored.sort()
        mark = Query(query.raw, tuple(Term(p, True) for p in useful))
        out = []
        for is_expired, share, score, rowid in scored[: max(limit - len(hits), 0)]:
            cand = _Candidate(rowid, score, False, is_expired)
            hit = _hit(entries[rowid], cand, mark, mark, today)
            out.append(dataclasses.replace(hit, exact=False, score=share))
        return tuple(out)

    # -- helpers -------------------------------------------------------------------------

    def _ranked(self, conn: sqlite3.Connection, sql: str, expr: str) -> list[tuple[int, float]]:
        return [(int(r), float(s)) for r, s in conn.execute(sql, (expr, self.cap))]

    @staticmethod
    def _count(conn: sqlite3.Connection, table: str, expr: str, *, cap: int | None) -> int:
        if cap is None:
            sql = f"SELECT count(*) FROM {table} WHERE {table} MATCH ?"
            return int(conn.execute(sql, (expr,)).fetchone()[0])
        sql = f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ? LIMIT ?)"
        return int(conn.execute(sql, (expr, cap)).fetchone()[0])

    def _expired_rowids(self, conn: sqlite3.Connection, today: date) -> frozenset[int]:
        """Rowids of entries past their expiry date, cached until the entries change."""
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (GENERATION_KEY,)).fetchone()
        generation = row[0] if row else ""
        key = (today, str(generation))
        if key != self._expired_key:
            rows = conn.execute(
                "SELECT rowid FROM knowledge WHERE expiry_date < ?", (today.isoformat(),)
            )
            self._expired = frozenset(int(r[0]) for r in rows)
            self._expired_key = key
        return self._expired

    @staticmethod
    def _fetch(conn: sqlite3.Connection, rowids: Sequence[int]) -> dict[int, KnowledgeEntry]:
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        rows = conn.execute(
            f"SELECT rowid, {', '.join(COLUMNS)} FROM knowledge WHERE rowid IN ({marks})",
            tuple(rowids),
        )
        return {int(row[0]): _entry(row) for row in rows}


# -- module helpers ---------------------------------------------------------------------


def _raw(db: DbSession) -> sqlite3.Connection:
    """The session's DB-API connection: a search reads hundreds of (rowid, score)
    rows, and SQLAlchemy's per-row work would cost more than SQLite's."""
    connection = db.connection().connection.driver_connection
    assert isinstance(connection, sqlite3.Connection)
    return connection


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _sentence(query: Query) -> bool:
    """Typed as the caller said it: six or more Chinese characters with question words
    (我妈快八十了能领什么钱), not a short phrase such as 公积金提取."""
    text = "".join(t.text for t in query.terms if t.cjk)
    return len(text) >= 6 and _FILLERS.search(text) is not None


def _body_match(query: Query, facets: Sequence[str]) -> str:
    """The body index has no positions: a long term is the AND of its pieces."""
    parts = [e for term in query.terms for e in term.loose()]
    parts += [f'"{t}"' for t in facets]
    return " AND ".join(parts)


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _entry(row: Any) -> KnowledgeEntry:
    values = dict(zip(COLUMNS, row[1:], strict=True))
    keywords = values["keywords"]
    values["keywords"] = json.loads(keywords) if isinstance(keywords, str) else list(keywords)
    values["effective_date"] = _date(values["effective_date"])
    values["expiry_date"] = _date(values["expiry_date"])
    return KnowledgeEntry(**values)


def _is_exact(entry: KnowledgeEntry, query: Query) -> bool:
    long_terms = [t.text for t in query.terms if t.cjk and len(t.text) >= 3]
    if not long_terms:
        return True
    text = normalize(
        " ".join((entry.title, " ".join(entry.keywords), entry.category, entry.answer))
    )
    return all(t in text for t in long_terms)


def _hit(
    entry: KnowledgeEntry, cand: _Candidate, mark: Query, query: Query, today: date
) -> SearchHit:
    exact = _is_exact(entry, mark)
    title_spans, answer_spans = highlight_entry(entry, mark, exact=exact)
    text, spans = snippet(entry.answer, answer_spans)
    return SearchHit(
        entry=entry,
        expired=entry.is_expired(today),
        in_title=cand.in_title,
        exact=exact,
        score=cand.score,
        title_spans=tuple(title_spans),
        snippet=text,
        snippet_spans=tuple(spans),
    )


def highlight_entry(
    entry: KnowledgeEntry, query: Query | str, *, exact: bool | None = None
) -> tuple[list[Span], list[Span]]:
    """Spans to highlight in ``entry.title`` and ``entry.answer`` for ``query``."""
    if isinstance(query, str):
        query = parse_query(query)
    if not query:
        return [], []
    if exact is None:
        exact = _is_exact(entry, query)
    if exact:
        title = find_spans(entry.title, query.needles())
        answer = find_spans(entry.answer, query.needles())
    else:
        title = loose_spans(entry.title, query)
        answer = loose_spans(entry.answer, query)
    letters = query.pinyin_needles()
    if letters:
        title = sorted(set(title) | set(pinyin_spans(entry.title, letters)))
    return title, answer
