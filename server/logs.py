"""The server's logs: JSON lines, one per request and one per log call, masked.

:class:`MaskingFilter` sits on the handler, so *every* record that reaches it is
masked, whoever logged it and however carelessly: callers' mobile and ID numbers
(``core.masking.mask_text``), passwords, bearer tokens and ``token=`` values, in the
message, its arguments and the traceback. :class:`RequestLogMiddleware` writes one
``request`` line per HTTP request (request id, user id, method, route template,
status, latency in ms; never a body, a query string or a raw path) and answers every
request with ``X-Request-Id`` (the caller's own when it sends a sane one).

``configure()`` installs the handler on the root logger once (``create_app`` and
``python -m server run`` call it); ``handler()`` is that handler.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import IO, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.masking import mask_text

ACCESS = logging.getLogger("bangban.access")

_FIELDS = ("request_id", "user_id", "method", "route", "status", "latency_ms")
_SECRET = re.compile(
    r"""(?ix)
    (?P<key>
        \b(?:password|passwd|new_password|old_password|secret|app_secret|token|access_token|
            refresh_token|api_key|authorization)\b
        ["']?\s*[:=]\s*["']?
    )
    (?P<value>[^\s"'&,;}]+)
    """
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def mask_secrets(text: str) -> str:
    """Mask callers' numbers, passwords and tokens in any text."""
    text = _BEARER.sub(lambda m: f"{m.group(1)} ***", text)
    text = _SECRET.sub(lambda m: m.group("key") + "***", text)
    return mask_text(text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return mask_secrets(repr(value))


class MaskingFilter(logging.Filter):
    """Renders a record's message with its arguments, then masks it (and the fields
    the request line carries, and a traceback) before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string still gets logged, masked
            message = f"{record.msg!r} {record.args!r}"
        record.msg = mask_secrets(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters print ``exc_text`` when it is set, so the masked text is what
            # every handler shows; ``exc_info`` stays for handlers that look at it.
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        for name in _FIELDS:
            if hasattr(record, name):
                setattr(record, name, _clean(getattr(record, name)))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the request fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_text:
            line["error"] = record.exc_text
        elif record.exc_info:
            line["error"] = mask_secrets(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


_HANDLER_MARK = "_bangban_json"


def handler() -> logging.Handler | None:
    for h in logging.getLogger().handlers:
        if getattr(h, _HANDLER_MARK, False):
            return h
    return None


def configure(level: str | int = "info", stream: IO[str] | None = None) -> logging.Handler:
    """Install the JSON handler (with its masking filter) on the root logger, once;
    a second call only changes the level (and the stream, when given)."""
    root = logging.getLogger()
    numeric = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    found = handler()
    if found is None:
        found = logging.StreamHandler(stream or sys.stderr)
        setattr(found, _HANDLER_MARK, True)
        found.setFormatter(JsonFormatter())
        found.addFilter(MaskingFilter())
        # Plain-text handlers of logging.basicConfig would print the same records unmasked.
        for old in list(root.handlers):
            if isinstance(old, logging.StreamHandler) and old.stream in (sys.stderr, sys.stdout):
                root.removeHandler(old)
        root.addHandler(found)
    elif stream is not None and isinstance(found, logging.StreamHandler):
        found.setStream(stream)
    root.setLevel(numeric)
    ACCESS.setLevel(logging.INFO)
    return found


def route_template(scope: Scope) -> str:
    """The matched route's template with the prefix it was included under
    (``/api/v1/sessions/{session_id}/share``), never the raw path; ``(unmatched)``.

    The route object knows its own template only relative to the router it was
    declared on, so the prefix is read off the path: what is left of it once the route's
    template, filled in with this request's path parameters, is taken off its end."""
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return "(unmatched)"
    rendered = template
    for name, value in (scope.get("path_params") or {}).items():
        rendered = re.sub(
            r"\{" + re.escape(name) + r"(:[^}]*)?\}", lambda _m, v=value: str(v), rendered
        )
    path = str(scope.get("path") or "")
    if path.endswith(rendered):
        return path[: len(path) - len(rendered)] + template
    return str(template)


class RequestLogMiddleware:
    """Request id in and out, and one access line per request (pure ASGI, so long polls
    and streamed answers pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1").strip()
                break
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        error: BaseException | None = None
        started_answer = False

        async def send_tracked(message: Message) -> None:
            nonlocal started_answer
            if message["type"] == "http.response.start":
                started_answer = True
            await send_with_id(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            error = exc
            if started_answer:
                raise
            # Answered here, so that even a crash carries the id to quote to support.
            body = json.dumps(
                {
                    "detail": "服务器内部错误，请稍后重试",
                    "code": "internal_error",
                    "request_id": request_id,
                },
                ensure_ascii=False,
            ).encode("utf-8")
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json; charset=utf-8")],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            state = scope.get("state") or {}
            ACCESS.log(
                logging.ERROR if error is not None or status >= 500 else logging.INFO,
                "request",
                exc_info=error,
                extra={
                    "request_id": request_id,
                    "user_id": state.get("user_id"),
                    "method": scope.get("method"),
                    "route": route_template(scope),
                    "status": 500 if error is not None else status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )


def install(app: Any, level: str | int = "info") -> None:
    """Configure logging (once) and add the request middleware to ``app``."""
    configure(level)
    app.add_middleware(RequestLogMiddleware)
