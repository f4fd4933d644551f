"""The embedded demo server: a child process on a free loopback port.

``python main.py`` with no server configured starts one, with the demo database in
the user data directory, seeded on first run. A child process (not a thread) keeps
the server's work off the GUI's interpreter lock.

It keeps the port of its previous run when that port is free (remembered beside the
database in ``<name>.port.json``, with every address it has had), though clients do
not depend on it: they find their cache by the server's ``server_id``. On Linux the
child is told to die with the app (``PR_SET_PDEATHSIG``), so even a killed app
leaves no demo server behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
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


def port_is_free(port: int) -> bool:
    """Whether the server could listen on ``port`` (as uvicorn does, with SO_REUSEADDR,
    so the connections of its previous run that linger in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """In the child: ask Linux to send SIGTERM when the app's process ends."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class EmbeddedServer:
    """Start, wait for, and stop the demo server."""

    def __init__(self, database_path: Path, port: int | None = None) -> None:
        self.database_path = database_path
        self.state_path = database_path.with_suffix(".port.json")
        self.log_path = database_path.with_suffix(".log")
        remembered = self._read_state()
        previous = remembered.get("port")
        self.earlier_urls: list[str] = [
            str(u) for u in remembered.get("urls", []) if isinstance(u, str)
        ]
        """Every address this demo server has had (for caches from before server ids)."""
        if port is None and isinstance(previous, int) and port_is_free(previous):
            port = previous
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def _read_state(self) -> dict:  # type: ignore[type-arg]
        try:
            data = json.loads(self.state_path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _remember_port(self) -> None:
        urls = [*[u for u in self.earlier_urls if u != self.url][-19:], self.url]
        with contextlib.suppress(OSError):
            self.state_path.write_text(
                json.dumps({"port": self.port, "urls": urls}, indent=1), "utf-8"
            )

    @property
    def old_cache_addresses(self) -> list[str]:
        """Addresses whose caches (from before server ids) are this server's: every one
        it remembers, and any loopback port (older versions did not remember the port,
        and the demo server is the only loopback server the app starts)."""
        return [*self.earlier_urls, "http://127.0.0.1:*", "http://localhost:*"]

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        self.database_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self._remember_port()
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
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        log_file.close()
        log.info("embedded demo server pid %s at %s", self.process.pid, self.url)

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
        """End the child process (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        log.info("embedded demo server stopped")
