"""Prometheus metrics of the server, served at ``GET /metrics``.

- ``bangban_request_seconds{method, route}``: request latency by route template
  (``/api/v1/sessions/{session_id}/share``, never the ids themselves);
- ``bangban_open_long_polls``: event polls waiting right now;
- ``bangban_mutations_total{kind, op, outcome}``: pushed mutations by outcome
  (applied / duplicate / rejected …);
- ``bangban_events_published_total``: live events committed;
- ``bangban_queue_waiting{team}``: sessions waiting in each team's queue, read from
  the database at each scrape (the database is the truth whichever worker answers).

With several worker processes ``python -m server run --workers N`` sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start; each worker then writes its
figures there and any worker's ``/metrics`` adds up all of them.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

request_seconds = Histogram(
    "bangban_request_seconds",
    "Request latency by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
open_polls = Gauge(
    "bangban_open_long_polls", "Event long polls waiting now", multiprocess_mode="livesum"
)
mutations = Counter(
    "bangban_mutations", "Pushed mutations by kind, op and outcome", ["kind", "op", "outcome"]
)
events_published = Counter("bangban_events_published", "Live events committed")


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def worker_exited() -> None:
    """Drop this worker's live gauges from the shared figures (at its shutdown)."""
    if multiprocess():
        mark_process_dead(os.getpid())


def route_of(scope: dict[str, Any]) -> str:
    """The template of the route that answered (``/api/v1/share/{link_id}``).

    FastAPI keeps an included router's prefix apart from its routes, so the prefix is
    the literal part of the request path before the piece the route matched.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not template:
        return "unmatched"
    path = str(scope.get("path", ""))
    regex = getattr(route, "path_regex", None)
    if regex is not None and not regex.fullmatch(path):
        for i, char in enumerate(path):
            if char == "/" and regex.fullmatch(path[i:]):
                return path[:i] + str(template)
    return str(template)


class MetricsMiddleware:
    """Times every HTTP request under its route template (pure ASGI, no body copies)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            request_seconds.labels(scope.get("method", ""), route_of(scope)).observe(
                time.perf_counter() - started
            )


def _queue_family(sessions: Any) -> GaugeMetricFamily:
    from sqlalchemy import func, select

    from core.enums import SessionState
    from server import models as m

    family = GaugeMetricFamily(
        "bangban_queue_waiting", "Sessions waiting in each team's queue", labels=["team"]
    )
    with sessions() as db:
        teams = list(db.scalars(select(m.Team.id)))
        counts = dict.fromkeys(teams, 0)
        rows = db.execute(
            select(m.Session.team_id, func.count())
            .where(m.Session.state == SessionState.WAITING.value)
            .group_by(m.Session.team_id)
        ).all()
        counts.update({str(team): int(n) for team, n in rows if team is not None})
    for team, count in sorted(counts.items()):
        family.add_metric([team], count)
    return family


def _callback_family(sessions: Any) -> GaugeMetricFamily:
    from server.services.callbacks import backlog, failing_filter

    family = GaugeMetricFamily(
        "bangban_callbacks_pending",
        "Callbacks to other systems not yet delivered, and those of them that failed",
        labels=["kind"],
    )
    from sqlalchemy import func, select

    from server import models as m

    with sessions() as db:
        family.add_metric(["pending"], backlog(db))
        failing = db.scalar(
            select(func.count()).select_from(m.WebhookDelivery).where(failing_filter())
        )
        family.add_metric(["failing"], int(failing or 0))
    return family


class _QueueCollector:
    def __init__(self, sessions: Any) -> None:
        self._sessions = sessions

    def collect(self) -> Any:
        yield _queue_family(self._sessions)
        yield _callback_family(self._sessions)


def render(sessions: Any) -> tuple[bytes, str]:
    """The text exposition of every metric (all workers' in multi-process mode)."""
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    queues = CollectorRegistry()
    queues.register(_QueueCollector(sessions))
    return generate_latest(registry) + generate_latest(queues), CONTENT_TYPE_LATEST
