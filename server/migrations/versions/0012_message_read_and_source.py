"""message read and source: when the caller saw a staff message, which entry it quoted

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:40:00

``read_at`` is set when the caller's page receives a staff message (the console shows
已读); ``knowledge_id`` names the knowledge entry a message quoted (sent from the
suggestions or the knowledge pane), so the answer given can be traced to its text;
``kind`` is ``notice`` for a walkthrough's 一次性告知 (the caller's page offers it as a
printable page), else null (plain text).
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('read_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('knowledge_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('kind', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('kind')
        batch.drop_column('knowledge_id')
        batch.drop_column('read_at')
