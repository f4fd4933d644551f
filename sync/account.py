"""Signing in: online against the server, or offline with the cache of an earlier login."""

from __future__ import annotations

import hashlib
import json
import logging
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


def cache_path_for(server_url: str, username: str) -> Path:
    """One cache per server and user, so that two people on one PC never mix data."""
    digest = hashlib.sha256(f"{server_url.rstrip('/')}|{username}".encode()).hexdigest()[:16]
    return data_dir() / "caches" / f"{digest}.sqlite3"


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

    def close(self) -> None:
        self.api.close()
        self.cache.engine.dispose()


def open_account_cache(
    server_url: str, user: UserInfo, password: str | None, path: Path | None = None
) -> tuple[OpenedCache, LocalStore, list[str]]:
    """Open the user's cache and remember who signed in (run on the database worker)."""
    path = path or cache_path_for(server_url, user.username)
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
    if password is not None:
        store.set_meta(VERIFIER_KEY, make_verifier(password))
    return cache, store, notices


def keep_refresh_tokens(
    api: ApiClient, server_url: str, username: str, credentials: CredentialStore
) -> None:
    """Have every refresh token the server hands ``api`` kept in ``credentials``."""
    api.on_refresh_token = lambda token: credentials.save(server_url, username, token)


def has_offline_cache(server_url: str, username: str) -> bool:
    return cache_path_for(server_url, username).exists()


def open_offline(
    server_url: str, username: str, password: str, credentials: CredentialStore | None = None
) -> Account:
    """Open the cache of an earlier login, after checking the password against it. The
    refresh token kept by the last online login (if any) signs in when the link returns."""
    path = cache_path_for(server_url, username)
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
    return Account(server_url, user, api, cache, store, offline=True)
