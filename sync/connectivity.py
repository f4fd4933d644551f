"""The connectivity state shown in the status bar: online / syncing / degraded / offline."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class ConnState(StrEnum):
    ONLINE = "online"
    SYNCING = "syncing"
    DEGRADED = "degraded"
    OFFLINE = "offline"

    @property
    def label(self) -> str:
        return {"online": "在线", "syncing": "同步中", "degraded": "网络不稳", "offline": "离线"}[
            self.value
        ]


@dataclass(frozen=True)
class Connectivity:
    """A snapshot of the link: state, last success, and the last error in words."""

    state: ConnState = ConnState.OFFLINE
    last_sync: datetime | None = None
    last_error: str = ""
    pending: int = 0
    failures: int = 0

    def syncing(self) -> Connectivity:
        return replace(self, state=ConnState.SYNCING)

    def succeeded(self, when: datetime, pending: int) -> Connectivity:
        return Connectivity(ConnState.ONLINE, when, "", pending, 0)

    def failed(self, message: str, *, reachable: bool) -> Connectivity:
        """A failure: ``reachable`` when the server answered (5xx, garbage) or the
        failures are still few; offline after repeated silence."""
        failures = self.failures + 1
        state = ConnState.DEGRADED if reachable or failures < 3 else ConnState.OFFLINE
        return replace(self, state=state, last_error=message, failures=failures)
