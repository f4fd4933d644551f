"""Helpers for the screen-share tests: demo sessions to share, the caller's consent over
plain HTTP, and a stand-in screen-share provider on loopback that records who arrives."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select

from server import models as m
from tests.support import LiveServer

TOKEN_FIELD = re.compile(r'name="token" value="([^"]+)"')


def user_id(server: LiveServer, username: str) -> int:
    with server.db() as db:
        uid = db.scalar(select(m.User.id).where(m.User.username == username))
    assert uid is not None
    return int(uid)


def session_of(server: LiveServer, username: str, state: str = "active") -> str:
    """A demo session of ``username`` in ``state``."""
    with server.db() as db:
        sid = db.scalar(
            select(m.Session.id)
            .join(m.User, m.User.id == m.Session.assignee_id)
            .where(m.User.username == username, m.Session.state == state)
            .order_by(m.Session.created_at)
            .limit(1)
        )
    assert sid is not None, f"the demo has no {state} session of {username}"
    return str(sid)


def consent_over_http(
    join_url: str, *, headers: dict[str, str] | None = None
) -> tuple[requests.Response, requests.Response]:
    """Open the join page and press the consent button, as a browser without
    JavaScript would; returns (page, answer to the POST, not followed)."""
    with requests.Session() as http:
        page = http.get(join_url, headers=headers, timeout=10)
        found = TOKEN_FIELD.search(page.text)
        assert found, "the join page has a consent form"
        answer = http.post(
            join_url,
            data={"token": found.group(1)},
            headers=headers,
            allow_redirects=False,
            timeout=10,
        )
    return page, answer


@dataclass
class Hit:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class StandInProvider:
    """A loopback HTTP server that plays the screen-share provider's room page."""

    hits: list[Hit] = field(default_factory=list)
    httpd: Any = None
    url: str = ""

    def __enter__(self) -> StandInProvider:
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                hits.append(Hit(parts.path, parse_qs(parts.query), dict(self.headers.items())))
                body = (
                    "<!doctype html><meta charset='utf-8'><title>共享房间</title>"
                    "<h1 id='room'>共享房间（测试替身）</h1>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def room_hits(self) -> list[Hit]:
        """Arrivals in a room (a browser also asks for /favicon.ico)."""
        return [h for h in self.hits if h.path.startswith("/room/")]

    @property
    def template(self) -> str:
        return self.url + "/room/{room}?code={code}&name={name}"
