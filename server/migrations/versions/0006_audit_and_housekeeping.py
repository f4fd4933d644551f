"""audit columns and indexes; indexes that housekeeping trims by

Revision ID: 0006
Revises: 0001
Create Date: 2026-12-03 17:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_ip", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.create_index("ix_audit_log_actor_id", ["actor_id"], unique=False)
        batch_op.create_index("ix_audit_log_action", ["action"], unique=False)
    # Housekeeping deletes by age: without these every chunk would scan the whole table.
    with op.batch_alter_table("applied_mutations", schema=None) as batch_op:
        batch_op.create_index("ix_applied_mutations_applied_at", ["applied_at"], unique=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_at", ["at"], unique=False)
    # Rows written before this revision kept the source address and reason in ``detail``.
    audit = sa.table(
        "audit_log",
        sa.column("id", sa.Integer),
        sa.column("detail", sa.JSON),
        sa.column("source_ip", sa.String),
        sa.column("reason", sa.Text),
    )
    conn = op.get_bind()
    for row_id, detail in conn.execute(sa.select(audit.c.id, audit.c.detail)).all():
        facts = dict(detail or {})
        if "source_ip" not in facts and "reason" not in facts:
            continue
        source_ip = facts.pop("source_ip", None)
        reason = facts.pop("reason", None)
        conn.execute(
            audit.update()
            .where(audit.c.id == row_id)
            .values(detail=facts, source_ip=source_ip, reason=reason)
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_at")
    with op.batch_alter_table("applied_mutations", schema=None) as batch_op:
        batch_op.drop_index("ix_applied_mutations_applied_at")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_action")
        batch_op.drop_index("ix_audit_log_actor_id")
        batch_op.drop_column("reason")
        batch_op.drop_column("source_ip")
