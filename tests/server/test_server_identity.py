"""``server_id`` in the health check: made once, kept in ``meta`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

from server import models as m
from server.services.identity import ensure_server_id
from sync.client import ApiClient
from tests.support import LiveServer


def test_health_reports_the_server_id_kept_in_meta(live_server: LiveServer) -> None:
    api = ApiClient(live_server.url)
    first = api.health()["server_id"]
    assert str(uuid.UUID(first)) == first
    assert api.health()["server_id"] == first
    with live_server.db() as db:
        assert db.get(m.Meta, "server_id").value == first
    # Made once: asking again (a second process on the same database) reads it back.
    assert ensure_server_id(live_server.app.state.db) == first
