"""The FastAPI application of the central server."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core import APP_VERSION
from server import caller_pages, logs, metrics, openapi_doc, share_pages
from server.api import admin, audit, auth, events, health, intake, sync, team
from server.api import knowledge as knowledge_routes
from server.api import public as public_routes
from server.api import sessions as session_routes
from server.api import settings as settings_routes
from server.api import share as share_routes
from server.api import walkthroughs as walkthrough_routes
from server.config import ServerSettings
from server.db import head_revisions, make_engine, migrate, session_factory
from server.errors import ApiError
from server.limits import RequestLimits, parse_networks
from server.services import (
    dispatch,
    registry,  # noqa: F401  (registers mutation handlers)
)
from server.services.callbacks import WAKE_INFO, Deliverer
from server.services.events import BUS_INFO, EventBus, PgListener
from server.services.identity import ensure_server_id


def _answer_polls_on_stop(bus: EventBus) -> None:
    """On SIGTERM/SIGINT answer the open long polls at once.

    uvicorn waits for open requests before it runs the lifespan's shutdown, so closing
    the bus there would come too late: every poll would be cancelled after the grace
    period instead of being answered. Signals are only handled on the main thread
    (a server in a test thread keeps uvicorn's handling as it is).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            # No lock may be taken inside a signal handler: hand the close to the loop.
            loop.call_soon_threadsafe(bus.close)
            previous(signum, frame)

        signal.signal(sig, handler)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Per process: the PostgreSQL listener runs while the app serves."""
    _answer_polls_on_stop(app.state.events)
    listener: PgListener | None = None
    if app.state.engine.dialect.name == "postgresql":
        listener = PgListener(app.state.settings.database_url, app.state.events)
        listener.start()
    app.state.listener = listener
    deliverer: Deliverer = app.state.deliverer
    if app.state.settings.webhooks_enabled:
        deliverer.start()  # callbacks to other systems (services/callbacks.py)
    try:
        yield
    finally:
        app.state.events.close()
        deliverer.stop()
        if listener is not None:
            listener.stop()
        metrics.worker_exited()


def create_app(settings: ServerSettings | None = None, *, run_migrations: bool = True) -> FastAPI:
    """Build the app for ``settings``; the database is migrated to the newest schema."""
    settings = settings or ServerSettings()
    engine = make_engine(settings.database_url)
    if run_migrations:
        migrate(engine)
    app = FastAPI(
        title="Bangban Desk central server",
        version=APP_VERSION,
        description="帮办工作台中心服务器：登录、同步、会话与屏幕共享。",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.schema_heads = head_revisions(engine)
    app.state.db = session_factory(engine)
    if run_migrations:
        app.state.server_id = ensure_server_id(app.state.db)
    app.state.events = EventBus()
    # Mutation handlers read settings (capacity, deadlines) from their session's info;
    # the commit hook of ``publish`` wakes this process's polls through the bus.
    app.state.deliverer = Deliverer(app.state.db, settings)
    app.state.db.configure(
        info={"settings": settings, BUS_INFO: app.state.events, WAKE_INFO: app.state.deliverer}
    )
    dispatch.install(app)  # event polls count as heartbeats (presence, auto-assignment)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    app.add_middleware(metrics.MetricsMiddleware)
    # Outermost: the caller's address, content types, tokens and body caps are checked
    # before anything reads, inflates or parses a body (server/limits.py).
    app.add_middleware(
        RequestLimits,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        open_body_seconds=settings.open_body_seconds,
    )
    logs.install(app, settings.log_level)  # outermost: JSON request lines, X-Request-Id

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = dict(exc.headers)
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Name the field, never repeat what was sent (a password, a megabyte of text).
        errors = [
            {
                "loc": [str(part)[:64] for part in error.get("loc", ())][:8],
                "type": str(error.get("type", ""))[:64],
            }
            for error in exc.errors()[:20]
        ]
        fields = "、".join(
            ".".join(e["loc"][1:] if len(e["loc"]) > 1 else e["loc"]) for e in errors[:5]
        )
        return JSONResponse(
            {
                "detail": f"请求内容不完整或格式不对：{fields}" if fields else "请求内容格式不对",
                "code": "invalid_request",
                "errors": errors,
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        messages = {404: "没有这个地址", 405: "不支持这种请求方式"}
        return JSONResponse(
            {"detail": messages.get(exc.status_code, str(exc.detail)), "code": "http_error"},
            status_code=exc.status_code,
        )

    for router in (
        health.router,
        auth.router,
        sync.router,
        events.router,
        team.router,
        admin.router,
        settings_routes.router,
        audit.router,
        walkthrough_routes.router,
        intake.router,
        intake.admin_router,
        share_routes.router,
        session_routes.router,
        knowledge_routes.router,
        public_routes.router,
    ):
        app.include_router(router, prefix="/api/v1")
    app.include_router(share_pages.router)  # the caller's join pages: /j, /j/<code>
    app.include_router(caller_pages.router)  # online consultation: /c, /c/<token>, /r/<token>
    app.include_router(health.metrics_router)  # /metrics (Prometheus)
    openapi_doc.install(app)  # refusals documented in the shape they are answered in
    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process (``uvicorn --factory``): settings from ``BANGBAN_*``.

    The parent (``python -m server run --workers N``) has already migrated the database.
    """
    return create_app(ServerSettings(), run_migrations=False)
