"""Instant Chinese full-text search over the knowledge cache (DESIGN.md §8).

``KnowledgeSearch(sessions).search("社保", SearchFilters(department=…))`` returns a
:class:`SearchResult` of ranked, highlighted hits; :mod:`core.search.index` keeps the
FTS5 index in step with the ``knowledge`` table inside the cache's transactions.
"""

from core.search.engine import (
    Facets,
    KnowledgeSearch,
    SearchFilters,
    SearchHit,
    SearchResult,
    highlight_entry,
)
from core.search.text import Query, Span, parse_query, to_html

__all__ = [
    "Facets",
    "KnowledgeSearch",
    "Query",
    "SearchFilters",
    "SearchHit",
    "SearchResult",
    "Span",
    "highlight_entry",
    "parse_query",
    "to_html",
]
