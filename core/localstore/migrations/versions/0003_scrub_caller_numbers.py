"""scrub callers' full numbers from cached sessions and records (issue 11)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 18:00:00

Servers before issue 11 sent callers' full phone and ID numbers in every pull; the
cache kept them in clear. From now on it keeps masked numbers only (the full number
comes from the audited reveal, in memory). Queued actions in the outbox are left as
they are: a session logged by hand still has to reach the server with its number.
"""

import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# The masking rules as of this revision (core.masking may change later; this may not).
def _mask(value: object, keep_head: int) -> object:
    if not isinstance(value, str) or not value:
        return value
    text = value.strip()
    if len(text) <= keep_head + 4:
        return "*" * len(text)
    return text[:keep_head] + "*" * (len(text) - keep_head - 4) + text[-4:]


_FIELDS = {"caller_phone": 3, "caller_id_number": 4}
_LOOKS_FULL = re.compile(r"\d{7,}")


def _scrub(data: object) -> tuple[object, bool]:
    """Mask caller numbers anywhere in a JSON value; True when something changed."""
    changed = False
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key in _FIELDS and isinstance(value, str) and _LOOKS_FULL.search(value):
                out[key] = _mask(value, _FIELDS[key])
                changed = True
            else:
                out[key], inner = _scrub(value)
                changed = changed or inner
        return out, changed
    if isinstance(data, list):
        items = []
        for value in data:
            item, inner = _scrub(value)
            items.append(item)
            changed = changed or inner
        return items, changed
    return data, False


def _scrub_table(conn: sa.Connection, table: str, keys: list[str]) -> None:
    rows = conn.execute(sa.text(f"SELECT {', '.join(keys)}, data FROM {table}")).all()
    for row in rows:
        raw = row[-1]
        try:
            data = json.loads(raw) if isinstance(raw, str | bytes) else raw
        except ValueError:
            continue
        scrubbed, changed = _scrub(data)
        if not changed:
            continue
        where = " AND ".join(f"{k} = :{k}" for k in keys)
        params = {k: row[i] for i, k in enumerate(keys)}
        conn.execute(
            sa.text(f"UPDATE {table} SET data = :data WHERE {where}"),
            {**params, "data": json.dumps(scrubbed, ensure_ascii=False)},
        )


def upgrade() -> None:
    conn = op.get_bind()
    _scrub_table(conn, "sessions", ["id"])
    _scrub_table(conn, "records", ["kind", "id"])
    # The cache's connections run with secure_delete, so the old bytes do not linger in
    # free pages; core.localstore.db.migrate truncates the write-ahead log afterwards.


def downgrade() -> None:
    pass  # the full numbers are gone; a downgrade keeps the masked ones
