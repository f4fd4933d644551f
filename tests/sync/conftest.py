"""Fixtures of the sync tests: a real server, the fault proxy in front of it, and a
client (API client, real cache file, engine) that talks through the proxy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.localstore.db import OpenedCache, open_cache
from core.localstore.store import LocalStore
from sync.client import ApiClient
from sync.engine import SyncEngine
from tests.faultproxy import FaultProxy
from tests.support import DEMO_PASSWORD, LiveServer


@dataclass
class Client:
    """One signed-in client: its API client, cache, store and engine."""

    api: ApiClient
    cache: OpenedCache
    store: LocalStore
    engine: SyncEngine
    username: str

    def close(self) -> None:
        self.api.close()
        self.cache.engine.dispose()


@pytest.fixture
def proxy(live_server: LiveServer) -> Iterator[FaultProxy]:
    with FaultProxy(live_server.url) as running:
        yield running


def make_client(
    url: str, cache_path: Path, username: str = "agent", page_limit: int = 50
) -> Client:
    # Short timeouts: a test that waits on a held connection fails fast, not in minutes.
    api = ApiClient(url, timeout=(5.0, 15.0), total_timeout=30.0)
    api.login(username, DEMO_PASSWORD)
    cache = open_cache(cache_path)
    store = LocalStore(cache.sessions)
    return Client(api, cache, store, SyncEngine(api, store, page_limit=page_limit), username)


@pytest.fixture
def client(proxy: FaultProxy, tmp_path: Path) -> Iterator[Client]:
    made = make_client(proxy.url, tmp_path / "cache.sqlite3")
    yield made
    made.close()
