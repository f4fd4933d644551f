"""When to try the server next, and what the status bar says meanwhile.

A pure policy, so that it can be tested without a clock or Qt (``ui.sync_controller``
runs it with a QTimer):

- after a successful round, the next round comes after the regular interval;
- when the server cannot be reached at all (no route, refused, timed out), the next
  step is a cheap health probe, repeated with full-jitter backoff capped at a few
  seconds, so that the return of the link is noticed within seconds; the first probe
  that answers brings a full round at once;
- when the server answers but cannot serve (5xx, 429, garbage from a proxy), the next
  round waits with exponential backoff and full jitter, and never less than the
  server's ``Retry-After``;
- a sign-in problem waits for the regular interval (retrying fast would not help);
- while the link is thought up, a heartbeat (a health check every few seconds, see
  ``ui.sync_controller``) watches it: a heartbeat that cannot reach the server means
  the link is gone, and the state is offline at once (:meth:`link_lost`), so the
  status bar says 离线 within seconds, not at the next regular round.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sync.backoff import Backoff
from sync.connectivity import Connectivity, ConnState
from sync.errors import AuthError, Forbidden, IncompatibleServer, ServerUnreachable, SyncError


class Step(StrEnum):
    SYNC = "sync"
    PROBE = "probe"


@dataclass(frozen=True)
class Plan:
    """The next thing to do, after ``delay`` seconds."""

    step: Step
    delay: float


class SyncScheduler:
    """Turns the outcome of each round or probe into the next plan and the state."""

    def __init__(
        self,
        *,
        interval: float = 60.0,
        backoff: Backoff | None = None,
        probe_backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random()
        self.interval = interval
        self.backoff = backoff or Backoff(base=2.0, cap=60.0, rng=rng)
        self.probe_backoff = probe_backoff or Backoff(base=0.5, cap=4.0, rng=rng)
        self.state = Connectivity()
        self.link_down = False
        """A heartbeat found the server unreachable; cleared by the next answer."""

    def restore(self, last_sync: datetime | None, pending: int = 0) -> Connectivity:
        """Start from what the cache remembers (the last success, the outbox size)."""
        self.state = replace(self.state, last_sync=last_sync, pending=pending)
        return self.state

    def set_pending(self, pending: int) -> Connectivity:
        self.state = replace(self.state, pending=pending)
        return self.state

    def round_started(self) -> Connectivity:
        self.state = self.state.syncing()
        return self.state

    def round_succeeded(self, when: datetime, pending: int) -> Plan:
        self.link_down = False
        self.backoff.reset()
        self.probe_backoff.reset()
        self.state = self.state.succeeded(when, pending)
        return Plan(Step.SYNC, self.interval)

    def round_failed(self, error: SyncError) -> Plan:
        if isinstance(error, ServerUnreachable):
            self._unreachable(error)
            return Plan(Step.PROBE, self.probe_backoff.next_delay())
        self.link_down = False
        self.state = self.state.failed(error.message, reachable=True)
        if isinstance(error, AuthError | Forbidden | IncompatibleServer):
            return Plan(Step.SYNC, self.interval)
        return Plan(Step.SYNC, self.backoff.next_delay(getattr(error, "retry_after", None)))

    def round_crashed(self, message: str) -> Plan:
        """An unexpected error (a bug): say so, and try again later, not in a loop."""
        self.state = self.state.failed(message, reachable=True)
        return Plan(Step.SYNC, self.backoff.next_delay())

    def _unreachable(self, error: SyncError) -> None:
        self.state = self.state.failed(error.message, reachable=False)
        if self.link_down:
            self.state = replace(self.state, state=ConnState.OFFLINE)

    def link_lost(self, error: SyncError) -> Plan:
        """A heartbeat could not reach the server: offline now; probe soon."""
        self.link_down = True
        self._unreachable(error)
        return Plan(Step.PROBE, self.probe_backoff.next_delay())

    def link_ok(self) -> bool:
        """A heartbeat answered; True when that ends an outage (sync at once then)."""
        was_down = self.link_down or self.state.state is ConnState.OFFLINE
        self.link_down = False
        return was_down

    def probe_failed(self, error: SyncError) -> Plan:
        if isinstance(error, ServerUnreachable):
            self._unreachable(error)
            return Plan(Step.PROBE, self.probe_backoff.next_delay())
        # The server answers again, though not well (503, an old version …): the link
        # is back, so go on as after a failed round.
        self.probe_backoff.reset()
        return self.round_failed(error)

    def probe_succeeded(self) -> Plan:
        self.link_down = False
        self.probe_backoff.reset()
        return Plan(Step.SYNC, 0.0)
