"""Limits checked before any work is done on a request (issue 11 part 4).

:class:`RequestLimits` is the outermost ASGI middleware of the app. For every HTTP
request it

* names the caller's address: ``X-Forwarded-For`` is believed only from an address
  in ``BANGBAN_TRUSTED_PROXIES`` (default: nobody), and the answer replaces
  ``scope["client"]`` so that every route sees the same address;
* looks the route up in :data:`ROUTES` and, for a request with a body: refuses a
  content type the route does not take (415) and an encoding other than gzip (415);
  on a route that needs a token, checks the bearer token **before reading a byte of
  the body** (401); refuses a declared ``Content-Length`` over the route's cap (413);
  then reads the body against the cap on the wire *and* (gzip) the inflated cap,
  chunk by chunk, refusing the moment either is passed (413), and against a deadline
  for the whole body (408);
* answers an unexpected error with a generic Chinese message and a request id (500),
  logging the exception's type and where it happened, never its message (which can
  quote the input) or the body.

:func:`uvicorn_options` are the matching server settings (header timeout, keep-alive
timeout, connection cap, header size cap, no proxy headers of uvicorn's own); both
``python -m server run`` and the tests' live server use them.

A new route that takes a body without a bearer token must be listed in :data:`ROUTES`,
or it answers 401.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import traceback
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import h11
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.config import ServerSettings
from server.errors import ApiError
from server.gzip_request import MAX_BODY, BadGzip, BodyInflater, TooLarge

log = logging.getLogger(__name__)

KB, MB = 1024, 1024 * 1024
JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded",)
UPLOAD_TYPES = ("multipart/form-data",)

USER_SCOPE_KEY = "bangban.user"
"""Where the middleware leaves the :class:`server.auth.CurrentUser` it checked."""
KEY_SCOPE_KEY = "bangban.api_key"
"""Where the middleware leaves the integration key it checked (intake routes)."""
REQUEST_ID_KEY = "bangban.request_id"


@dataclass(frozen=True)
class Policy:
    """What one route accepts as a body."""

    max_bytes: int
    """On the wire (compressed when gzip)."""
    max_inflated: int
    """After gzip inflation."""
    authenticated: bool
    """A bearer token is checked before the body is read."""
    content_types: tuple[str, ...] = JSON_TYPES
    read_seconds: float = 30.0
    """The whole body must have arrived within this many seconds."""
    credential: str = "user"
    """What the bearer token must be: a user's sign-in token, or an integration key
    (``api_key``, the intake routes: ``server/services/intake.py``)."""


OPEN_SMALL = Policy(4 * KB, 8 * KB, authenticated=False, read_seconds=10.0)
OPEN_FORM = Policy(4 * KB, 4 * KB, authenticated=False, content_types=FORM_TYPES, read_seconds=10)
PUSH = Policy(8 * MB, MAX_BODY, authenticated=True, read_seconds=120.0)
ADMIN_UPLOAD = Policy(2 * MB, 8 * MB, authenticated=True, read_seconds=60.0)
KNOWLEDGE_IMPORT = Policy(
    17 * MB, 24 * MB, authenticated=True, content_types=("multipart/form-data",), read_seconds=120.0
)
"""An import file of up to 16 MB (10,000 rows of XLSX are about 3 MB)."""
API_DEFAULT = Policy(256 * KB, 1 * MB, authenticated=True)
INTAKE = Policy(64 * KB, 128 * KB, authenticated=True, credential="api_key")
"""Sessions from other systems: a summary, names and attachment metadata only."""
OTHER = Policy(4 * KB, 4 * KB, authenticated=False, read_seconds=10.0)
CALLER_JSON = Policy(24 * KB, 24 * KB, authenticated=False, read_seconds=10.0)
"""The caller's conversation API (a question of 1,000 characters, a message of 2,000)."""
CALLER_FORM = Policy(
    24 * KB, 24 * KB, authenticated=False, content_types=FORM_TYPES, read_seconds=10.0
)
CALLER_UPLOAD = Policy(
    4 * MB,
    4 * MB,
    authenticated=False,
    content_types=(*JSON_TYPES, *UPLOAD_TYPES),
    read_seconds=60.0,
)
"""A caller's message: JSON text, or one photo (multipart) of at most about 3 MB."""
CALLER_PHOTO_FORM = replace(CALLER_UPLOAD, content_types=UPLOAD_TYPES)

