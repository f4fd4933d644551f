"""The embedded demo server: a child process on a free loopback port.

``python main.py`` with no server configured starts one, with the demo database in
the user data directory, seeded on first run. A child process (not a thread) keeps
the server's work off the GUI's interpreter lock.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from sync.client import ApiClient
from sync.errors import SyncError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedServer:
    """Start, wait for, and stop the demo server."""

    def __init__(self, database_path: Path, port: int | None = None) -> None:
        self.database_path = database_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = database_path.with_suffix(".log")

    def start(self) -> None:
        self.database_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "run",
                "--seed-demo",
                "--port",
                str(self.port),
                "--database-url",
                f"sqlite:///{self.database_path}",
            ],
            cwd=str(ROOT),
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        log_file.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the server answers its health check (call off the GUI thread)."""
        api = ApiClient(self.url, timeout=(1.0, 2.0))
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise SyncError(f"演示服务器启动失败，详见日志：{self.log_path}")
                try:
                    api.health()
                    return
                except SyncError:
                    time.sleep(0.2)
            raise SyncError("演示服务器启动超时")
        finally:
            api.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
