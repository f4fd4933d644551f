"""Gzip-compressed request bodies (clients compress large outbox pushes), inflated as they
arrive and refused the moment they grow past their route's limit.

``server.limits.RequestLimits`` feeds each received chunk to a :class:`BodyInflater`; a
few kilobytes of gzip can expand to gigabytes, so the inflated size is counted while it
is produced, never after.
"""

from __future__ import annotations

import zlib

MAX_BODY = 32 * 1024 * 1024
"""The most any route accepts once inflated (the sync push); most accept far less."""


class TooLarge(Exception):
    """The body (compressed or inflated) is larger than the route accepts."""


class BadGzip(Exception):
    """The body is not one well-formed gzip stream."""


class BodyInflater:
    """Inflate one gzip stream chunk by chunk, never producing more than ``limit`` bytes."""

    def __init__(self, limit: int = MAX_BODY) -> None:
        self.limit = limit
        self.size = 0
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, chunk: bytes) -> bytes:
        if not chunk:
            return b""
        if self._inflater.eof:
            raise BadGzip("data after the end of the gzip stream")
        try:
            out = self._inflater.decompress(chunk, self.limit - self.size + 1)
        except zlib.error as exc:
            raise BadGzip(str(exc)) from exc
        self.size += len(out)
        # A tail left unconsumed means the output limit stopped it: more is coming.
        if self.size > self.limit or self._inflater.unconsumed_tail:
            raise TooLarge
        if self._inflater.unused_data:
            raise BadGzip("data after the end of the gzip stream")
        return out

    def finish(self) -> None:
        if not self._inflater.eof:
            raise BadGzip("truncated gzip body")


def inflate(data: bytes, limit: int = MAX_BODY) -> bytes:
    """Decompress one whole gzip body (raises :class:`TooLarge` or :class:`BadGzip`)."""
    inflater = BodyInflater(limit)
    body = inflater.feed(data)
    inflater.finish()
    return body