ROUTES: list[tuple[re.Pattern[str], Policy]] = [
    (re.compile(r"/api/v1/auth/(login|refresh)"), OPEN_SMALL),
    (re.compile(r"/api/v1/auth/logout"), Policy(4 * KB, 8 * KB, authenticated=True)),
    (re.compile(r"/api/v1/health"), OPEN_SMALL),
    (re.compile(r"/api/v1/sync/mutations"), PUSH),
    (re.compile(r"/api/v1/admin/walkthroughs(/.*)?"), ADMIN_UPLOAD),
    (re.compile(r"/api/v1/knowledge/import"), KNOWLEDGE_IMPORT),
    (re.compile(r"/api/v1/intake/.*"), INTAKE),
    (re.compile(r"/api/v1/public/conversations/[^/]+/messages"), CALLER_UPLOAD),
    (re.compile(r"/api/v1/public/(conversations|ratings)(/[^/]+/evaluation)?"), CALLER_JSON),
    (re.compile(r"/api/v1/.*"), API_DEFAULT),
    (re.compile(r"/j(/[^/]*)?"), OPEN_FORM),
    (re.compile(r"/c/[^/]+/photo"), CALLER_PHOTO_FORM),
    (re.compile(r"/(c|r)(/[^/]+(/(send|rate))?)?"), CALLER_FORM),
]
"""First match wins; anything else gets :data:`OTHER`."""


def policy_for(path: str) -> Policy:
    for pattern, policy in ROUTES:
        if pattern.fullmatch(path):
            return policy
    return OTHER


