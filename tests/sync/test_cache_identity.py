"""The cache is keyed by the server's identity, and nothing queued is ever stranded
(issue 10): a real server, stopped and started again on another port."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from server import models as m
from sync.account import (
    SERVER_ID_KEY,
    cache_path_for,
    cache_path_for_server,
    describe_cache,
    open_account_cache,
    open_offline,
)
from sync.client import ApiClient
from sync.engine import SyncEngine
from tests.support import DEMO_PASSWORD, LiveServer, start_live_server


def sign_in(url: str, username: str = "agent"):  # type: ignore[no-untyped-def]
    api = ApiClient(url, timeout=(5.0, 15.0), total_timeout=30.0)
    return api, api.login(username, DEMO_PASSWORD)


def queue_note(url: str, text: str, **open_kwargs) -> tuple[str, Path]:  # type: ignore[no-untyped-def]
    """Sign in, download, queue one note without sending it; return (note id, cache)."""
    api, result = sign_in(url)
    cache, store, _ = open_account_cache(url, result.user, DEMO_PASSWORD, **open_kwargs)
    SyncEngine(api, store).sync_blocking()
    session = next(s for s in store.sessions() if s.assignee_id == result.user.id)
    note_id, _ = store.add_note(session.id, text, None)
    assert store.outbox_size() == 1
    api.close()
    cache.engine.dispose()
    return note_id, cache.path


def note_on_server(server: LiveServer, note_id: str) -> bool:
    with server.db() as db:
        return db.scalar(select(m.SessionNote.id).where(m.SessionNote.id == note_id)) is not None


def test_health_reports_a_server_id_fixed_for_the_database(server_db: str) -> None:
    first = start_live_server(server_db)
    try:
        server_id = ApiClient(first.url).health()["server_id"]
    finally:
        first.stop()
    assert len(server_id) == 36
    again = start_live_server(server_db)
    try:
        assert ApiClient(again.url).health()["server_id"] == server_id
        with again.db() as db:
            assert db.get(m.Meta, "server_id").value == server_id
    finally:
        again.stop()


def test_another_database_is_another_server(server_db: str, tmp_path: Path) -> None:
    other_path = tmp_path / "other.sqlite3"
    shutil.copy(server_db.removeprefix("sqlite:///"), other_path)
    one, two = start_live_server(server_db), start_live_server(f"sqlite:///{other_path}")
    try:
        assert ApiClient(one.url).health()["server_id"] != ApiClient(two.url).health()["server_id"]
    finally:
        one.stop()
        two.stop()


def test_a_server_on_another_port_finds_the_same_cache_and_sends_its_queue(
    server_db: str,
) -> None:
    first = start_live_server(server_db)
    try:
        _, result = sign_in(first.url)
        note_id, path = queue_note(first.url, "离线时记下的备注", server_id=result.server_id)
    finally:
        first.stop()
    assert path == cache_path_for_server(result.server_id, "agent")

    second = start_live_server(server_db)  # a free port: not the first one
    try:
        assert second.url != first.url
        api, again = sign_in(second.url)
        assert again.server_id == result.server_id
        cache, store, notices = open_account_cache(
            second.url, again.user, DEMO_PASSWORD, server_id=again.server_id
        )
        assert cache.path == path and store.outbox_size() == 1
        assert notices == []
        report = SyncEngine(api, store).sync_blocking()
        assert report.pushed == 1 and store.outbox_size() == 0
        assert note_on_server(second, note_id)
        cache.engine.dispose()
        api.close()
    finally:
        second.stop()


@pytest.mark.parametrize("known", ["remembered port", "any loopback port"])
def test_an_old_cache_keyed_by_the_old_address_hands_over_its_queue(
    server_db: str, known: str
) -> None:
    """The issue's case: the actions sat in the outbox of a cache named after the
    previous port; the app knows the port as one of the demo server's addresses (or,
    from a version that did not remember it, as a loopback address)."""
    first = start_live_server(server_db)
    try:
        note_id, old_path = queue_note(first.url, "上次端口下的备注")  # the old, URL-keyed name
    finally:
        first.stop()
    assert old_path == cache_path_for(first.url, "agent")
    assert describe_cache(old_path).server_id == ""

    second = start_live_server(server_db)
    try:
        api, result = sign_in(second.url)
        cache, store, notices = open_account_cache(
            second.url,
            result.user,
            DEMO_PASSWORD,
            server_id=result.server_id,
            aliases=[first.url] if known == "remembered port" else ["http://127.0.0.1:*"],
        )
        assert cache.path != old_path
        assert store.outbox_size() == 1
        assert any("找回 1 项" in n for n in notices)
        left = describe_cache(old_path)
        assert left.pending == 0 and left.server_id == result.server_id
        SyncEngine(api, store).sync_blocking()
        assert store.outbox_size() == 0
        assert note_on_server(second, note_id)
        cache.engine.dispose()
        api.close()
    finally:
        second.stop()


def test_an_old_cache_of_the_same_address_is_renamed(live_server: LiveServer) -> None:
    note_id, old_path = queue_note(live_server.url, "改名前的备注")
    api, result = sign_in(live_server.url)
    cache, store, _ = open_account_cache(
        live_server.url, result.user, DEMO_PASSWORD, server_id=result.server_id
    )
    assert cache.path == cache_path_for_server(result.server_id, "agent")
    assert not old_path.exists()
    assert store.outbox_size() == 1 and store.get_meta(SERVER_ID_KEY) == result.server_id
    SyncEngine(api, store).sync_blocking()
    assert note_on_server(live_server, note_id)
    cache.engine.dispose()
    api.close()


def test_every_other_cache_of_the_same_server_and_user_is_emptied_into_this_one(
    live_server: LiveServer,
) -> None:
    _, result = sign_in(live_server.url)
    stray = cache_path_for_server(result.server_id, "agent").with_name("copy.sqlite3")
    one, _ = queue_note(live_server.url, "副本里的备注", path=stray, server_id=result.server_id)
    # Opening twice: the second open finds nothing more to take over.
    api, result = sign_in(live_server.url)
    for expected in (1, 1):
        cache, store, _ = open_account_cache(
            live_server.url, result.user, DEMO_PASSWORD, server_id=result.server_id
        )
        assert store.outbox_size() == expected
        cache.engine.dispose()
    assert describe_cache(stray).pending == 0
    cache, store, _ = open_account_cache(
        live_server.url, result.user, DEMO_PASSWORD, server_id=result.server_id
    )
    SyncEngine(api, store).sync_blocking()
    assert note_on_server(live_server, one) and store.outbox_size() == 0
    cache.engine.dispose()
    api.close()


def test_the_queue_of_another_server_or_user_is_left_alone(
    live_server: LiveServer, server_db: str, tmp_path: Path
) -> None:
    other_db = tmp_path / "other-server.sqlite3"
    shutil.copy(server_db.removeprefix("sqlite:///"), other_db)
    other = start_live_server(f"sqlite:///{other_db}")
    try:
        _, theirs = sign_in(other.url)
        queue_note(other.url, "另一台服务器的备注", server_id=theirs.server_id)
    finally:
        other.stop()
    api, lead = sign_in(live_server.url, "lead")
    lead_cache, lead_store, _ = open_account_cache(
        live_server.url, lead.user, DEMO_PASSWORD, server_id=lead.server_id
    )
    SyncEngine(api, lead_store).sync_blocking()
    session = lead_store.sessions()[0]
    lead_store.add_note(session.id, "组长的备注", None)
    lead_cache.engine.dispose()
    api.close()

    api, result = sign_in(live_server.url)
    assert result.server_id != theirs.server_id
    cache, store, notices = open_account_cache(
        live_server.url, result.user, DEMO_PASSWORD, server_id=result.server_id
    )
    assert store.outbox_size() == 0 and notices == []
    assert describe_cache(cache_path_for_server(theirs.server_id, "agent")).pending == 1
    assert describe_cache(cache_path_for_server(lead.server_id, "lead")).pending == 1
    cache.engine.dispose()
    api.close()


def test_offline_sign_in_finds_the_cache_by_the_server_id_it_remembers(
    live_server: LiveServer,
) -> None:
    _note_id, path = queue_note(
        live_server.url, "离线登录前的备注", server_id=sign_in(live_server.url)[1].server_id
    )
    account = open_offline(live_server.url, "agent", DEMO_PASSWORD)
    try:
        assert account.cache.path == path and account.server_id
        assert account.store.outbox_size() == 1
    finally:
        account.close()
