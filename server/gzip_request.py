"""Accept gzip-compressed request bodies (clients compress large outbox pushes)."""

from __future__ import annotations

import zlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 32 * 1024 * 1024


class GzipRequestMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-encoding", b"").lower() != b"gzip":
            await self.app(scope, receive, send)
            return
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                await _reply(send, 413, "请求内容过大")
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        try:
            body = _inflate(b"".join(chunks))
        except _TooLarge:
            await _reply(send, 413, "请求内容过大")
            return
        except (OSError, EOFError, zlib.error):
            await _reply(send, 400, "请求内容的压缩格式有误")
            return
        new_headers = [
            (k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")
        ]
        new_headers.append((b"content-length", str(len(body)).encode()))
        scope = dict(scope, headers=new_headers)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class _TooLarge(Exception):
    pass


def _inflate(data: bytes) -> bytes:
    """Decompress one gzip body, refusing one that inflates past ``MAX_BODY`` (a few
    kilobytes of gzip can expand to gigabytes)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    body = inflater.decompress(data, MAX_BODY + 1)
    if len(body) > MAX_BODY or inflater.unconsumed_tail:
        raise _TooLarge
    if not inflater.eof:
        raise EOFError("truncated gzip body")
    return body


async def _reply(send: Send, status: int, message: str) -> None:
    import json

    body = json.dumps({"detail": message, "code": "bad_body"}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
