"""events numbered at commit from a counter row (commit order across processes)

Revision ID: 0007
Revises: 0001
Create Date: 2026-12-03 17:40:00

Events used to take an autoincrement id at insert, so on PostgreSQL an event whose
transaction committed after a later-numbered one was skipped by pollers. From here
on ``server/services/events.py`` numbers them at commit from the ``event_seq`` row
of ``counters`` (locked until the commit), like the change log's ``change_seq``.
Presence needs no new table: ``users.presence`` and ``users.last_seen_at`` are the
shared truth, written with conditional updates.
"""

from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO counters (name, value) "
        "SELECT 'event_seq', COALESCE(MAX(id), 0) FROM events "
        "WHERE NOT EXISTS (SELECT 1 FROM counters WHERE name = 'event_seq')"
    )
    if op.get_bind().dialect.name == "postgresql":
        # Nothing may number an event but the counter.
        op.execute("ALTER TABLE events ALTER COLUMN id DROP DEFAULT")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE IF NOT EXISTS events_id_seq OWNED BY events.id")
        op.execute("SELECT setval('events_id_seq', GREATEST((SELECT MAX(id) FROM events), 1))")
        op.execute("ALTER TABLE events ALTER COLUMN id SET DEFAULT nextval('events_id_seq')")
    op.execute("DELETE FROM counters WHERE name = 'event_seq'")
