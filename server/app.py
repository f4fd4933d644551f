"""The FastAPI application of the central server."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core import APP_VERSION
from server import share_pages
from server.api import admin, auth, events, health, sync, team
from server.api import sessions as session_routes
from server.api import share as share_routes
from server.api import walkthroughs as walkthrough_routes
from server.config import ServerSettings
from server.db import make_engine, migrate, session_factory
from server.errors import ApiError
from server.gzip_request import GzipRequestMiddleware
from server.services import (
    dispatch,
    registry,  # noqa: F401  (registers mutation handlers)
)
from server.services.events import EventBus
from server.services.identity import ensure_server_id


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
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.db = session_factory(engine)
    # Mutation handlers read settings (capacity, deadlines) from their session's info.
    app.state.db.configure(info={"settings": settings})
    if run_migrations:
        app.state.server_id = ensure_server_id(app.state.db)
    app.state.events = EventBus()
    dispatch.install(app)  # event polls count as heartbeats (presence, auto-assignment)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    app.add_middleware(GzipRequestMiddleware)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            {"detail": exc.message, "code": exc.code}, status_code=exc.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {
                "detail": "请求内容不完整或格式不对",
                "code": "invalid_request",
                "errors": exc.errors(),
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
        walkthrough_routes.router,
        share_routes.router,
        session_routes.router,
    ):
        app.include_router(router, prefix="/api/v1")
    app.include_router(share_pages.router)  # the caller's join pages: /j, /j/<code>
    return app
