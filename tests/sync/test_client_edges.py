"""Edges of the HTTP client and the engine against servers that misbehave: a body that
trickles for ever, a stalled body, answers of the wrong shape, a cursor that goes back,
a push answer that answers nothing; and the server's gzip request guard."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from core.localstore.db import open_cache
from core.localstore.store import CURSOR, LocalStore
from sync.client import ApiClient
from sync.engine import SyncEngine
from sync.errors import BadResponse, Refused, ServerBusy, ServerUnreachable
from tests.support import DEMO_PASSWORD, CannedServer, LiveServer


class SlowServer:
    """Sends a 200 head, then the body one byte at a time (``gap`` apart), for ever —
    or stalls after the head when ``gap`` is None."""

    def __init__(self, gap: float | None) -> None:
        self.gap = gap
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[")
                while not self.stop.is_set():
                    if self.gap is None:
                        self.stop.wait(0.1)
                        continue
                    try:
                        conn.sendall(b" ")
                    except OSError:
                        break
                    self.stop.wait(self.gap)

    def __enter__(self) -> SlowServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    cache = open_cache(tmp_path / "cache.sqlite3")
    yield LocalStore(cache.sessions)
    cache.engine.dispose()


def canned(body: object, status: int = 200) -> CannedServer:
    return CannedServer(status, json.dumps(body).encode(), "application/json")


def test_a_body_that_trickles_for_ever_is_cut_off_by_the_call_deadline() -> None:
    with SlowServer(gap=0.02) as slow:
        api = ApiClient(slow.url, timeout=(2.0, 2.0), total_timeout=0.5)
        with pytest.raises(ServerUnreachable) as caught:
            api.get("/anything")
        assert caught.value.code == "timeout" and "超时" in caught.value.message


def test_a_body_that_stalls_hits_the_read_timeout() -> None:
    with SlowServer(gap=None) as slow:
        api = ApiClient(slow.url, timeout=(2.0, 0.3), total_timeout=60)
        with pytest.raises(ServerUnreachable) as caught:
            api.get("/anything")
        assert caught.value.code == "timeout"


def test_408_is_retried_like_a_busy_server() -> None:
    with CannedServer(408, b"<html>timeout</html>") as server:
        with pytest.raises(ServerBusy) as caught:
            ApiClient(server.url).get("/anything")
        assert caught.value.status == 408


def test_a_page_with_data_of_the_wrong_shape_is_refused_before_it_is_applied() -> None:
    page = {
        "changes": [{"seq": 1, "kind": "session", "id": "s1", "deleted": False, "data": "x"}],
        "cursor": 1,
        "has_more": False,
    }
    with canned(page) as server, pytest.raises(BadResponse):
        ApiClient(server.url).changes(0)


def test_a_cursor_that_goes_back_is_never_stored(store: LocalStore) -> None:
    store.set_meta(CURSOR, "40")
    back = canned({"changes": [], "cursor": 12, "has_more": False})
    with back as server, pytest.raises(BadResponse):
        SyncEngine(ApiClient(server.url), store).sync_blocking()
    assert store.cursor() == 40


def test_a_page_that_promises_more_without_moving_on_stops_the_round(store: LocalStore) -> None:
    store.set_meta(CURSOR, "40")
    stuck = canned({"changes": [], "cursor": 40, "has_more": True})
    with stuck as server, pytest.raises(BadResponse):
        SyncEngine(ApiClient(server.url), store).sync_blocking()
    assert store.cursor() == 40


def test_a_record_the_cache_cannot_read_leaves_the_page_unapplied(store: LocalStore) -> None:
    page = {
        "changes": [
            {"seq": 1, "kind": "calendar", "id": "2026", "deleted": False, "data": {"year": 2026}},
            {"seq": 2, "kind": "matter_guide", "id": "m1", "deleted": False, "data": {"x": 1}},
        ],
        "cursor": 2,
        "has_more": False,
    }
    with canned(page) as server, pytest.raises(BadResponse) as caught:
        SyncEngine(ApiClient(server.url), store).sync_blocking()
    assert "有误" in caught.value.message
    assert store.cursor() == 0 and store.calendar_years() == []


def test_a_push_answer_that_answers_nothing_keeps_the_outbox(store: LocalStore) -> None:
    store.add_knowledge_feedback(None, "new_question", "公积金贷款额度怎么算？")
    (queued,) = store.pending_mutations()
    answer = {"results": [{"mutation_id": queued.mutation_id, "status": "pending"}]}
    with canned(answer) as server, pytest.raises(BadResponse):
        SyncEngine(ApiClient(server.url), store).sync_blocking()
    (kept,) = store.pending_mutations()
    assert kept.mutation_id == queued.mutation_id and kept.attempts == 1


def test_a_404_from_a_gateway_keeps_the_outbox(store: LocalStore) -> None:
    store.add_knowledge_feedback(None, "new_question", "医保异地备案需要什么材料？")
    with canned({"detail": "没有这个地址"}, status=404) as server, pytest.raises(Refused):
        SyncEngine(ApiClient(server.url), store).sync_blocking()
    assert store.outbox_size() == 1 and store.open_problems() == []


def test_the_server_refuses_a_gzip_bomb_and_a_truncated_body(live_server: LiveServer) -> None:
    url = f"{live_server.url}/api/v1/sync/mutations"
    api = ApiClient(live_server.url)
    api.login("agent", DEMO_PASSWORD)
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "Authorization": f"Bearer {api.token}",
    }
    api.close()
    bomb = gzip.compress(b" " * (40 * 1024 * 1024))
    assert len(bomb) < 100_000
    answer = requests.post(url, data=bomb, headers=headers, timeout=30)
    assert answer.status_code == 413 and answer.json()["detail"].startswith("请求内容过大")
    whole = gzip.compress(json.dumps({"mutations": []}).encode() * 50)
    answer = requests.post(url, data=whole[: len(whole) // 2], headers=headers, timeout=30)
    assert answer.status_code == 400 and "压缩格式" in answer.json()["detail"]
