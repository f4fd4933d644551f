"""join holds: the held answers of a slowed address, shared by every server process

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:40:00

A slowed address (past its free wrong join codes) may have at most two answers held
at once. The count lived in each process's memory, so N workers held up to 2N; it is
now a row per slot, whose primary key refuses a third, whichever process asks.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'join_holds',
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('slot', sa.Integer(), nullable=False),
        sa.Column('until', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('address', 'slot'),
    )


def downgrade() -> None:
    op.drop_table('join_holds')
