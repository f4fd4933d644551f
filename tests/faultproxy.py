"""A fault-injecting HTTP proxy on loopback, between the real client and the real server.

The client talks to ``proxy.url`` as if it were the server. Each request is read whole,
matched against the rules given with :meth:`FaultProxy.add`, and then either passed
to the server or spoiled in one of the ways a weak network or a broken gateway spoils
it:

========================  ===================================================================
``Fault.CUT``              pass to the server, send only the first ``cut_after`` bytes (or
                           the first ``cut_ratio`` of the answer), then close (a connection
                           cut in the middle of a page)
``Fault.LOSE``             pass to the server, let it finish, then close without answering
                           (the answer is lost after the server committed)
``Fault.STATUS``           answer ``status`` (500, 503 …) with an HTML error page, optionally
                           with ``Retry-After``, without passing anything to the server
``Fault.MALFORMED``        pass to the server, then answer 200 with its JSON cut in half
``Fault.HOLD_REQUEST``     hold the request (the server never sees it) until released
``Fault.HOLD_ANSWER``      pass to the server, then hold its answer until released; then
                           drop it (the client is usually dead by then)
========================  ===================================================================

``proxy.refusing = True`` resets every new connection at once (the link is down) until
it is set back to ``False``. Every request is logged with what was done to it.

One request per connection: the proxy asks the server to close after each answer and
tells the client the same, so a fault never leaks into the next request.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import struct
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

HEAD_END = b"\r\n\r\n"


class Fault(StrEnum):
    PASS = "pass"
    CUT = "cut"
    LOSE = "lose"
    STATUS = "status"
    MALFORMED = "malformed"
    HOLD_REQUEST = "hold_request"
    HOLD_ANSWER = "hold_answer"


@dataclass
class Rule:
    """Spoil ``times`` requests that match ``method`` and the ``path`` prefix, after
    letting the first ``skip`` matching ones through."""

    fault: Fault
    method: str | None = None
    path: str | None = None
    times: int = 1
    skip: int = 0
    cut_after: int = 0
    cut_ratio: float | None = None
    """Cut after this share of the answer instead (always inside it, whatever its size)."""
    status: int = 500
    retry_after: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or path.startswith(self.path)
        )


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    fault: Fault
    forwarded: bool
    """Whether the server received the request."""
    gzip_request: bool = False
    """The client sent its body gzip-compressed."""
    gzip_answer: bool = False
    """The server's answer came gzip-compressed."""


@dataclass
class _Request:
    method: str
    target: str
    head_lines: list[bytes]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass
