"""Server tests run against SQLite and, where the run provides one, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.support import LiveServer, start_live_server

PG_URL = os.environ.get("BANGBAN_TEST_PG_URL", "")


def _admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A seeded PostgreSQL database used as the template of each test's database."""
    if not PG_URL:
        pytest.skip("PostgreSQL not provided (set BANGBAN_TEST_PG_URL; .ci/run does)")
    from server.db import make_engine, migrate, session_factory
    from server.seed import seed_demo

    name = f"bangban_tmpl_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate(engine)
    with session_factory(engine)() as db:
        seed_demo(db)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh seeded database: a SQLite file, or a PostgreSQL database from the template."""
    if request.param == "sqlite":
        yield request.getfixturevalue("server_db")
        return
    template = request.getfixturevalue("pg_template")
    name = f"bangban_t_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def live_server_with(server_url: str) -> Iterator[Callable[..., LiveServer]]:
    """Start live servers on the test's database with settings of the test's choosing
    (several may share the database, as several server processes do)."""
    started: list[LiveServer] = []

    def start(**settings: Any) -> LiveServer:
        server = start_live_server(server_url, **settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def live_server(live_server_with: Callable[..., LiveServer]) -> LiveServer:
    return live_server_with()