# -- the caller's address ------------------------------------------------------------


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.1, 192.168.0.0/24"`` → networks; anything unreadable is skipped (logged)."""
    networks: list[Network] = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            log.warning("BANGBAN_TRUSTED_PROXIES: not an address or network: %r", part[:64])
    return tuple(networks)


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The caller's address: the peer, unless the peer is a trusted proxy, in which case
    the right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy
    (the left part of the header is whatever the caller chose to write)."""
    if not trusted or not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a garbled header: believe only what we saw ourselves
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


# -- the middleware ------------------------------------------------------------------------


class _Refuse(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Gone(Exception):
    """The client went away while sending its body."""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return (_header(scope, b"transfer-encoding") or "").lower().strip() == "chunked"


def _safe_path(path: str) -> str:
    """The path for a log line: join codes and ids hidden."""
    return re.sub(r"/j/[^/]+", "/j/…", path)[:120]


class RequestLimits:
    """See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_proxies: tuple[Network, ...] = (),
        open_body_seconds: float | None = None,
    ) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies
        self.open_body_seconds = open_body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One id per request: the access log's (server/logs.py, further out) when it ran.
        request_id = str((scope.get("state") or {}).get("request_id") or uuid.uuid4().hex[:12])
        # The same dict, not a copy: the access log further out reads the matched route off it.
        scope[REQUEST_ID_KEY] = request_id
        peer = scope.get("client")
        if peer:
            address = client_address(
                peer[0], _header(scope, b"x-forwarded-for"), self.trusted_proxies
            )
            scope["client"] = (address, peer[1] if address == peer[0] else 0)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if _has_body(scope):
                scope, receive = await self._checked_body(scope, receive)
            await self.app(scope, receive, send_with_id)
        except _Refuse as refusal:
            if not started:
                await _reply(send_with_id, refusal.status, refusal.code, refusal.message)
        except _Gone:
            return
        except Exception as exc:  # the last line of defence: words, never the input
            tb = "".join(traceback.format_tb(exc.__traceback__))
            log.error(
                "request %s %s %s failed: %s\n%s",
                request_id,
                scope.get("method"),
                _safe_path(scope.get("path", "")),
                type(exc).__name__,
                tb,
            )
            if not started:
                await _reply(
                    send_with_id,
                    500,
                    "internal_error",
                    f"服务器内部错误，请稍后重试。如问题持续，请把编号 {request_id} 告诉管理员",
                    request_id=request_id,
                )

    async def _checked_body(self, scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
        policy = policy_for(scope.get("path", ""))
        media = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if media not in policy.content_types:
            raise _Refuse(415, "unsupported_media_type", "请求内容的类型不受支持")
        encoding = (_header(scope, b"content-encoding") or "identity").strip().lower()
        if encoding not in ("identity", "gzip"):
            raise _Refuse(415, "unsupported_encoding", "请求内容的压缩方式不受支持")
        if policy.authenticated and policy.credential == "api_key":
            await self._authenticate_key(scope)
        elif policy.authenticated:
            await self._authenticate(scope)
        elif self.open_body_seconds is not None:
            policy = replace(policy, read_seconds=self.open_body_seconds)
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise _Refuse(400, "bad_body", "请求头 Content-Length 无效") from None
            if size > policy.max_bytes:
                raise _Refuse(413, "too_large", _too_large(policy))
        body = await _read_body(receive, policy, gzip=encoding == "gzip")
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k not in (b"content-encoding", b"content-length", b"transfer-encoding")
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        scope = {**scope, "headers": headers}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return scope, replay

    async def _authenticate(self, scope: Scope) -> None:
        from server.auth import user_for_token

        header = _header(scope, b"authorization") or ""
        kind, _, token = header.partition(" ")
        token = token.strip()
        if kind.lower() != "bearer" or not token:
            raise _Refuse(401, "unauthorized", "请先登录")
        factory = scope["app"].state.db

        def look_up() -> Any:
            with factory() as db:
                return user_for_token(db, token)

        user = await run_in_threadpool(look_up)
        if user is None:
            raise _Refuse(401, "unauthorized", "登录已失效，请重新登录")
        scope[USER_SCOPE_KEY] = (token, user)

    async def _authenticate_key(self, scope: Scope) -> None:
        from server.services.intake import check_key

        header = _header(scope, b"authorization") or ""
        factory = scope["app"].state.db

        def look_up() -> Any:
            with factory() as db:
                return check_key(db, header)

        try:
            key = await run_in_threadpool(look_up)
        except ApiError as exc:
            raise _Refuse(exc.status, exc.code, exc.message) from None
        scope[KEY_SCOPE_KEY] = (header, key)


def _too_large(policy: Policy) -> str:
    limit = policy.max_inflated
    size = f"{limit // MB} MB" if limit >= MB else f"{limit // KB} KB"
    return f"请求内容过大（此接口最多接受 {size}）"


async def _read_body(receive: Receive, policy: Policy, *, gzip: bool) -> bytes:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.read_seconds
    inflater = BodyInflater(policy.max_inflated) if gzip else None
    parts: list[bytes] = []
    wire = 0
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise _Refuse(408, "body_timeout", "请求内容发送超时，请检查网络后重试")
        try:
            message = await asyncio.wait_for(receive(), remaining)
        except TimeoutError:
            raise _Refuse(408, "body_timeout", "请求内容发送超时，请检查网络后重试") from None
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk = message.get("body", b"")
        wire += len(chunk)
        if wire > policy.max_bytes:
            raise _Refuse(413, "too_large", _too_large(policy))
        if inflater is not None:
            try:
                chunk = inflater.feed(chunk)
            except TooLarge:
                raise _Refuse(413, "too_large", _too_large(policy)) from None
            except BadGzip:
                raise _Refuse(400, "bad_body", "请求内容的压缩格式有误") from None
        elif wire > policy.max_inflated:
            raise _Refuse(413, "too_large", _too_large(policy))
        parts.append(chunk)
        if not message.get("more_body"):
            break
    if inflater is not None:
        try:
            inflater.finish()
        except BadGzip:
            raise _Refuse(400, "bad_body", "请求内容的压缩格式有误") from None
    return b"".join(parts)


async def _reply(send: Send, status: int, code: str, message: str, **extra: Any) -> None:
    body = json.dumps({"detail": message, "code": code, **extra}, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    # The rest of a refused body may still be on its way: it is not read, the connection
    # is closed after the answer.
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- uvicorn ------------------------------------------------------------------------------

HEADER_TIMEOUT = 10.0
"""A request's line and headers must have arrived this many seconds after its first byte
(or after the connection opened): a client that trickles headers is cut off."""


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request line and headers (uvicorn
    only times out idle keep-alive connections)."""

    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_header_timer()
        else:
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        self._disarm_header_timer()  # idle between requests: the keep-alive timeout rules
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and (
            self.cycle is None or self.cycle.response_complete
        ):
            self.transport.close()


def uvicorn_options(settings: ServerSettings, *, workers: int = 1) -> dict[str, Any]:
    """Settings for ``uvicorn.run`` / ``uvicorn.Config`` that go with :class:`RequestLimits`.

    With several workers uvicorn pickles its configuration into each worker process,
    so the protocol is named by its import path there and keeps the default header
    deadline; one process gets a subclass carrying the configured deadline.
    """
    protocol: Any = "server.limits:GuardedH11Protocol"
    if workers == 1:
        protocol = type(
            "GuardedH11Protocol",
            (GuardedH11Protocol,),
            {"header_timeout": settings.header_timeout_seconds},
        )
    return {
        "http": protocol,
        "timeout_keep_alive": 5,
        # Each signed-in client holds one long poll open; this caps what one process serves.
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": 16 * KB,
        # Our middleware decides which proxies to believe (BANGBAN_TRUSTED_PROXIES).
        "proxy_headers": False,
        "server_header": False,
    }
