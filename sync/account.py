"""Signing in: online against the server, or offline with the cache of an earlier login."""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from core.localstore.db import OpenedCache, open_cache
from core.localstore.store import LocalStore
from core.offline_login import check_verifier, make_verifier
from core.settings import data_dir
from sync.client import ApiClient, UserInfo
from sync.credentials import CredentialStore
from sync.errors import AuthError

log = logging.getLogger(__name__)

USER_KEY = "user"
VERIFIER_KEY = "offline_verifier"
SERVER_KEY = "server_url"
SERVER_ID_KEY = "server_id"


def caches_dir() -> Path:
    return data_dir() / "caches"


def cache_path_for_server(server_id: str, username: str) -> Path:
    """One cache per server and user, so that two people on one PC never mix data.

    Keyed by the server's identity (``server_id`` of its health check), not its
    address: the embedded demo server on another port, or a server moved to a new
    address, keeps its caches.
    """
    digest = hashlib.sha256(f"server_id:{server_id}|{username}".encode()).hexdigest()[:16]
    return caches_dir() / f"{digest}.sqlite3"


def cache_path_for(server_url: str, username: str) -> Path:
    """The old cache name, keyed by the server's address: still used for a server that
    reports no ``server_id``, and found and renamed (see :func:`open_account_cache`)."""
    digest = hashlib.sha256(f"{server_url.rstrip('/')}|{username}".encode()).hexdigest()[:16]
    return caches_dir() / f"{digest}.sqlite3"


@dataclass(frozen=True)
class CacheFile:
    """What a cache file says about itself (read without migrating or locking it)."""

    path: Path
    username: str
    user_id: int | None
    server_id: str
    server_url: str
    pending: int


