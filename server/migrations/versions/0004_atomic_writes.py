"""atomic writes: one evaluation per session, one rectification per evaluation,
the walkthrough run's save number as a column, and the digest of each mutation

Revision ID: 0004
Revises: 0001
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _dedupe(conn: sa.Connection) -> None:
    """Keep the first evaluation of each session and the first rectification of each
    evaluation (duplicates were written by races the new constraints now prevent)."""
    rows = conn.execute(
        sa.text("SELECT id, session_id FROM evaluations ORDER BY created_at, id")
    ).all()
    kept: dict[str, str] = {}
    for evaluation_id, session_id in rows:
        if session_id not in kept:
            kept[session_id] = evaluation_id
            continue
        # A later duplicate: its rectification (if any) moves to the kept evaluation
        # unless that one has its own; then it goes with its evaluation.
        first = kept[session_id]
        has_own = conn.execute(
            sa.text("SELECT 1 FROM rectifications WHERE evaluation_id = :e"), {"e": first}
        ).first()
        if has_own:
            conn.execute(
                sa.text("DELETE FROM rectifications WHERE evaluation_id = :e"),
                {"e": evaluation_id},
            )
        else:
            conn.execute(
                sa.text("UPDATE rectifications SET evaluation_id = :f WHERE evaluation_id = :e"),
                {"f": first, "e": evaluation_id},
            )
        conn.execute(sa.text("DELETE FROM evaluations WHERE id = :e"), {"e": evaluation_id})
    seen: set[str] = set()
    for rid, evaluation_id in conn.execute(
        sa.text("SELECT id, evaluation_id FROM rectifications ORDER BY created_at, id")
    ).all():
        if evaluation_id in seen:
            conn.execute(sa.text("DELETE FROM rectifications WHERE id = :r"), {"r": rid})
        seen.add(evaluation_id)


def upgrade() -> None:
    conn = op.get_bind()
    _dedupe(conn)
    with op.batch_alter_table("applied_mutations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest", sa.String(length=64), nullable=True))
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_evaluations_session_id")
        batch_op.create_index("uq_evaluations_session_id", ["session_id"], unique=True)
    with op.batch_alter_table("rectifications", schema=None) as batch_op:
        batch_op.create_index("uq_rectifications_evaluation_id", ["evaluation_id"], unique=True)
    with op.batch_alter_table("walkthrough_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rev", sa.Integer(), nullable=False, server_default="0"))
    for run_id, state in conn.execute(sa.text("SELECT id, state FROM walkthrough_runs")).all():
        data = json.loads(state) if isinstance(state, str) else (state or {})
        rev = data.get("rev")
        if isinstance(rev, int) and not isinstance(rev, bool) and rev > 0:
            conn.execute(
                sa.text("UPDATE walkthrough_runs SET rev = :rev WHERE id = :id"),
                {"rev": rev, "id": run_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("walkthrough_runs", schema=None) as batch_op:
        batch_op.drop_column("rev")
    with op.batch_alter_table("rectifications", schema=None) as batch_op:
        batch_op.drop_index("uq_rectifications_evaluation_id")
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index("uq_evaluations_session_id")
        batch_op.create_index("ix_evaluations_session_id", ["session_id"], unique=False)
    with op.batch_alter_table("applied_mutations", schema=None) as batch_op:
        batch_op.drop_column("digest")
