"""The pull's fast knowledge serializer sends exactly what ``serialize.knowledge_entry``
would: the same keys in the same order, the same values."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from server import models as m
from server import serialize
from server.db import make_engine, session_factory
from server.services import pull


def test_the_fast_serializer_matches_the_reference(server_db: str) -> None:
    engine = make_engine(server_db)
    try:
        with session_factory(engine)() as db:
            rows = list(db.scalars(select(m.KnowledgeEntry)))
            assert len(rows) > 100
            odd = rows[0]
            odd.keywords = None  # type: ignore[assignment]
            odd.expiry_date = date(2025, 1, 2)
            odd.effective_date = None
            for row in rows:
                fast = pull.SERIALIZERS["knowledge_entry"](row)
                reference = serialize.knowledge_entry(row)
                assert fast == reference
                assert list(fast) == list(reference)
            db.rollback()
    finally:
        engine.dispose()