def describe_cache(path: Path) -> CacheFile | None:
    """Read a cache's user, server and outbox size; None for a file that is not one."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        pending = int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
        user = json.loads(meta.get(USER_KEY) or "{}")
    except (sqlite3.Error, ValueError, TypeError):
        return None
    finally:
        conn.close()
    if not isinstance(user, dict):
        return None
    user_id = user.get("id")
    return CacheFile(
        path,
        str(user.get("username") or ""),
        int(user_id) if isinstance(user_id, int) else None,
        str(meta.get(SERVER_ID_KEY) or ""),
        str(meta.get(SERVER_KEY) or "").rstrip("/"),
        pending,
    )


def known_caches() -> list[CacheFile]:
    found = []
    for path in sorted(caches_dir().glob("*.sqlite3")):
        described = describe_cache(path)
        if described is not None:
            found.append(described)
    return found


def _same_server(
    cache: CacheFile, server_id: str, server_url: str, aliases: Iterable[str] = ()
) -> bool:
    """Whether ``cache`` was filled from this server: the same ``server_id``, or (a cache
    from before server ids) one of the addresses this server has had (``aliases`` may
    hold ``*`` patterns: ``http://127.0.0.1:*`` for the embedded demo server, whose
    port changed at every start before it remembered it)."""
    if cache.server_id:
        return cache.server_id == server_id
    urls = [server_url.rstrip("/"), *(a.rstrip("/") for a in aliases)]
    return any(fnmatch.fnmatchcase(cache.server_url, u) for u in urls)


def _move_cache(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        old = source.with_name(source.name + suffix)
        if old.exists():
            old.replace(target.with_name(target.name + suffix))


@dataclass
class Account:
    """Everything a signed-in window needs."""

    server_url: str
    user: UserInfo
    api: ApiClient
    cache: OpenedCache
    store: LocalStore
    offline: bool = False
    notices: list[str] = field(default_factory=list)
    # No password here: an expired token is renewed with the refresh token the ApiClient
    # holds (kept in the OS keyring by sync.credentials), also when the link returns.
    server_id: str = ""

    def close(self) -> None:
        self.api.close()
        self.cache.engine.dispose()


def open_account_cache(
    server_url: str,
    user: UserInfo,
    password: str | None,
    path: Path | None = None,
    *,
    server_id: str = "",
    aliases: Iterable[str] = (),
) -> tuple[OpenedCache, LocalStore, list[str]]:
    """Open the user's cache and remember who signed in (run on the database worker).

    With ``server_id`` the cache is the one of that server and user, wherever the
    server is now; a cache of the old address-keyed name is renamed to it. Then every
    other cache of the same user and server (``aliases``: earlier addresses of this
    server, for caches from before server ids) hands over its unsent actions.
    """
    server_url = server_url.rstrip("/")
    if path is None:
        if server_id:
            path = cache_path_for_server(server_id, user.username)
            if not path.exists():
                _adopt_legacy_cache(path, server_id, server_url, user, aliases)
        else:
            path = cache_path_for(server_url, user.username)
    cache = open_cache(path)
    notices = []
    if cache.moved_aside is not None:
        notices.append(
            f"本地缓存文件已损坏，已移至 {cache.moved_aside.name}，将从服务器重新下载数据。"
        )
    store = LocalStore(cache.sessions)
    stored = store.get_meta(USER_KEY)
    if stored and json.loads(stored).get("id") != user.id:
        # The same username now names another account on the server: start afresh.
        store.reset()
    store.set_meta(USER_KEY, json.dumps(user.__dict__, ensure_ascii=False))
    store.set_meta(SERVER_KEY, server_url)
    if server_id:
        store.set_meta(SERVER_ID_KEY, server_id)
    if password is not None:
        store.set_meta(VERIFIER_KEY, make_verifier(password))
    if server_id:
        recovered = recover_stranded(store, path, server_id, server_url, user, aliases)
        if recovered:
            notices.append(f"已找回 {recovered} 项此前未上传的操作，将随本次同步上传。")
    return cache, store, notices


def keep_refresh_tokens(
    api: ApiClient, server_url: str, username: str, credentials: CredentialStore
) -> None:
    """Have every refresh token the server hands ``api`` kept in ``credentials``."""
    api.on_refresh_token = lambda token: credentials.save(server_url, username, token)


def _adopt_legacy_cache(
    path: Path, server_id: str, server_url: str, user: UserInfo, aliases: Iterable[str]
) -> None:
    """Rename the address-keyed cache of this server and user to its server-id name."""
    legacy = cache_path_for(server_url, user.username)
    described = describe_cache(legacy) if legacy.exists() else None
    if (
        described is not None
        and described.user_id == user.id
        and _same_server(described, server_id, server_url, aliases)
    ):
        log.info("cache %s is now keyed by server id: %s", legacy.name, path.name)
        _move_cache(legacy, path)


def recover_stranded(
    store: LocalStore,
    own_path: Path,
    server_id: str,
    server_url: str,
    user: UserInfo,
    aliases: Iterable[str] = (),
) -> int:
    """Take over the unsent actions of every other cache of this user and server.

    They are queued here first (same mutation ids, so a copy the server already has
    is answered ``duplicate``), then dropped from the old cache: a crash in between
    leaves them in both, which is harmless. Returns how many were taken over.
    """
    aliases = list(aliases)
    taken = 0
    for other in known_caches():
        if other.path.resolve() == own_path.resolve() or other.pending == 0:
            continue
        if other.username != user.username or other.user_id != user.id:
            continue
        if not _same_server(other, server_id, server_url, aliases):
            continue
        opened = open_cache(other.path)
        try:
            if opened.moved_aside is not None:
                continue
            old = LocalStore(opened.sessions)
            items = old.pending_mutations(limit=1_000_000)
            added = store.adopt_outbox(items)
            old.drop_outbox(i.mutation_id for i in items)
            if not other.server_id:
                with contextlib.suppress(Exception):
                    old.set_meta(SERVER_ID_KEY, server_id)
            log.info(
                "took over %d unsent actions (%d new) from cache %s",
                len(items),
                added,
                other.path.name,
            )
            taken += added
        finally:
            opened.engine.dispose()
    return taken


def server_id_for(server_url: str, username: str) -> str:
    """The server id a cache of ``username`` remembers for ``server_url`` ("" if none):
    how an offline sign-in finds the cache without asking the server."""
    url = server_url.rstrip("/")
    for cache in known_caches():
        if cache.username == username and cache.server_url == url and cache.server_id:
            return cache.server_id
    return ""


def offline_cache_path(server_url: str, username: str) -> Path:
    server_id = server_id_for(server_url, username)
    if server_id:
        return cache_path_for_server(server_id, username)
    return cache_path_for(server_url, username)


def has_offline_cache(server_url: str, username: str) -> bool:
    return offline_cache_path(server_url, username).exists()


def open_offline(
    server_url: str, username: str, password: str, credentials: CredentialStore | None = None
) -> Account:
    """Open the cache of an earlier login, after checking the password against it. The
    refresh token kept by the last online login (if any) signs in when the link returns."""
    path = offline_cache_path(server_url, username)
    if not path.exists():
        raise AuthError("本机没有该用户的离线缓存，请联网登录")
    cache = open_cache(path)
    if cache.moved_aside is not None:
        raise AuthError("本机的离线缓存已损坏，请联网登录后重新下载")
    store = LocalStore(cache.sessions)
    if not check_verifier(store.get_meta(VERIFIER_KEY), password):
        cache.engine.dispose()
        raise AuthError("用户名或密码错误")
    raw = store.get_meta(USER_KEY)
    if not raw:
        cache.engine.dispose()
        raise AuthError("离线缓存中没有登录信息，请联网登录")
    user = UserInfo(**json.loads(raw))
    api = ApiClient(server_url)
    if credentials is not None:
        api.refresh_token = credentials.load(server_url, username)
        keep_refresh_tokens(api, server_url, username, credentials)
    server_id = store.get_meta(SERVER_ID_KEY) or ""
    notices = []
    if server_id:
        recovered = recover_stranded(store, path, server_id, server_url, user)
        if recovered:
            notices.append(f"已找回 {recovered} 项此前未上传的操作，联网后一并上传。")
    return Account(
        server_url,
        user,
        api,
        cache,
        store,
        offline=True,
        notices=notices,
        server_id=server_id,
    )
