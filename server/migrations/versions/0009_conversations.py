"""online consultation: messages, attachments, caller tokens, matter teams, abuse limits

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-03 18:45:00

Issue 13: the caller's conversation page and rating link (``caller_tokens``, digests
only), chat ``messages`` and their photo ``attachments``, the matter → team routing
(``matter_teams``), the per-address counts of the public routes
(``public_attempts``), and ``sessions.first_response_at``.
"""

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("first_response_at", sa.DateTime(), nullable=True))
    op.create_table(
        "matter_teams",
        sa.Column("matter_code", sa.String(64), primary_key=True),
        sa.Column("team_id", sa.String(64), sa.ForeignKey("teams.id"), nullable=False),
    )
    op.create_table(
        "caller_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("cookie_hash", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
    )
    op.create_index("ix_caller_tokens_session_id", "caller_tokens", ["session_id"])
    op.create_table(
        "messages",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_name", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attachment_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_messages_session_id", "messages", ["session_id"])
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_attachments_session_id", "attachments", ["session_id"])
    op.create_table(
        "public_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_public_attempts_kind_at", "public_attempts", ["kind", "at"])
    op.create_index(
        "ix_public_attempts_address_kind_at", "public_attempts", ["address", "kind", "at"]
    )


def downgrade() -> None:
    op.drop_table("public_attempts")
    op.drop_table("attachments")
    op.drop_table("messages")
    op.drop_table("caller_tokens")
    op.drop_table("matter_teams")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("first_response_at")
