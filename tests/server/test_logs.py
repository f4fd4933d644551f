"""The server's JSON-lines log (issue 11, part 9): one line per request with its id,
user, route template, status and latency; X-Request-Id on every answer; and the
handler's own filter masks phone and ID numbers, passwords and tokens in anything
logged, by us or by anyone else."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest
import requests

from server import logs
from tests.server.test_session_mutations import login, sid
from tests.support import LiveServer

PHONE, ID_NUMBER = "13812345678", "320102199001011234"


@pytest.fixture
def log_lines(live_server: LiveServer) -> Iterator[io.StringIO]:
    handler = logs.handler()
    assert isinstance(handler, logging.StreamHandler), "create_app installs the JSON handler"
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def lines_of(buffer: io.StringIO, predicate, timeout: float = 5.0) -> list[dict]:  # type: ignore[no-untyped-def]
    """The parsed lines matching ``predicate`` (the access line is written just after
    the answer leaves, so wait for it briefly)."""
    deadline = time.monotonic() + timeout
    while True:
        parsed = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
        found = [p for p in parsed if predicate(p)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_a_request_line_has_neither_the_number_nor_the_token(
    live_server: LiveServer, log_lines: io.StringIO
) -> None:
    agent = login(live_server, "agent")
    token = agent.token
    assert token
    s = sid("S010")
    response = requests.get(
        f"{live_server.url}/api/v1/sessions/{s}/share",
        params={"phone": PHONE, "id": ID_NUMBER, "token": token},
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": "desk-42"},
        timeout=10,
    )
    assert response.headers["X-Request-Id"] == "desk-42"
    [line] = lines_of(log_lines, lambda p: p.get("request_id") == "desk-42")
    assert line["message"] == "request" and line["logger"] == "bangban.access"
    assert line["route"] == "/api/v1/sessions/{session_id}/share"
    assert line["method"] == "GET" and line["status"] == response.status_code == 404
    assert line["user_id"] == agent.me().id
    assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
    text = log_lines.getvalue()
    assert PHONE not in text and ID_NUMBER not in text and token not in text
    assert s not in text  # the route template, never the raw path
    # A login: its body (the password) is never logged; an id is made when none is sent.
    answer = requests.post(
        f"{live_server.url}/api/v1/auth/login",
        json={"username": "agent", "password": "wrong-password-123"},
        timeout=10,
    )
    made = answer.headers["X-Request-Id"]
    assert len(made) == 32
    [failed] = lines_of(log_lines, lambda p: p.get("request_id") == made)
    assert failed["status"] == 401 and failed["user_id"] is None
    assert "wrong-password-123" not in log_lines.getvalue()
    # A path no route matches is logged without its raw path.
    requests.get(f"{live_server.url}/nowhere/{PHONE}", timeout=10)
    assert lines_of(log_lines, lambda p: p.get("route") == "(unmatched)")
    assert PHONE not in log_lines.getvalue()


def test_a_careless_log_call_anywhere_is_masked(
    live_server: LiveServer, log_lines: io.StringIO
) -> None:
    careless = logging.getLogger("server.services.somewhere")
    careless.warning(
        "caller %s (ID %s) said password=%s, header Authorization: Bearer %s",
        PHONE,
        ID_NUMBER,
        "hunter2secret",
        "eyJhbGciOi.abc.def",
    )
    careless.info({"password": "p4ssw0rd!", "access_token": "tok-123456", "phone": PHONE})
    try:
        raise ValueError(f"bad caller {PHONE}")
    except ValueError:
        careless.exception("failed for token=%s", "tok-abcdef")
    lines = lines_of(log_lines, lambda p: p["logger"] == "server.services.somewhere")
    assert len(lines) == 3
    text = log_lines.getvalue()
    for secret in (
        PHONE,
        ID_NUMBER,
        "hunter2secret",
        "eyJhbGciOi",
        "p4ssw0rd!",
        "tok-123456",
        "tok-abcdef",
    ):
        assert secret not in text, secret
    assert "138****5678" in lines[0]["message"] and "3201**********1234" in lines[0]["message"]
    assert "ValueError" in lines[2]["error"] and "138****5678" in lines[2]["error"]
    assert lines[0]["level"] == "warning"


def test_mask_secrets_keeps_ordinary_text() -> None:
    assert logs.mask_secrets("办结 3 件，用时 1234 毫秒") == "办结 3 件，用时 1234 毫秒"
    assert logs.mask_secrets("token: abc.def") == "token: ***"


def test_a_crash_is_answered_with_its_request_id_and_logged_masked(
    live_server: LiveServer, log_lines: io.StringIO
) -> None:
    def crash() -> None:
        raise RuntimeError(f"cannot reach caller {PHONE}")

    # A route that fails the way a bug would (added to the running app for this test).
    live_server.app.add_api_route("/api/v1/test-crash", crash)
    response = requests.get(f"{live_server.url}/api/v1/test-crash", timeout=10)
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error" and "服务器内部错误" in body["detail"]
    assert body["request_id"] == response.headers["X-Request-Id"]
    [line] = lines_of(log_lines, lambda p: p.get("request_id") == body["request_id"])
    assert line["status"] == 500 and line["route"] == "/api/v1/test-crash"
    # The crash itself is logged by server/limits.py with its type and where it
    # happened, never its message (which can quote the input): the number is not there
    # even masked.
    crashes = lines_of(log_lines, lambda p: "RuntimeError" in json.dumps(p, ensure_ascii=False))
    assert crashes and all(c["level"] == "error" for c in crashes)
    assert PHONE not in log_lines.getvalue() and "138****5678" not in log_lines.getvalue()
