"""Liveness, readiness and metrics: what a load balancer and Prometheus ask."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from core import APP_VERSION, PROTOCOL_VERSION
from server import metrics
from server.db import current_revisions
from server.errors import ApiError
from server.services.identity import ensure_server_id

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])
metrics_router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> dict[str, object]:
    """Liveness, version and the server's identity (``server_id``), without authentication."""
    state = request.app.state
    server_id = getattr(state, "server_id", None)
    if server_id is None:
        server_id = state.server_id = ensure_server_id(state.db)
    return {
        "status": "ok",
        "version": APP_VERSION,
        "protocol": PROTOCOL_VERSION,
        "server_id": server_id,
    }


@router.get("/ready")
def ready(request: Request) -> dict[str, object]:
    """Readiness: the database answers and its schema is at this code's newest revision.

    Answers 503 otherwise, so a proxy or orchestrator sends no traffic here yet.
    """
    heads: set[str] = request.app.state.schema_heads
    try:
        current = current_revisions(request.app.state.engine)
    except Exception as exc:  # any failure to reach the database means "not ready"
        log.warning("readiness: database unreachable: %s", exc)
        raise ApiError(503, "database_unreachable", "无法连接数据库") from exc
    if current != heads:
        raise ApiError(
            503,
            "schema_outdated",
            f"数据库结构版本为 {'、'.join(sorted(current)) or '空'}，"
            f"需要 {'、'.join(sorted(heads))}，请先执行数据库迁移",
        )
    return {
        "status": "ready",
        "schema": sorted(current),
        "events_listening": bool(request.app.state.events.listening),
    }


@metrics_router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text exposition (all workers' figures when there are several)."""
    body, content_type = await run_in_threadpool(metrics.render, request.app.state.db)
    return Response(body, media_type=content_type)
