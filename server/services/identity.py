"""The server's identity: a UUID made once and kept in the ``meta`` table.

``GET /api/v1/health`` reports it as ``server_id``; clients key their caches by it
(DESIGN.md §4), so a server that moves to another address or port keeps its
clients' caches, and two servers at one address never share one.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from server import models as m

SERVER_ID_KEY = "server_id"


def ensure_server_id(factory: sessionmaker[Session]) -> str:
    """The database's server id, made on first call; fixed for the database's life.

    Two processes starting on one database at once both try to insert; the loser
    reads the winner's.
    """
    with factory() as db:
        row = db.get(m.Meta, SERVER_ID_KEY)
        if row is not None:
            return row.value
        made = str(uuid.uuid4())
        db.add(m.Meta(key=SERVER_ID_KEY, value=made))
        try:
            db.commit()
            return made
        except IntegrityError:
            db.rollback()
    with factory() as db:
        row = db.get(m.Meta, SERVER_ID_KEY)
        assert row is not None
        return row.value
