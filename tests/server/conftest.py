"""Server tests run against SQLite and, where the run provides one, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

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
def live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    if request.param == "sqlite":
        url = request.getfixturevalue("server_db")
        server = start_live_server(url)
        yield server
        server.stop()
        return
    template = request.getfixturevalue("pg_template")
    name = f"bangban_t_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    server = start_live_server(url)
    try:
        yield server
    finally:
        server.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
