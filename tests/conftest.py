"""Shared fixtures: a seeded server database template, a live server on loopback,
and client files redirected to ``tmp_path``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import LiveServer, start_live_server


@pytest.fixture(autouse=True)
def _client_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("BANGBAN_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo-seeded SQLite server database, built once per test run."""
    from server.db import make_engine, migrate, session_factory
    from server.seed import seed_demo

    path = tmp_path_factory.mktemp("template") / "server.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with session_factory(engine)() as db:
        seed_demo(db)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def server_db(seeded_template: Path, tmp_path: Path) -> str:
    """A fresh copy of the seeded database for one test."""
    target = tmp_path / "server.sqlite3"
    shutil.copy(seeded_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def live_server(server_db: str) -> Iterator[LiveServer]:
    server = start_live_server(server_db)
    try:
        yield server
    finally:
        server.stop()
