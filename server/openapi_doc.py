"""The OpenAPI document as the server really answers.

FastAPI documents a 422 as its own ``HTTPValidationError`` (``detail`` a list), but
this server answers every refusal in one shape (``server/app.py``'s handlers and
``server.errors.ApiError``): ``{"detail": "<中文说明>", "code": "<stable code>", …}``.
:func:`install` makes the document say so: the 422 schema is replaced by
``ErrorOut``, and every operation declares ``4XX`` answers of that shape, so a client
generator (and the schemathesis run in ``tests/server/test_schemathesis.py``) can
rely on it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ERROR_OUT: dict[str, Any] = {
    "title": "ErrorOut",
    "type": "object",
    "description": "A refusal: the reason in Chinese for the person, and a stable code.",
    "properties": {
        "detail": {"type": "string", "description": "中文说明，可直接展示给用户"},
        "code": {"type": "string", "description": "stable machine-readable code"},
        "errors": {
            "type": "array",
            "items": {"type": "object"},
            "description": "for invalid_request: where the request was wrong",
        },
    },
    "required": ["detail", "code"],
    "additionalProperties": True,
}

_REF = {"$ref": "#/components/schemas/ErrorOut"}
EXTRA_SCHEMAS: dict[str, Any] = {}
"""Schemas of bodies a route reads itself (``server/api/intake.py``), by name."""


def document(app: FastAPI, base: Any) -> dict[str, Any]:
    schema: dict[str, Any] = base()
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorOut"] = ERROR_OUT
    components.update(EXTRA_SCHEMAS)
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "422" in responses:
                responses["422"] = {
                    "description": "请求内容不完整或格式不对",
                    "content": {"application/json": {"schema": _REF}},
                }
            responses.setdefault(
                "4XX",
                {
                    "description": "请求被拒绝（原因见 detail）",
                    "content": {"application/json": {"schema": _REF}},
                },
            )
    return schema


def install(app: FastAPI) -> None:
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, base)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
