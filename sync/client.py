"""HTTP client of the central server (requests), with timeouts on every call.

Every failure becomes a :class:`sync.errors.SyncError` with a message in Chinese;
callers never see a requests exception or a traceback.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError

from core import PROTOCOL_VERSION
from sync.errors import (
    AuthError,
    BadResponse,
    CursorExpired,
    Forbidden,
    IncompatibleServer,
    Refused,
    ServerBusy,
    ServerUnreachable,
    SyncError,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
TOTAL_TIMEOUT = 180.0
"""The longest one call may take from start to the last byte (a page on a slow link)."""
PROBE_TIMEOUT = (2.0, 3.0)
"""A health probe while offline: short, so that the link's return is noticed quickly."""
GZIP_REQUEST_MIN = 2048


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    display_name: str
    role: str
    team_id: str | None
    staff_number: str = ""

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> UserInfo:
        return cls(
            id=int(data["id"]),
            username=str(data["username"]),
            display_name=str(data["display_name"]),
            role=str(data["role"]),
            team_id=data.get("team_id"),
            staff_number=str(data.get("staff_number") or ""),
        )


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: datetime
    user: UserInfo
    refresh_token: str | None = None
    server_id: str = ""
    """The server's identity from its health check (empty from a server that has none)."""


@dataclass(frozen=True)
class ChangesPage:
    changes: list[dict[str, Any]]
    cursor: int
    has_more: bool
    horizon: int | None = None
    """The server's tombstone horizon; sent back with the next page (see ``changes``)."""


