"""knowledge editing: drafts, versions, synonyms, resolved feedback (issue 15)

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-03 18:50:00

Entries still ``pending_review`` in ``knowledge_entries`` reached agents unmarked.
They move to ``knowledge_drafts`` as drafts under review, and each gets a tombstone
in the change log so that caches drop them at their next sync. Every published
entry gets its current version in ``knowledge_versions`` (reason 初始版本).
"""

import json
import uuid
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'knowledge_drafts',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('entry_id', sa.String(length=64), nullable=False),
        sa.Column('open_entry_id', sa.String(length=96), nullable=True),
        sa.Column('record_kind', sa.String(length=24), nullable=False,
                  server_default='knowledge_entry'),
        sa.Column('base_version', sa.Integer(), nullable=False),
        sa.Column('rev', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('editor_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('submitted_at', sa.DateTime(), nullable=True),
        sa.Column('reviewer_id', sa.Integer(), nullable=True),
        sa.Column('reviewed_at', sa.DateTime(), nullable=True),
        sa.Column('return_reason', sa.Text(), nullable=False),
        sa.Column('published_version', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['author_id'], ['users.id']),
        sa.ForeignKeyConstraint(['editor_id'], ['users.id']),
        sa.ForeignKeyConstraint(['reviewer_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('open_entry_id'),
    )
    op.create_index('ix_knowledge_drafts_entry_id', 'knowledge_drafts', ['entry_id'])
    op.create_index('ix_knowledge_drafts_state', 'knowledge_drafts', ['state'])
    op.create_table(
        'knowledge_versions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('entry_id', sa.String(length=96), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('title', sa.String(length=128), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('published_by', sa.Integer(), nullable=True),
        sa.Column('published_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['users.id']),
        sa.ForeignKeyConstraint(['published_by'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('entry_id', 'version', name='uq_knowledge_versions'),
    )
    op.create_index('ix_knowledge_versions_entry_id', 'knowledge_versions', ['entry_id'])
    op.create_table(
        'synonym_groups',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('terms', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('knowledge_feedback') as batch:
        batch.add_column(sa.Column('resolution', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('resolved_entry_id', sa.String(length=64), nullable=True))
        # resolution_note, resolved_by and resolved_at came with revision 0003.
    _move_pending_and_keep_versions()


_FIELDS = (
    'title', 'answer', 'category', 'issuing_unit', 'kind', 'keywords', 'scope', 'region',
    'matter_code', 'department', 'service_type', 'effective_date', 'expiry_date', 'source',
)


def _json(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return [value]
    return list(value or [])


def _day(value):
    if value is None:
        return None
    return value.isoformat() if hasattr(value, 'isoformat') else str(value)[:10]


def _move_pending_and_keep_versions() -> None:
    bind = op.get_bind()
    now = datetime.now()
    cols = ', '.join(('id', 'version', 'review_state', *_FIELDS))
    rows = bind.execute(sa.text(f"SELECT {cols} FROM knowledge_entries")).mappings().all()
    drafts = sa.table(
        'knowledge_drafts', *(sa.column(c) for c in (
            'id', 'entry_id', 'open_entry_id', 'base_version', 'rev', 'state', 'reason',
            'created_at', 'updated_at', 'submitted_at', 'return_reason',
        )), sa.column('data', sa.JSON())
    )
    versions = sa.table(
        'knowledge_versions',
        *(sa.column(c) for c in ('entry_id', 'version', 'action', 'title', 'reason', 'published_at')),
        sa.column('data', sa.JSON()),
    )
    pending, kept = [], []
    for row in rows:
        data = {f: row[f] for f in _FIELDS}
        data['keywords'] = _json(data['keywords'])
        data['effective_date'] = _day(data['effective_date'])
        data['expiry_date'] = _day(data['expiry_date'])
        if row['review_state'] != 'published':
            pending.append((row['id'], data))
        else:
            kept.append({
                'entry_id': row['id'], 'version': row['version'], 'action': 'publish',
                'title': row['title'], 'reason': '初始版本', 'published_at': now, 'data': data,
            })
    if kept:
        bind.execute(versions.insert(), kept)
    for entry_id, data in pending:
        bind.execute(drafts.insert().values(
            id=uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/draft/{entry_id}").hex,
            entry_id=entry_id, open_entry_id=entry_id, base_version=0, rev=1, state='review',
            data=data, reason='升级时仍待审核的条目', created_at=now, updated_at=now,
            submitted_at=now, return_reason='',
        ))
        bind.execute(sa.text("DELETE FROM knowledge_entries WHERE id = :id"), {'id': entry_id})
        seq = bind.execute(sa.text(
            "UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value"
        )).scalar()
        if seq is None:
            seq = 1
            bind.execute(sa.text("INSERT INTO counters (name, value) VALUES ('change_seq', 1)"))
        bind.execute(sa.text(
            "INSERT INTO change_log (seq, kind, entity_id, deleted, public, queue, at) "
            "VALUES (:seq, 'knowledge_entry', :id, :t, :t, :f, :at)"
        ), {'seq': seq, 'id': entry_id, 't': True, 'f': False, 'at': now})


def downgrade() -> None:
    with op.batch_alter_table('knowledge_feedback') as batch:
        for name in ('resolved_entry_id', 'resolution'):
            batch.drop_column(name)
    op.drop_table('synonym_groups')
    op.drop_index('ix_knowledge_versions_entry_id', table_name='knowledge_versions')
    op.drop_table('knowledge_versions')
    op.drop_index('ix_knowledge_drafts_state', table_name='knowledge_drafts')
    op.drop_index('ix_knowledge_drafts_entry_id', table_name='knowledge_drafts')
    op.drop_table('knowledge_drafts')
