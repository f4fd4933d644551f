"""Exponential backoff with full jitter, honouring the server's Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays for consecutive failures: ``uniform(0, min(cap, base * 2**n))``.

    Full jitter spreads the retries of many offices that lost the link at the same
    moment, so they do not all come back at once. A ``Retry-After`` from the server
    is a floor: the delay is never shorter than what the server asked for (up to
    ``retry_after_cap``, so that a wrong header cannot stop sync for a day).
    """

    base: float = 1.0
    cap: float = 120.0
    failures: int = 0
    retry_after_cap: float = 900.0
    rng: random.Random = field(default_factory=random.Random)

    def ceiling(self) -> float:
        """The upper bound of the next delay, before any Retry-After."""
        # min() first: 2**failures grows without bound on a long outage.
        exponent = min(self.failures, 62)
        return min(self.cap, self.base * (2**exponent))

    def next_delay(self, retry_after: float | None = None) -> float:
        """The delay before the next try; counts one more failure."""
        delay = self.rng.uniform(0, self.ceiling())
        self.failures += 1
        # NaN compares false, so a garbled header is ignored; infinity is capped.
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.retry_after_cap))
        return delay

    def reset(self) -> None:
        self.failures = 0
