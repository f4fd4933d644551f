"""Helpers for tests: a real server on loopback, and waiting inside a qasync loop."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from server.app import create_app
from server.config import ServerSettings
from server.limits import uvicorn_options
from sync.embedded import free_port

DEMO_PASSWORD = "bangban-demo"
WAIT_SCALE = float(os.environ.get("BANGBAN_TEST_WAIT_SCALE", "3"))


@dataclass
class LiveServer:
    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.app.state.events.close()  # answer open long polls, or shutdown waits for them
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.app.state.engine.dispose()

    def db(self) -> Any:
        """A database session of the running server, for arranging and checking."""
        return self.app.state.db()


def start_live_server(database_url: str, **settings: Any) -> LiveServer:
    """Start the real FastAPI app under uvicorn in a thread on a free loopback port."""
    server_settings = ServerSettings(database_url=database_url, **settings)
    app = create_app(server_settings)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        **uvicorn_options(server_settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("live server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", app, server, thread)


async def wait_until(
    predicate: Callable[[], Any], timeout: float = 10.0, message: str = "condition"
) -> Any:
    """Poll ``predicate`` while the qasync loop keeps Qt and asyncio running.

    The timeout is a limit for a hung test, not a speed check: it is stretched by
    ``WAIT_SCALE`` because this suite runs on shared, sometimes heavily loaded machines.
    """
    deadline = time.monotonic() + timeout * WAIT_SCALE
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        await asyncio.sleep(0.02)


class _CannedHandler:
    """Builds a BaseHTTPRequestHandler that answers every request with one response."""

    @staticmethod
    def make(status: int, body: bytes, content_type: str) -> type:
        from http.server import BaseHTTPRequestHandler

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *_args: Any) -> None:
                return None

        return Handler


class CannedServer:
    """A loopback HTTP server that answers everything the same way (a proxy's error
    page, a captive portal …)."""

    def __init__(self, status: int, body: bytes, content_type: str = "text/html") -> None:
        from http.server import ThreadingHTTPServer

        self.httpd = ThreadingHTTPServer(
            ("127.0.0.1", 0), _CannedHandler.make(status, body, content_type)
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> CannedServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
