"""The embedded demo server: keeps its port across runs, and never outlives the app."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sync.client import ApiClient
from sync.embedded import EmbeddedServer

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_it_keeps_its_port_and_remembers_its_addresses(tmp_path: Path) -> None:
    db = tmp_path / "demo" / "bangban-demo.sqlite3"
    first = EmbeddedServer(db)
    first.start()
    try:
        first.wait_ready()
        server_id = ApiClient(first.url).health()["server_id"]
    finally:
        first.stop()
    assert first.process is not None and first.process.poll() is not None

    again = EmbeddedServer(db)
    assert again.port == first.port and again.earlier_urls == [first.url]
    # The old port is taken now: another one, and the same server behind it.
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", first.port))
        taken.listen()
        moved = EmbeddedServer(db)
    assert moved.port != first.port
    moved.start()
    try:
        moved.wait_ready()
        assert ApiClient(moved.url).health()["server_id"] == server_id
    finally:
        moved.stop()
    assert EmbeddedServer(db).earlier_urls == [first.url, moved.url]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_it_dies_with_an_app_that_was_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from sync.embedded import EmbeddedServer\n"
        f"s = EmbeddedServer(Path({str(tmp_path / 'demo.sqlite3')!r}))\n"
        "s.start(); s.wait_ready()\n"
        f"Path({str(pid_file)!r}).write_text(str(s.pid))\n"
        "time.sleep(600)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    app = subprocess.Popen([sys.executable, "-c", code], cwd=str(ROOT), env=env)
    try:
        deadline = time.monotonic() + 90
        while not pid_file.exists():
            assert time.monotonic() < deadline, "the embedded server did not start"
            assert app.poll() is None
            time.sleep(0.2)
        server = int(pid_file.read_text())
        assert alive(server)
        app.send_signal(signal.SIGKILL)  # no clean-up code runs in the app
        app.wait(timeout=10)
        deadline = time.monotonic() + 20
        while alive(server):
            assert time.monotonic() < deadline, "the demo server outlived the app"
            time.sleep(0.2)
    finally:
        if app.poll() is None:
            app.kill()
