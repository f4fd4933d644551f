"""The client's refresh token: kept in the OS keyring or a 0600 file, used to renew an
expired bearer token, and the way back online after an offline sign-in — never the
password."""

from __future__ import annotations

import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError, PasswordDeleteError
from sqlalchemy import select, update

from server import models as m
from sync.account import keep_refresh_tokens, open_account_cache, open_offline
from sync.client import ApiClient
from sync.credentials import CredentialStore
from sync.errors import AuthError
from tests.support import DEMO_PASSWORD, LiveServer


class MemoryKeyring(KeyringBackend):
    """A keyring backend that keeps secrets in a dict (the OS keyring's stand-in)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.secrets:
            raise PasswordDeleteError("not there")
        del self.secrets[(service, username)]


class LockedKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringError("the keychain is locked")

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringError("the keychain is locked")


def expire_tokens(server: LiveServer) -> None:
    with server.db() as db:
        db.execute(update(m.AuthToken).values(expires_at=datetime.now() - timedelta(seconds=1)))
        db.commit()


def test_without_a_keyring_the_token_goes_to_a_file_only_the_user_can_read(
    tmp_path: Path,
) -> None:
    store = CredentialStore(tmp_path / "creds.json", backend=None)
    store.save("http://s", "agent", "refresh-1")
    mode = stat.S_IMODE((tmp_path / "creds.json").stat().st_mode)
    assert mode == 0o600
    assert CredentialStore(tmp_path / "creds.json", backend=None).load("http://s", "agent") == (
        "refresh-1"
    )
    assert store.load("http://s", "lead") is None
    store.save("http://s", "agent", None)
    assert store.load("http://s", "agent") is None


def test_with_a_keyring_nothing_is_written_to_disk(tmp_path: Path) -> None:
    ring = MemoryKeyring()
    store = CredentialStore(tmp_path / "creds.json", backend=ring)
    store.save("http://s/", "agent", "refresh-2")
    assert ring.secrets == {("bangban-desk", "http://s|agent"): "refresh-2"}
    assert not (tmp_path / "creds.json").exists()
    assert store.load("http://s", "agent") == "refresh-2"
    store.forget("http://s", "agent")
    store.forget("http://s", "agent")  # twice is fine
    assert ring.secrets == {}


def test_a_keyring_that_fails_falls_back_to_the_file(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "creds.json", backend=LockedKeyring())
    store.save("http://s", "agent", "refresh-3")
    assert not store.uses_keyring
    assert store.load("http://s", "agent") == "refresh-3"
    assert stat.S_IMODE((tmp_path / "creds.json").stat().st_mode) == 0o600


def test_an_expired_token_is_renewed_with_the_refresh_token(
    live_server: LiveServer, tmp_path: Path
) -> None:
    store = CredentialStore(tmp_path / "creds.json", backend=MemoryKeyring())
    api = ApiClient(live_server.url)
    keep_refresh_tokens(api, live_server.url, "agent", store)
    api.login("agent", DEMO_PASSWORD)
    first = store.load(live_server.url, "agent")
    assert first and first == api.refresh_token
    old_token = api.token
    expire_tokens(live_server)
    assert api.me().username == "agent", "the 401 was answered by renewing, once"
    assert api.token != old_token
    assert store.load(live_server.url, "agent") not in (None, first), "the new one is kept"
    # Signing out ends both tokens on the server and forgets them here, even when the
    # bearer token has expired by then.
    expire_tokens(live_server)
    api.logout()
    with live_server.db() as db:
        alive = db.scalars(select(m.RefreshToken).where(m.RefreshToken.revoked_at.is_(None)))
        assert list(alive) == [], "every refresh token of the sign-in has ended"
    assert api.token is None and api.refresh_token is None
    assert store.load(live_server.url, "agent") is None
    with pytest.raises(AuthError):
        api.me()
    api.close()


def test_after_an_offline_sign_in_the_kept_token_signs_in_when_the_link_returns(
    live_server: LiveServer, tmp_path: Path
) -> None:
    store = CredentialStore(tmp_path / "creds.json", backend=None)
    api = ApiClient(live_server.url)
    keep_refresh_tokens(api, live_server.url, "agent", store)
    result = api.login("agent", DEMO_PASSWORD)
    cache, _store, _notices = open_account_cache(live_server.url, result.user, DEMO_PASSWORD)
    cache.engine.dispose()
    api.close()
    account = open_offline(live_server.url, "agent", DEMO_PASSWORD, store)
    try:
        assert account.offline and account.api.token is None
        renewed = account.api.refresh()  # what SyncController does when the link is back
        assert renewed.user.id == result.user.id and account.api.token
        assert store.load(live_server.url, "agent") == account.api.refresh_token
        assert account.api.me().username == "agent"
    finally:
        account.close()


def test_a_refresh_token_that_has_ended_asks_for_the_password(
    live_server: LiveServer, tmp_path: Path
) -> None:
    store = CredentialStore(tmp_path / "creds.json", backend=None)
    api = ApiClient(live_server.url)
    keep_refresh_tokens(api, live_server.url, "agent", store)
    api.login("agent", DEMO_PASSWORD)
    with live_server.db() as db:
        db.execute(update(m.RefreshToken).values(revoked_at=datetime.now()))
        db.commit()
    expire_tokens(live_server)
    with pytest.raises(AuthError) as err:
        api.me()
    assert "重新登录" in err.value.message
    assert api.refresh_token is None and store.load(live_server.url, "agent") is None
    api.close()
