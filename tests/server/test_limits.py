"""Limits before work (issue 11 part 4): tokens before bodies, body caps counted on the
wire and inflated, deadlines for headers and bodies, 415 for wrong types, 422 and 500
answers that never repeat the input, and a server whose memory stays bounded."""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from server.limits import client_address, parse_networks
from sync.embedded import free_port
from tests.support import DEMO_PASSWORD, LiveServer

MB = 1024 * 1024
BOMB = gzip.compress(b"\0" * (32 * MB), compresslevel=9)  # ~32 KB that inflate to 32 MB


def token(server: LiveServer) -> str:
    answer = requests.post(
        f"{server.url}/api/v1/auth/login",
        json={"username": "agent", "password": DEMO_PASSWORD},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def raw(url: str, data: bytes, *, timeout: float = 10.0, then: bytes = b"") -> tuple[int, bytes]:
    """Send ``data`` on a fresh connection and read the answer (status, body); ``then``
    is sent after the answer started, if the connection is still open."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as conn:
        conn.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        if not head:
            return 0, b""
        status = int(head.split(b" ", 2)[1])
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, body


def head(path: str, host: str, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}"] + [
        f"{k.replace('_', '-')}: {v}" for k, v in headers.items()
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# -- tokens and caps before the body is read -------------------------------------------------


def test_an_authenticated_route_checks_the_token_before_reading_the_body(
    live_server: LiveServer,
) -> None:
    """A 50 MB push announced without a token is answered 401 at once: the server did not
    wait for (or read) a byte of it."""
    host = urlsplit(live_server.url).netloc
    started = time.monotonic()
    status, body = raw(
        live_server.url,
        head(
            "/api/v1/sync/mutations",
            host,
            Content_Type="application/json",
            Content_Length=str(50 * MB),
        ),
    )
    assert status == 401 and "登录" in json.loads(body)["detail"]
    assert time.monotonic() - started < 3
    # The same with a gzip bomb actually sent, and with a wrong token.
    bomb = requests.post(
        f"{live_server.url}/api/v1/sync/mutations",
        data=BOMB,
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Authorization": "Bearer not-a-token",
        },
        timeout=10,
    )
    assert bomb.status_code == 401


def test_open_routes_take_a_few_kilobytes_counted_on_the_wire_and_inflated(
    live_server: LiveServer,
) -> None:
    url = f"{live_server.url}/api/v1/auth/login"
    gz = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    # 32 KB of gzip: over the cap on the wire, refused by its Content-Length.
    wire = requests.post(url, data=BOMB, headers=gz, timeout=10)
    assert wire.status_code == 413 and "请求内容过大" in wire.json()["detail"]
    # 4 KB of gzip that would inflate to 4 MB: refused while inflating.
    small_bomb = gzip.compress(b"\0" * (3 * MB), compresslevel=9)
    assert len(small_bomb) < 4096
    inflated = requests.post(url, data=small_bomb, headers=gz, timeout=10)
    assert inflated.status_code == 413
    # A 1 MiB password is refused before it is parsed, and never comes back.
    password = "p" * MB
    big = requests.post(url, json={"username": "agent", "password": password}, timeout=10)
    assert big.status_code == 413 and password[:1000] not in big.text
    # Broken gzip is a 400 in words.
    truncated = gzip.compress(b'{"username": "agent", "password": "x"}')[:-6]
    broken = requests.post(url, data=truncated, headers=gz, timeout=10)
    assert broken.status_code == 400 and "压缩" in broken.json()["detail"]


def test_a_push_is_capped_once_inflated(live_server: LiveServer) -> None:
    bearer = token(live_server)
    huge = gzip.compress(b"\0" * (40 * MB), compresslevel=9)
    answer = requests.post(
        f"{live_server.url}/api/v1/sync/mutations",
        data=huge,
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Authorization": f"Bearer {bearer}",
        },
        timeout=30,
    )
    assert answer.status_code == 413 and "32 MB" in answer.json()["detail"]
    # A normal compressed push still works.
    body = gzip.compress(json.dumps({"mutations": []}).encode())
    ok = requests.post(
        f"{live_server.url}/api/v1/sync/mutations",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Authorization": f"Bearer {bearer}",
        },
        timeout=10,
    )
    assert ok.status_code == 200 and ok.json() == {"results": []}


# -- content types, 422 and 500 ----------------------------------------------------------------


def test_a_login_as_text_plain_is_415_and_says_nothing_of_the_body(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-Passw0rd-" + os.urandom(4).hex()
    with caplog.at_level(logging.DEBUG):
        answer = requests.post(
            f"{live_server.url}/api/v1/auth/login",
            data=json.dumps({"username": "agent", "password": secret}),
            headers={"Content-Type": "text/plain"},
            timeout=10,
        )
    assert answer.status_code == 415 and answer.json()["code"] == "unsupported_media_type"
    assert secret not in answer.text and secret not in caplog.text
    brotli = requests.post(
        f"{live_server.url}/api/v1/auth/login",
        data=b"x",
        headers={"Content-Type": "application/json", "Content-Encoding": "br"},
        timeout=10,
    )
    assert brotli.status_code == 415


def test_a_422_names_the_field_without_repeating_the_value(live_server: LiveServer) -> None:
    password = "q" * 300  # over the field's 256 characters, under the route's cap
    answer = requests.post(
        f"{live_server.url}/api/v1/auth/login",
        json={"username": "agent", "password": password},
        timeout=10,
    )
    assert answer.status_code == 422
    data = answer.json()
    assert data["errors"][0]["loc"] == ["body", "password"]
    assert "password" in data["detail"]
    assert password not in answer.text and "qqqq" not in answer.text
    not_json = requests.post(
        f"{live_server.url}/api/v1/auth/login",
        data=b'{"username": "agent", "password": "abc',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert not_json.status_code == 422 and "abc" not in not_json.text


def test_a_500_is_generic_with_a_request_id_and_logs_no_input(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    def crash(word: str) -> dict[str, str]:
        raise ValueError(f"could not handle {word}")

    live_server.app.add_api_route("/api/v1/test-crash", crash, methods=["GET"])
    secret = "pw-" + os.urandom(6).hex()
    with caplog.at_level(logging.ERROR):
        answer = requests.get(
            f"{live_server.url}/api/v1/test-crash", params={"word": secret}, timeout=10
        )
    assert answer.status_code == 500
    data = answer.json()
    assert data["code"] == "internal_error" and data["request_id"] in data["detail"]
    assert answer.headers["X-Request-Id"] == data["request_id"]
    assert secret not in answer.text
    assert data["request_id"] in caplog.text and "ValueError" in caplog.text
    assert secret not in caplog.text


# -- deadlines -------------------------------------------------------------------------------


@pytest.fixture
def quick(live_server_with) -> LiveServer:  # type: ignore[no-untyped-def]
    return live_server_with(header_timeout_seconds=1.0, open_body_seconds=1.0)


def test_a_body_that_does_not_arrive_in_time_is_408(quick: LiveServer) -> None:
    host = urlsplit(quick.url).netloc
    started = time.monotonic()
    status, body = raw(
        quick.url,
        head("/api/v1/auth/login", host, Content_Type="application/json", Content_Length="200")
        + b'{"username": "agent", ',
    )
    assert status == 408 and "超时" in json.loads(body)["detail"]
    assert 0.9 < time.monotonic() - started < 5


def test_headers_that_trickle_are_cut_off(quick: LiveServer) -> None:
    parts = urlsplit(quick.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 6:
            try:
                conn.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = True
                break
            conn.settimeout(0.3)
            try:
                if conn.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed, "the server kept waiting for headers"
        assert time.monotonic() - started < 4
    # A connection that says nothing at all is closed too.
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as idle:
        idle.settimeout(5)
        assert idle.recv(1024) == b""


# -- the caller's address ------------------------------------------------------------------


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    nobody = parse_networks("")
    assert client_address("127.0.0.1", "203.0.113.9", nobody) == "127.0.0.1"
    proxies = parse_networks("127.0.0.1, 10.0.0.0/8, not-an-address")
    assert len(proxies) == 2
    assert client_address("127.0.0.1", "203.0.113.9", proxies) == "203.0.113.9"
    # A caller writing their own header: the proxy appends the real address, rightmost.
    assert client_address("127.0.0.1", "1.2.3.4, 203.0.113.9", proxies) == "203.0.113.9"
    assert client_address("127.0.0.1", "203.0.113.9, 10.1.2.3", proxies) == "203.0.113.9"
    assert client_address("198.51.100.7", "203.0.113.9", proxies) == "198.51.100.7"
    assert client_address("127.0.0.1", "garbage", proxies) == "127.0.0.1"


# -- a whole server process: memory and its log --------------------------------------------------


@pytest.fixture
def server_process(server_db: str, tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "run",
                "--database-url",
                server_db,
                "--port",
                str(port),
                "--log-level",
                "debug",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/api/v1/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, log_path.read_text("utf-8", "replace")
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield url, process.pid, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def peak_rss_mb(pid: int) -> float:
    """The process's highest resident size so far (VmHWM): a body inflated and freed
    again between two looks still shows."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_unauthenticated_gzip_bodies_leave_memory_bounded_and_the_log_clean(
    server_process: tuple[str, int, Path],
) -> None:
    url, pid, log_path = server_process
    # One password check first: argon2 itself takes 64 MB while it verifies.
    warm = requests.post(
        f"{url}/api/v1/auth/login", json={"username": "lead", "password": "warm-up"}, timeout=10
    )
    assert warm.status_code == 401
    before = peak_rss_mb(pid)
    gz = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    answers: list[int] = []

    def send(path: str) -> None:
        try:
            answers.append(
                requests.post(f"{url}{path}", data=BOMB, headers=gz, timeout=30).status_code
            )
        except requests.RequestException:
            answers.append(0)  # a refused body may close the connection under our feet

    threads = [
        threading.Thread(target=send, args=(path,))
        for path in ["/api/v1/sync/mutations", "/api/v1/auth/login", "/j/123456789"] * 8
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # No token: 401; the login's cap: 413; the join form takes no JSON: 415.
    assert answers.count(401) >= 6 and answers.count(413) >= 6, answers
    assert answers.count(415) >= 6, answers
    secret = "Zz-" + os.urandom(8).hex()
    plain = requests.post(
        f"{url}/api/v1/auth/login",
        data=json.dumps({"username": "agent", "password": secret}),
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert plain.status_code == 415
    wrong = requests.post(
        f"{url}/api/v1/auth/login", json={"username": "agent", "password": secret}, timeout=10
    )
    assert wrong.status_code == 401
    grown = peak_rss_mb(pid) - before
    assert grown < 40, f"the server's peak grew by {grown:.0f} MB"
    time.sleep(0.3)
    log_text = log_path.read_text("utf-8", "replace")
    assert secret not in log_text
    assert "Traceback" not in log_text, log_text[-2000:]


def test_connections_past_the_cap_are_turned_away(
    live_server_with,  # type: ignore[no-untyped-def]
) -> None:
    server = live_server_with(max_connections=2)
    parts = urlsplit(server.url)
    held = [socket.create_connection((parts.hostname, parts.port), timeout=10) for _ in range(2)]
    try:
        for conn in held:
            conn.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # not finished
        time.sleep(0.3)
        turned_away = requests.get(f"{server.url}/api/v1/health", timeout=10)
        assert turned_away.status_code == 503
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + 10
    while requests.get(f"{server.url}/api/v1/health", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.1)
