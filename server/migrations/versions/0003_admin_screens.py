"""admin screens: the resolution of a knowledge feedback report

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-03 17:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_feedback", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("resolution_note", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("resolved_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("knowledge_feedback", schema=None) as batch_op:
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("resolution_note")
