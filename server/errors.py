"""Errors the API answers with: a status, a stable code and a message in Chinese."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.errors = errors or {}
        """Field name → Chinese message, for a refusal that names several fields."""

    def body(self) -> dict[str, object]:
        """The JSON answer: ``detail`` and ``code``, and ``errors`` when fields are named."""
        answer: dict[str, object] = {"detail": self.message, "code": self.code}
        if self.errors:
            answer["errors"] = [{"field": k, "message": v} for k, v in self.errors.items()]
        return answer


def unauthorized(message: str = "登录已失效，请重新登录") -> ApiError:
    return ApiError(401, "unauthorized", message)


def forbidden(message: str = "您的角色无权进行此操作") -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(message: str = "找不到该记录") -> ApiError:
    return ApiError(404, "not_found", message)


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)
