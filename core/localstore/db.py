"""Opening the local cache: WAL, migrations, and recovery from a corrupt file."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


class CacheError(Exception):
    """The cache cannot be used (message in Chinese)."""


@dataclass
class OpenedCache:
    """An opened cache; ``moved_aside`` names a corrupt file that was replaced."""

    engine: Engine
    sessions: sessionmaker[Session]
    path: Path
    moved_aside: Path | None = None


def _engine(path: Path) -> Engine:
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA cache_size=-32000")
        # Deleted rows are overwritten with zeros: a sent action's payload (a caller's
        # number typed in by hand) does not linger in the file's free pages.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    return engine


def _check_file(path: Path) -> None:
    """Raise CacheError when the file is not a healthy SQLite database."""
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        connection = sqlite3.connect(path)
        try:
            row = connection.execute("PRAGMA quick_check").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise CacheError(f"本地缓存文件已损坏：{exc}") from exc
    if row is None or row[0] != "ok":
        raise CacheError(f"本地缓存文件已损坏：{row[0] if row else '无法检查'}")


def _move_aside(path: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            src.rename(Path(str(target) + suffix))
    return target


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Upgrade to the newest revision; skips Alembic's machinery when already there."""
    config = alembic_config(engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        command.upgrade(config, "head")
        # A revision may have scrubbed data (0003): drop the old page images in the log.
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def open_cache(path: Path) -> OpenedCache:
    """Open (creating or migrating) the cache at ``path``.

    A corrupt file is moved aside (``<name>.corrupt-<time>``) and a fresh cache is
    created, to be filled again from the server; the caller tells the person.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    moved: Path | None = None
    try:
        _check_file(path)
    except CacheError as exc:
        log.warning("cache %s unusable (%s); moving it aside", path, exc)
        moved = _move_aside(path)
    engine = _engine(path)
    try:
        migrate(engine)
    except Exception as exc:  # a file that opens but cannot be migrated is as bad as corrupt
        if moved is not None:
            raise CacheError(f"无法创建本地缓存：{exc}") from exc
        log.warning("cache %s cannot be migrated (%s); moving it aside", path, exc)
        engine.dispose()
        moved = _move_aside(path)
        engine = _engine(path)
        migrate(engine)
    return OpenedCache(engine, sessionmaker(engine, expire_on_commit=False), path, moved)
