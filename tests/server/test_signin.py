"""Sign-in (issue 11 part 5): throttling per username and per address kept in the
database, the same cost for unknown and known names, sign-out, rotating refresh tokens,
revocation, and the audit trail (never a password)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import select, update

from server import models as m
from server.auth import revoke_user_tokens
from tests.share_support import user_id
from tests.support import DEMO_PASSWORD, LiveServer


def login(
    server: LiveServer, username: str, password: str, address: str | None = None
) -> requests.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return requests.post(
        f"{server.url}/api/v1/auth/login",
        json={"username": username, "password": password},
        headers=headers,
        timeout=20,
    )


def me(server: LiveServer, token: str) -> int:
    return requests.get(
        f"{server.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


def refresh(server: LiveServer, token: str) -> requests.Response:
    return requests.post(
        f"{server.url}/api/v1/auth/refresh", json={"refresh_token": token}, timeout=10
    )


@pytest.fixture
def proxied(live_server_with: Callable[..., LiveServer]) -> LiveServer:
    """A server behind a (loopback) reverse proxy: X-Forwarded-For names the caller."""
    return live_server_with(trusted_proxies="127.0.0.1")


def unblock(server: LiveServer) -> None:
    with server.db() as db:
        db.execute(
            update(m.SigninThrottle).values(blocked_until=datetime.now() - timedelta(seconds=1))
        )
        db.commit()


# -- throttling ------------------------------------------------------------------------------


def test_five_wrong_passwords_then_429_with_retry_after(proxied: LiveServer) -> None:
    for _ in range(5):
        assert login(proxied, "agent", "wrong-password", "203.0.113.1").status_code == 401
    blocked = login(proxied, "agent", "wrong-password", "203.0.113.1")
    assert blocked.status_code == 429 and "次数过多" in blocked.json()["detail"]
    assert int(blocked.headers["Retry-After"]) >= 1
    # The right password is not even checked while the name is blocked, from anywhere.
    assert login(proxied, "agent", DEMO_PASSWORD, "198.51.100.2").status_code == 429
    with proxied.db() as db:
        row = db.get(m.SigninThrottle, "user:agent")
        assert row is not None and row.failures == 5 and row.blocked_until > datetime.now()
    # The delay grows with each further failure.
    unblock(proxied)
    assert login(proxied, "agent", "wrong-again", "203.0.113.1").status_code == 401
    again = login(proxied, "agent", "wrong-again", "203.0.113.1")
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) > int(blocked.headers["Retry-After"])
    # Once the delay is over the right password gets in and clears the name's count.
    unblock(proxied)
    assert login(proxied, "agent", DEMO_PASSWORD, "198.51.100.2").status_code == 200
    with proxied.db() as db:
        assert db.get(m.SigninThrottle, "user:agent") is None


def test_one_address_trying_many_names_is_slowed_too(proxied: LiveServer) -> None:
    for name in ("a1", "a2", "a3", "agent", "lead"):
        assert login(proxied, name, "guess-123", "203.0.113.50").status_code == 401
    assert login(proxied, "wangfang", "guess-123", "203.0.113.50").status_code == 429
    # Another address is not held up by it.
    assert login(proxied, "wangfang", DEMO_PASSWORD, "198.51.100.9").status_code == 200


def test_the_count_is_shared_by_every_server_process(
    live_server_with: Callable[..., LiveServer],
) -> None:
    """Two servers on one database (as several worker processes are): failures spread
    over both still block the name on both."""
    first = live_server_with()
    second = live_server_with()
    for server in (first, second, first, second, first):
        assert login(server, "lead", "nope-nope").status_code == 401
    assert login(second, "lead", "nope-nope").status_code == 429
    assert login(first, "lead", DEMO_PASSWORD).status_code == 429


def test_unknown_names_cost_as_much_as_known_ones(proxied: LiveServer) -> None:
    def timed(username: str, n: int) -> float:
        took = []
        for i in range(n):
            started = time.perf_counter()
            answer = login(proxied, username, "wrong-password", f"192.0.2.{i + 1}")
            took.append(time.perf_counter() - started)
            assert answer.status_code == 401
            assert answer.json()["detail"] == "用户名或密码错误"
        return statistics.median(took)

    timed("agent", 1)  # warm up (the dummy hash is made on first use)
    known = timed("agent", 4)
    unknown = timed("nobody-by-this-name", 4)
    assert unknown > known * 0.5, f"unknown {unknown * 1000:.0f} ms vs known {known * 1000:.0f} ms"


# -- tokens ----------------------------------------------------------------------------------


def test_logout_ends_the_token_and_the_refresh_token(live_server: LiveServer) -> None:
    signed = login(live_server, "agent", DEMO_PASSWORD).json()
    bearer, refresh_token = signed["access_token"], signed["refresh_token"]
    assert me(live_server, bearer) == 200
    out = requests.post(
        f"{live_server.url}/api/v1/auth/logout",
        json={"refresh_token": refresh_token},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )
    assert out.status_code == 204
    assert me(live_server, bearer) == 401
    assert refresh(live_server, refresh_token).status_code == 401


def test_refresh_rotates_and_a_reused_token_ends_the_family(live_server: LiveServer) -> None:
    signed = login(live_server, "agent", DEMO_PASSWORD).json()
    first = signed["refresh_token"]
    renewed = refresh(live_server, first)
    assert renewed.status_code == 200
    data = renewed.json()
    second = data["refresh_token"]
    assert second != first and data["user"]["username"] == "agent"
    assert me(live_server, data["access_token"]) == 200
    # The spent token shown again (a copy in other hands): refused, and its family ends.
    assert refresh(live_server, first).status_code == 401
    assert refresh(live_server, second).status_code == 401
    with live_server.db() as db:
        actions = list(db.scalars(select(m.AuditLog.action).order_by(m.AuditLog.id)))
    assert "auth.refresh_reused" in actions


def test_revoking_a_users_tokens_ends_bearer_and_refresh_tokens(live_server: LiveServer) -> None:
    signed = login(live_server, "wangfang", DEMO_PASSWORD).json()
    with live_server.db() as db:
        assert revoke_user_tokens(db, user_id(live_server, "wangfang")) >= 1
        db.commit()
    assert me(live_server, signed["access_token"]) == 401
    assert refresh(live_server, signed["refresh_token"]).status_code == 401


def test_a_deactivated_user_cannot_refresh(live_server: LiveServer) -> None:
    signed = login(live_server, "wangfang", DEMO_PASSWORD).json()
    with live_server.db() as db:
        db.get(m.User, user_id(live_server, "wangfang")).active = False
        db.commit()
    assert refresh(live_server, signed["refresh_token"]).status_code == 401
    assert me(live_server, signed["access_token"]) == 401
    assert login(live_server, "wangfang", DEMO_PASSWORD).status_code == 401


def test_sign_in_failure_and_sign_out_are_audited_without_the_password(
    live_server: LiveServer,
) -> None:
    wrong = "not-the-password-" + "x" * 8
    assert login(live_server, "lead", wrong).status_code == 401
    signed = login(live_server, "lead", DEMO_PASSWORD).json()
    requests.post(
        f"{live_server.url}/api/v1/auth/logout",
        headers={"Authorization": f"Bearer {signed['access_token']}"},
        timeout=10,
    ).raise_for_status()
    with live_server.db() as db:
        rows = list(
            db.scalars(
                select(m.AuditLog)
                .where(m.AuditLog.action.startswith("auth."))
                .order_by(m.AuditLog.id)
            )
        )
        hashes = list(db.scalars(select(m.RefreshToken.token_hash)))
    assert [r.action for r in rows] == ["auth.login_failed", "auth.login", "auth.logout"]
    lead = user_id(live_server, "lead")
    assert rows[0].detail["username"] == "lead" and rows[0].source_ip == "127.0.0.1"
    assert rows[1].actor_id == lead and rows[2].actor_id == lead
    for row in rows:
        text = str(row.detail)
        assert wrong not in text and DEMO_PASSWORD not in text
        assert signed["access_token"] not in text and signed["refresh_token"] not in text
    assert signed["refresh_token"] not in hashes, "only digests are stored"
