"""Dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session as DbSession

from server.config import ServerSettings


def get_db(request: Request) -> Iterator[DbSession]:
    with request.app.state.db() as db:
        yield db


def get_settings(request: Request) -> ServerSettings:
    return request.app.state.settings
