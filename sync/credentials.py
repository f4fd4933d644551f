"""Where the client keeps its refresh token between runs: the OS keyring (Windows
Credential Manager, macOS Keychain, the Secret Service on Linux) through ``keyring``,
or, where no keyring answers, a file under the client's home that only the user may
read (0600). The password itself is never stored, and not kept in memory after login.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from core.settings import data_dir

log = logging.getLogger(__name__)

SERVICE = "bangban-desk"
FILE_NAME = "credentials.json"


def _key(server_url: str, username: str) -> str:
    return f"{server_url.rstrip('/')}|{username}"


def default_backend() -> Any | None:
    """The OS keyring, or None where there is none (``keyring``'s fail backend, or the
    package missing, or ``BANGBAN_KEYRING=file``)."""
    if os.environ.get("BANGBAN_KEYRING", "").lower() == "file":
        return None
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        return None
    return backend


class CredentialStore:
    """Refresh tokens per server and username.

    Args:
        path: the fallback file (default ``<data dir>/credentials.json``).
        backend: a ``keyring`` backend; ``"auto"`` asks :func:`default_backend`, None
            uses the file only. A backend that fails (no D-Bus session, a locked
            keychain) is given up for the file, for the life of this store.
    """

    def __init__(self, path: Path | None = None, backend: Any = "auto") -> None:
        self.path = path or data_dir() / FILE_NAME
        self.backend = default_backend() if backend == "auto" else backend
        self._lock = threading.Lock()

    @property
    def uses_keyring(self) -> bool:
        return self.backend is not None

    def save(self, server_url: str, username: str, token: str | None) -> None:
        """Keep ``token`` (None forgets it)."""
        if token is None:
            self.forget(server_url, username)
            return
        key = _key(server_url, username)
        with self._lock:
            if self._keyring_call("set_password", SERVICE, key, token):
                self._write_file_entry(key, None)  # no second copy on disk
                return
            self._write_file_entry(key, token)

    def load(self, server_url: str, username: str) -> str | None:
        key = _key(server_url, username)
        with self._lock:
            if self.backend is not None:
                found = self._keyring_call("get_password", SERVICE, key)
                if isinstance(found, str) and found:
                    return found
            return self._read_file().get(key)

    def forget(self, server_url: str, username: str) -> None:
        key = _key(server_url, username)
        with self._lock:
            if self.backend is not None:
                self._keyring_call("delete_password", SERVICE, key)
            self._write_file_entry(key, None)

    # -- the keyring --------------------------------------------------------------------

    def _keyring_call(self, name: str, *args: str) -> Any:
        """Call the backend; False when there is none or it failed (then the file is used)."""
        if self.backend is None:
            return False
        try:
            result = getattr(self.backend, name)(*args)
        except Exception as exc:  # keyring errors, D-Bus errors, a locked keychain …
            if name == "delete_password" and type(exc).__name__ == "PasswordDeleteError":
                return True  # nothing to delete
            log.warning("keyring unavailable (%s); using the credentials file", type(exc).__name__)
            self.backend = None
            return False
        return True if result is None else result

    # -- the file ------------------------------------------------------------------------

    def _read_file(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("credentials file unreadable; ignoring it")
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}

    def _write_file_entry(self, key: str, token: str | None) -> None:
        data = self._read_file()
        if token is None:
            if key not in data:
                return
            data.pop(key)
        else:
            data[key] = token
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(self.path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        # Created 0600 from the start: never readable by others, not even for a moment.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(temp, self.path)
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)
