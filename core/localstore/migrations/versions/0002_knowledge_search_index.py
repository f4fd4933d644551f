"""knowledge search index (FTS5, DESIGN.md §8)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 09:00:00
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The schema as of this revision (core.search.index may change later; this may not).
TITLE = "knowledge_title_fts"
BODY = "knowledge_body_fts"


def upgrade() -> None:
    op.execute(
        f"CREATE VIRTUAL TABLE {TITLE} USING fts5("
        "title, keywords, initials, facets, "
        "content='', detail=full, prefix='1', tokenize='ascii')"
    )
    op.execute(
        f"CREATE VIRTUAL TABLE {BODY} USING fts5("
        "text, content='', detail=none, prefix='1', tokenize='ascii')"
    )
    # Segments are merged after each sync round (core.search.index.maintain), not on
    # every commit, which makes the first download of 100,000 entries a third faster.
    for table in (TITLE, BODY):
        op.execute(f"INSERT INTO {table}({table}, rank) VALUES ('automerge', 0)")
        op.execute(f"INSERT INTO {table}({table}, rank) VALUES ('crisismerge', 64)")
    op.create_index("ix_knowledge_expiry", "knowledge", ["expiry_date"], unique=False)
    # The search pane's filter lists count entries per value after every sync.
    for column in ("department", "kind", "service_type"):
        op.create_index(f"ix_knowledge_{column}", "knowledge", [column], unique=False)

    # Entries cached before this revision are indexed now.
    from core.search.index import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    for column in ("department", "kind", "service_type"):
        op.drop_index(f"ix_knowledge_{column}", table_name="knowledge")
    op.drop_index("ix_knowledge_expiry", table_name="knowledge")
    op.execute(f"DROP TABLE IF EXISTS {BODY}")
    op.execute(f"DROP TABLE IF EXISTS {TITLE}")