class FaultProxy:
    """Start with :meth:`start` (or ``with``); point the client at :attr:`url`."""

    upstream: str
    rules: list[Rule] = field(default_factory=list)
    log: list[Logged] = field(default_factory=list)
    refusing: bool = False
    held: threading.Event = field(default_factory=threading.Event)
    """Set when a held request or answer is being held (the server has committed, for
    ``HOLD_ANSWER``)."""
    release: threading.Event = field(default_factory=threading.Event)
    hold_limit: float = 60.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)

    # -- control ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.release.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    def add(
        self, fault: Fault, method: str | None = None, path: str | None = None, **kw: Any
    ) -> Rule:
        """Add a rule; ``path`` is matched as a prefix of the request path."""
        rule = Rule(fault, method, path, **kw)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
        self.held.clear()
        self.release.clear()

    def count(
        self, method: str | None = None, path: str = "", *, forwarded: bool | None = None
    ) -> int:
        """How many logged requests match (``forwarded``: only those the server saw)."""
        with self._lock:
            return sum(
                1
                for entry in self.log
                if (method is None or entry.method == method)
                and entry.path.startswith(path)
                and (forwarded is None or entry.forwarded == forwarded)
            )

    def faults(self, fault: Fault) -> int:
        with self._lock:
            return sum(1 for entry in self.log if entry.fault is fault)

    # -- serving --------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.refusing:
                _reset(conn)
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.times <= 0 or not rule.matches(method, path):
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    return None
                rule.times -= 1
                return rule
        return None

    def _note(self, request: _Request, fault: Fault, forwarded: bool, answer: bytes = b"") -> None:
        gzip_request = (_header(request.head_lines, b"content-encoding") or b"") == b"gzip"
        gzip_answer = (_header(_split(answer)[0], b"content-encoding") or b"") == b"gzip"
        with self._lock:
            self.log.append(
                Logged(request.method, request.path, fault, forwarded, gzip_request, gzip_answer)
            )

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        try:
            request = _read_request(conn)
            if request is None:
                return
            if self.refusing:
                _reset(conn)
                return
            rule = self._rule_for(request.method, request.path)
            fault = rule.fault if rule else Fault.PASS
            if rule is not None and fault is Fault.STATUS:
                self._note(request, fault, False)
                conn.sendall(_error_page(rule.status, rule.retry_after))
                return
            if fault is Fault.HOLD_REQUEST:
                self._note(request, fault, False)
                self.held.set()
                self.release.wait(self.hold_limit)
                return
            answer = self._forward(request)
            self._note(request, fault, True, answer)
            if rule is None or fault is Fault.PASS:
                conn.sendall(_close_after(answer))
            elif fault is Fault.CUT:
                whole = _close_after(answer)
                cut = rule.cut_after
                if rule.cut_ratio is not None:
                    cut = min(len(whole) - 1, max(1, int(len(whole) * rule.cut_ratio)))
                conn.sendall(whole[:cut])
            elif fault is Fault.MALFORMED:
                conn.sendall(_malformed(answer))
            elif fault is Fault.HOLD_ANSWER:
                self.held.set()
                self.release.wait(self.hold_limit)
            # Fault.LOSE: the server has answered; the client hears nothing.
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _forward(self, request: _Request) -> bytes:
        lines = [
            line
            for line in request.head_lines[1:]
            if not line.lower().startswith((b"connection:", b"keep-alive:"))
        ]
        head = b"\r\n".join([request.head_lines[0], *lines, b"Connection: close"]) + HEAD_END
        with socket.create_connection(self._upstream, timeout=30) as upstream:
            upstream.sendall(head + request.body)
            chunks = []
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)


def _reset(conn: socket.socket) -> None:
    """Close with a TCP reset, as a dead link or a refusing firewall does."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.close()


def _read_request(conn: socket.socket) -> _Request | None:
    data = b""
    while HEAD_END not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(HEAD_END)
    lines = head.split(b"\r\n")
    method, target, _version = lines[0].decode("latin-1").split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return _Request(method, target, lines, rest[:length])


def _split(answer: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = answer.partition(HEAD_END)
    return head.split(b"\r\n"), body


def _header(lines: list[bytes], name: bytes) -> bytes | None:
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def _close_after(answer: bytes) -> bytes:
    """The server's answer, telling the client that the connection ends with it."""
    lines, body = _split(answer)
    kept = [line for line in lines[1:] if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([lines[0], *kept, b"Connection: close"]) + HEAD_END + body


def _malformed(answer: bytes) -> bytes:
    """The server's answer as 200 with its JSON body cut in half (a broken gateway)."""
    lines, body = _split(answer)
    if (_header(lines, b"content-encoding") or b"").lower() == b"gzip":
        body = gzip.decompress(body)
    broken = body[: max(1, len(body) // 2)]
    head = [
        b"HTTP/1.1 200 OK",
        b"Content-Type: application/json",
        b"Content-Length: " + str(len(broken)).encode(),
        b"Connection: close",
    ]
    return b"\r\n".join(head) + HEAD_END + broken


def _error_page(status: int, retry_after: str | None) -> bytes:
    body = f"<html><body><h1>{status}</h1>gateway error</body></html>".encode()
    head = [
        f"HTTP/1.1 {status} Gateway Error".encode(),
        b"Content-Type: text/html",
        b"Content-Length: " + str(len(body)).encode(),
        b"Connection: close",
    ]
    if retry_after is not None:
        head.append(b"Retry-After: " + retry_after.encode())
    return b"\r\n".join(head) + HEAD_END + body
