"""Helpers shared by the walkthrough tests: a synced client, demo sessions, sample scripts."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.localstore.db import OpenedCache, open_cache
from core.localstore.store import LocalStore
from core.localstore.walkthroughs import WalkthroughStore
from sync.client import ApiClient, UserInfo
from sync.engine import SyncEngine
from tests.support import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "walkthroughs"


def demo_session_id(ref: str) -> str:
    """The id the demo seed gives session ``ref`` (e.g. ``S010``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{ref}"))


# S010: the demo agent's active 导办 session for 灵活就业人员参保登记 (韩先生).
AGENT_SESSION = demo_session_id("S010")


def save_shot(widget: Any, name: str) -> None:
    """Keep a screenshot when ``BANGBAN_SHOTS`` names a directory (as the share tests do)."""
    target = os.environ.get("BANGBAN_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(target) / name))


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def with_version(source: str, version: int, *, say_suffix: str = "") -> str:
    """The same script with another ``version`` (and optionally changed 话术)."""
    text = re.sub(r"^version: \d+$", f"version: {version}", source, count=1, flags=re.M)
    if say_suffix:
        text = re.sub(r"^(    say: .*)$", rf"\1{say_suffix}", text, count=1, flags=re.M)
    return text


@dataclass
class Client:
    """One signed-in client with its own cache file (one "machine")."""

    api: ApiClient
    user: UserInfo
    cache: OpenedCache
    store: LocalStore
    scripts: WalkthroughStore
    engine: SyncEngine

    def sync(self) -> None:
        self.engine.sync_blocking()

    def close(self) -> None:
        self.api.close()
        self.cache.engine.dispose()


def make_client(url: str, username: str, cache_path: Path) -> Client:
    api = ApiClient(url)
    user = api.login(username, DEMO_PASSWORD).user
    cache = open_cache(cache_path)
    store = LocalStore(cache.sessions)
    return Client(api, user, cache, store, WalkthroughStore(cache.sessions), SyncEngine(api, store))