def _timed_out(exc: BaseException) -> bool:
    """Whether a requests error wraps a read timeout (requests raises ConnectionError,
    not Timeout, when the body stalls while it is streamed)."""
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, ReadTimeoutError)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ApiClient:
    """One server, one (optional) bearer token. Thread-safe for sequential use per thread.

    With a refresh token (from :meth:`login`, or the keyring via ``refresh_token=``), a
    call answered 401 renews the bearer token once (:meth:`refresh`) and is sent again;
    ``on_refresh_token`` is told each new refresh token (None: it is gone) so that it
    can be kept (``sync.credentials``). Renewals are serialised: a refresh token may be
    used only once, and a second use would end the sign-in.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        total_timeout: float = TOTAL_TIMEOUT,
        refresh_token: str | None = None,
        on_refresh_token: Callable[[str | None], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.refresh_token = refresh_token
        self.on_refresh_token = on_refresh_token
        self._renewing = threading.Lock()
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.server_id = ""
        """The ``server_id`` of the last health check (DESIGN.md §4)."""
        self._http = requests.Session()
        self._http.headers["Accept-Encoding"] = "gzip"
        self._http.headers["User-Agent"] = "BangbanDesk/0.1"

    def close(self) -> None:
        self._http.close()

    # -- plumbing -------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        timeout: tuple[float, float] | None = None,
        deadline: float | None = None,
        auth: bool = True,
        raw: bool = False,
    ) -> Any:
        """One call. ``timeout`` bounds connecting and each read; ``deadline`` (seconds)
        bounds the whole call, so a link that trickles a byte now and then cannot hold
        a sync for ever. A 401 renews the token once when a refresh token is at hand."""
        sent_with = self.token
        try:
            return self._send(
                method,
                path,
                params=params,
                body=body,
                timeout=timeout,
                deadline=deadline,
                auth=auth,
                raw=raw,
            )
        except AuthError:
            if not (auth and self.refresh_token):
                raise
        with self._renewing:
            if self.token == sent_with:  # nobody renewed it meanwhile
                self._refresh_now()
        return self._send(
            method,
            path,
            params=params,
            body=body,
            timeout=timeout,
            deadline=deadline,
            auth=auth,
            raw=raw,
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        body: Any,
        timeout: tuple[float, float] | None,
        deadline: float | None,
        auth: bool,
        raw: bool = False,
    ) -> Any:
        url = f"{self.base_url}/api/v1{path}"
        headers: dict[str, str] = {}
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
            if len(data) >= GZIP_REQUEST_MIN:
                data = gzip.compress(data, compresslevel=5)
                headers["Content-Encoding"] = "gzip"
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        give_up = time.monotonic() + (deadline or self.total_timeout)
        try:
            response = self._http.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                timeout=timeout or self.timeout,
                stream=True,
            )
            try:
                content = self._read(response, give_up)
            finally:
                response.close()
        except requests.exceptions.Timeout as exc:
            raise ServerUnreachable("服务器响应超时，请检查网络", code="timeout") from exc
        except requests.exceptions.InvalidURL as exc:
            raise ServerUnreachable(f"服务器地址无效：{self.base_url}") from exc
        except requests.exceptions.MissingSchema as exc:
            raise ServerUnreachable(
                f"服务器地址应以 http:// 或 https:// 开头：{self.base_url}"
            ) from exc
        except requests.exceptions.ContentDecodingError as exc:
            raise BadResponse("服务器返回的压缩数据已损坏，稍后自动重试") from exc
        except requests.exceptions.ChunkedEncodingError as exc:
            if _timed_out(exc):
                raise ServerUnreachable("服务器响应超时，请检查网络", code="timeout") from exc
            raise ServerUnreachable("与服务器的连接中断，稍后自动重试") from exc
        except requests.exceptions.ConnectionError as exc:
            if _timed_out(exc):
                raise ServerUnreachable("服务器响应超时，请检查网络", code="timeout") from exc
            raise ServerUnreachable("无法连接服务器，请检查网络或服务器地址") from exc
        except requests.exceptions.RequestException as exc:
            raise ServerUnreachable(f"网络错误：{exc.__class__.__name__}") from exc
        if raw and response.status_code < 300:
            return content
        return self._decode(response, content)

    @staticmethod
    def _read(response: requests.Response, give_up: float) -> bytes:
        """The whole (decompressed) body, or a timeout once ``give_up`` has passed.

        Reads whatever each packet brings (``read1``), not fixed-size chunks: a fixed
        read waits until the chunk is full, and a link that trickles a byte at a time
        would never reach the check."""
        raw = response.raw
        read1 = getattr(raw, "read1", None)
        chunks: list[bytes] = []
        if read1 is None:  # urllib3 1.x: fixed chunks, checked as they come
            for chunk in response.iter_content(16 * 1024):
                chunks.append(chunk)
                if time.monotonic() > give_up:
                    raise requests.exceptions.ReadTimeout("the whole call took too long")
            return b"".join(chunks)
        try:
            while chunk := read1(64 * 1024, decode_content=True):
                chunks.append(chunk)
                if time.monotonic() > give_up:
                    raise requests.exceptions.ReadTimeout("the whole call took too long")
        except requests.exceptions.RequestException:
            raise  # our own deadline (a RequestException is an OSError too)
        except ReadTimeoutError as exc:
            raise requests.exceptions.ReadTimeout(str(exc)) from exc
        except DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(str(exc)) from exc
        except (ProtocolError, OSError) as exc:
            raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc
        return b"".join(chunks)

    def _decode(self, response: requests.Response, content: bytes) -> Any:
        status = response.status_code
        try:
            payload = json.loads(content) if content else None
        except (ValueError, UnicodeDecodeError):
            payload = None
        detail = payload.get("detail") if isinstance(payload, dict) else None
        code = payload.get("code", "") if isinstance(payload, dict) else ""
        if not isinstance(detail, str):
            detail = None
        if status >= 500 or status in (408, 429):
            raise ServerBusy(
                detail or f"服务器暂时不可用（{status}），稍后自动重试",
                status=status,
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if status == 204:
            return None  # done, nothing to say (sign-out)
        if payload is None:
            kind = response.headers.get("Content-Type", "未知类型").split(";")[0]
            raise BadResponse(
                f"服务器返回了无法识别的内容（{status}，{kind}），可能是代理或网关的错误页",
                status=status,
            )
        if status == 401:
            raise AuthError(detail or "登录已失效，请重新登录", status=status, code=code)
        if status == 403:
            raise Forbidden(detail or "您的角色无权进行此操作", status=status, code=code)
        if status == 410:
            raise CursorExpired(detail or "本地缓存过旧，需要重新下载", status=status, code=code)
        if status >= 400:
            raise Refused(detail or f"服务器拒绝了请求（{status}）", status=status, code=code)
        return payload

    @staticmethod
    def _expect(payload: Any, *keys: str) -> dict[str, Any]:
        if not isinstance(payload, dict) or any(k not in payload for k in keys):
            raise BadResponse("服务器返回的数据格式不对，可能不是帮办工作台服务器")
        return payload

    # -- the API --------------------------------------------------------------------------

    def health(self, timeout: tuple[float, float] | None = None) -> dict[str, Any]:
        """Check that this is a compatible server (``timeout``: shorter for a probe)."""
        payload = self._expect(
            self._request(
                "GET",
                "/health",
                auth=False,
                timeout=timeout,
                deadline=sum(timeout) if timeout else None,
            ),
            "status",
        )
        protocol = payload.get("protocol")
        if payload.get("status") != "ok" or protocol != PROTOCOL_VERSION:
            raise IncompatibleServer(
                f"服务器版本不兼容（服务器 {payload.get('version', '未知')}，"
                f"协议 {protocol}；本程序需要协议 {PROTOCOL_VERSION}），请联系管理员"
            )
        self.server_id = str(payload.get("server_id") or "")
        return payload

    def login(self, username: str, password: str) -> LoginResult:
        self.health()
        payload = self._request(
            "POST", "/auth/login", body={"username": username, "password": password}, auth=False
        )
        return self._signed_in(payload, "登录")

    def refresh(self) -> LoginResult:
        """A new bearer token for the refresh token (which is replaced by a new one).
        Raises :class:`AuthError` when the sign-in has ended (then the password is needed)."""
        with self._renewing:
            return self._refresh_now()

    def _refresh_now(self) -> LoginResult:
        if not self.refresh_token:
            raise AuthError("登录已失效，请重新登录")
        try:
            payload = self._send(
                "POST",
                "/auth/refresh",
                params=None,
                body={"refresh_token": self.refresh_token},
                timeout=None,
                deadline=None,
                auth=False,
            )
        except AuthError:
            self.token = None
            self._keep_refresh_token(None)
            raise
        return self._signed_in(payload, "续期")

    def logout(self) -> bool:
        """Sign out on the server (the bearer and the refresh token stop working) and
        forget both here. The local part happens even when the server cannot be told.

        True when the server revoked them; False when it has no such route (404) or
        the sign-in had already lapsed (401). Network errors are raised.
        """
        revoked = False
        try:
            if self.token:
                body = {"refresh_token": self.refresh_token} if self.refresh_token else None
                # An expired bearer token is renewed first; the server then ends the
                # whole family of the refresh token sent (the spent one names it).
                try:
                    self._request(
                        "POST", "/auth/logout", body=body, timeout=(2.0, 5.0), deadline=8.0
                    )
                    revoked = True
                except AuthError:  # already ended: nothing to end
                    pass
                except Refused as exc:
                    if exc.status != 404:
                        raise
        finally:
            self.token = None
            self._keep_refresh_token(None)
        return revoked

    def _signed_in(self, payload: Any, what: str) -> LoginResult:
        payload = self._expect(payload, "access_token", "user", "expires_at")
        try:
            refresh = payload.get("refresh_token")
            result = LoginResult(
                token=str(payload["access_token"]),
                expires_at=datetime.fromisoformat(str(payload["expires_at"])),
                user=UserInfo.from_wire(payload["user"]),
                refresh_token=str(refresh) if refresh else None,
                server_id=self.server_id,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadResponse(f"服务器返回的{what}结果格式不对") from exc
        self.token = result.token
        self._keep_refresh_token(result.refresh_token)
        return result

    def _keep_refresh_token(self, token: str | None) -> None:
        self.refresh_token = token
        if self.on_refresh_token is not None:
            try:
                self.on_refresh_token(token)
            except Exception:  # keeping it is a convenience; signing in must not fail
                log.exception("could not keep the refresh token")

    def me(self) -> UserInfo:
        try:
            return UserInfo.from_wire(self._expect(self._request("GET", "/auth/me"), "id"))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadResponse("服务器返回的用户信息格式不对") from exc

    def changes(
        self, since: int, limit: int | None = None, horizon: int | None = None
    ) -> ChangesPage:
        """One page after ``since``. ``horizon`` is the horizon of the page that gave
        ``since``: it tells the server that a cursor below its horizon belongs to a
        download from 0 that began under that horizon, not to a stale cache."""
        params: dict[str, Any] = {"since": since}
        if limit:
            params["limit"] = limit
        if horizon is not None:
            params["horizon"] = horizon
        payload = self._expect(
            self._request("GET", "/sync/changes", params=params), "changes", "cursor", "has_more"
        )
        changes = payload["changes"]
        if not isinstance(changes, list) or not all(
            isinstance(c, dict)
            and isinstance(c.get("kind"), str)
            and isinstance(c.get("id"), str | int)
            and (c.get("data") is None or isinstance(c.get("data"), dict))
            for c in changes
        ):
            raise BadResponse("服务器返回的同步数据格式不对")
        try:
            cursor = int(payload["cursor"])
            known = payload.get("horizon")
            page_horizon = None if known is None else int(known)
        except (TypeError, ValueError) as exc:
            raise BadResponse("服务器返回的同步游标无效") from exc
        return ChangesPage(changes, cursor, bool(payload["has_more"]), page_horizon)

    def push(self, mutations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        payload = self._expect(
            self._request("POST", "/sync/mutations", body={"mutations": mutations}), "results"
        )
        results = payload["results"]
        if not isinstance(results, list) or not all(
            isinstance(r, dict) and "mutation_id" in r and "status" in r for r in results
        ):
            raise BadResponse("服务器返回的提交结果格式不对")
        return results

    def events(self, after: int, wait: float) -> dict[str, Any]:
        """Long-poll for events after ``after``; returns ``{events, last}``."""
        payload = self._expect(
            self._request(
                "GET",
                "/events",
                params={"after": after, "wait": wait},
                timeout=(self.timeout[0], wait + self.timeout[1]),
                deadline=wait + self.timeout[0] + self.timeout[1],
            ),
            "events",
            "last",
        )
        return payload

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params or None)

    def post(self, path: str, body: Any = None) -> Any:
        return self._request("POST", path, body=body)

    def put(self, path: str, body: Any = None) -> Any:
        return self._request("PUT", path, body=body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self._request("PATCH", path, body=body)

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)

    def download(self, path: str, **params: Any) -> bytes:
        """A file the server makes (a CSV export): the body as it is; errors as usual."""
        return bytes(self._request("GET", path, params=params or None, raw=True))


__all__ = ["ApiClient", "ChangesPage", "LoginResult", "SyncError", "UserInfo"]
