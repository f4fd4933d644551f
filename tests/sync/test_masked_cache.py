"""The client cache never holds a caller's full number (issue 11, part 6): not after a
sync, not after the audited reveal, not after a session logged by hand has been sent;
and cache revision 0003 scrubs the numbers an older server had sent in clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select

from core.enums import Channel, ServiceType
from core.localstore.db import _engine, alembic_config, open_cache
from core.localstore.session_actions import NewSessionRequest, SessionActions
from core.localstore.store import LocalStore
from server import models as m
from tests.support import LiveServer
from tests.sync.conftest import Client, make_client
from tests.sync.test_session_actions import me_of, sid


@pytest.fixture(autouse=True)
def _no_auto_assign(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False


def cache_bytes(path: Path) -> bytes:
    """Every byte of the cache: the file, its write-ahead log and shared memory."""
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def server_numbers(live_server: LiveServer) -> dict[str, tuple[str, str]]:
    with live_server.db() as db:
        return {s.id: (s.caller_phone, s.caller_id_number) for s in db.scalars(select(m.Session))}


@pytest.mark.parametrize("username", ["agent", "lead"])
def test_no_full_number_reaches_the_cache_file(
    live_server: LiveServer, tmp_path: Path, username: str
) -> None:
    path = tmp_path / f"{username}.sqlite3"
    client: Client = make_client(live_server.url, path, username)
    try:
        client.engine.sync_blocking()
        cached = client.store.sessions()
        assert len(cached) >= 10
        numbers = server_numbers(live_server)
        # The cache shows the masked numbers, the same for every session.
        s010 = next(s for s in cached if s.id == sid("S010"))
        assert s010.caller_phone == "182****3770"
        if username == "agent":
            answer = client.api.post(f"/sessions/{sid('S010')}/reveal", {"field": "all"})
            assert answer["phone"] == numbers[sid("S010")][0]
            client.engine.sync_blocking()  # pulls the timeline entry of the reveal
            timeline = client.store.session(sid("S010")).timeline
            assert timeline[-1]["kind"] == "revealed"
        blob = cache_bytes(path)
        leaked = [
            n for s in cached for n in numbers.get(s.id, ("", "")) if n and n.encode() in blob
        ]
        assert leaked == []
    finally:
        client.close()


def test_a_number_typed_in_by_hand_leaves_the_cache_once_sent(
    live_server: LiveServer, tmp_path: Path
) -> None:
    path = tmp_path / "cache.sqlite3"
    client = make_client(live_server.url, path)
    try:
        client.engine.sync_blocking()
        actions = SessionActions(client.store, me_of(client))
        phone = "13913572468"
        result = actions.create(
            NewSessionRequest(
                channel=Channel.PHONE.value,
                service_type=ServiceType.CONSULT.value,
                caller_name="周先生",
                caller_phone=phone,
                summary="咨询公积金提取",
                take=True,
            )
        )
        # On screen and in the cached session: masked at once; the full number waits
        # only in the queued action, which the server needs.
        assert client.store.session(result.session_id).caller_phone == "139****2468"
        queued = client.store.pending_mutations()
        assert queued[-1].payload["caller_phone"] == phone
        client.engine.sync_blocking()
        assert client.store.outbox_size() == 0
        with live_server.db() as db:
            assert db.get(m.Session, result.session_id).caller_phone == phone
        # Neither the file nor its write-ahead log holds it once the push is answered.
        assert phone.encode() not in cache_bytes(path)
    finally:
        client.close()


def test_revision_0003_scrubs_numbers_an_older_server_sent(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    engine = _engine(path)
    command.upgrade(alembic_config(engine), "0002")
    phone, id_number = "18280813770", "320113198806194157"
    data = {
        "id": "s-old",
        "team_id": "team-zx",
        "state": "active",
        "service_type": "consult",
        "channel": "phone",
        "created_at": "2026-11-30T09:00:00",
        "caller_name": "王女士",
        "caller_phone": phone,
        "caller_id_number": id_number,
        "summary": "咨询",
        "timeline": [],
    }
    board = {"sessions": [dict(data, id="s-board")]}
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sessions (id, team_id, assignee_id, state, created_at, data, local) "
            "VALUES ('s-old', 'team-zx', 2, 'active', '2026-11-30 09:00:00', ?, 0)",
            (json.dumps(data, ensure_ascii=False),),
        )
        conn.exec_driver_sql(
            "INSERT INTO records (kind, id, parent_id, data) VALUES ('team_board', 'b', NULL, ?)",
            (json.dumps(board, ensure_ascii=False),),
        )
    engine.dispose()
    assert phone.encode() in cache_bytes(path)
    cache = open_cache(path)
    try:
        store = LocalStore(cache.sessions)
        s = store.session("s-old")
        assert s is not None
        assert (s.caller_phone, s.caller_id_number) == ("182****3770", "3201**********4157")
        assert store.records("team_board")[0]["sessions"][0]["caller_phone"] == "182****3770"
        assert s.caller_name == "王女士" and s.summary == "咨询"
    finally:
        cache.engine.dispose()
    blob = cache_bytes(path)
    assert phone.encode() not in blob and id_number.encode() not in blob
