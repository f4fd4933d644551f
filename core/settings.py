"""Client settings: every setting declared once, with its default, in a typed object.

Persisted as JSON in the user config directory (``BANGBAN_HOME`` moves every file
of the client, which is how tests keep to ``tmp_path``). Window geometry lives in
QSettings in the UI; tokens are never written here.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir, user_data_dir

log = logging.getLogger(__name__)


def home() -> Path | None:
    value = os.environ.get("BANGBAN_HOME")
    return Path(value) if value else None


def data_dir() -> Path:
    base = home()
    path = base / "data" if base else Path(user_data_dir("bangban-desk", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    base = home()
    path = base / "config" if base else Path(user_config_dir("bangban-desk", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class ClientSettings:
    """What a staff member or an administrator can set on one machine."""

    server_url: str = ""
    """Empty: start the embedded demo server."""
    last_username: str = ""
    sync_interval_seconds: int = 60
    first_response_seconds: int = 60
    """The first-response target: waiting sessions turn amber near it and red past it."""
    reassign_accept_minutes: int = 5
    """The lead's return timer: alert when a reassigned session is not accepted by then."""
    rectification_working_days: int = 5
    page_limit: int = 1000
    notify_sound: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def path(cls) -> Path:
        return config_dir() / "settings.json"

    @classmethod
    def load(cls) -> ClientSettings:
        try:
            raw = json.loads(cls.path().read_text("utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("settings file unreadable (%s); using defaults", exc)
            return cls()
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known} if isinstance(raw, dict) else {}
        try:
            return cls(**values)
        except TypeError:
            return cls()

    def save(self) -> None:
        path = self.path()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2), "utf-8")
        tmp.replace(path)
