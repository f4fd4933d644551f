"""Readiness and Prometheus metrics on a real server; events numbered at commit."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import uvicorn
from alembic import command
from sqlalchemy import select

from core.enums import Role
from server import models as m
from server.app import create_app
from server.auth import CurrentUser
from server.config import ServerSettings
from server.db import alembic_config, make_engine
from server.services.events import events_after, last_event_id, publish
from sync.client import ApiClient
from sync.embedded import free_port
from tests.support import DEMO_PASSWORD, LiveServer


def serve_unmigrated(database_url: str) -> Iterator[str]:
    """The app on ``database_url`` without migrating it (as a worker starts)."""
    app = create_app(ServerSettings(database_url=database_url), run_migrations=False)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.engine.dispose()


def test_ready_when_the_schema_is_at_head(live_server: LiveServer) -> None:
    answer = requests.get(f"{live_server.url}/api/v1/ready", timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ready"
    assert body["schema"] == sorted(live_server.app.state.schema_heads)
    # Listening for other processes' commits exactly when the database is PostgreSQL.
    postgres = live_server.app.state.engine.dialect.name == "postgresql"
    deadline = time.monotonic() + 5
    while postgres and not live_server.app.state.events.listening:
        assert time.monotonic() < deadline, "the listener did not connect"
        time.sleep(0.05)
    assert (
        requests.get(f"{live_server.url}/api/v1/ready", timeout=10).json()["events_listening"]
        is postgres
    )


def test_not_ready_on_an_old_schema_or_without_a_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    command.upgrade(alembic_config(engine), "0001")
    engine.dispose()
    for base in serve_unmigrated(url):
        answer = requests.get(f"{base}/api/v1/ready", timeout=10)
        assert answer.status_code == 503
        assert answer.json()["code"] == "schema_outdated"
        assert "0001" in answer.json()["detail"] and "迁移" in answer.json()["detail"]
        # Liveness does not depend on the database.
        assert requests.get(f"{base}/api/v1/health", timeout=10).status_code == 200
    missing = tmp_path / "no-such-folder" / "x.sqlite3"
    for base in serve_unmigrated(f"sqlite:///{missing}"):
        answer = requests.get(f"{base}/api/v1/ready", timeout=10)
        assert answer.status_code == 503
        assert answer.json()["code"] == "database_unreachable"


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_requests_by_route_template_and_mutation_outcomes(
    live_server: LiveServer,
) -> None:
    before = requests.get(f"{live_server.url}/metrics", timeout=10).text
    api = ApiClient(live_server.url)
    api.login("agent", DEMO_PASSWORD)
    share_route = "/api/v1/sessions/{session_id}/share"
    for _ in range(2):  # a 404 each, counted under the route's template
        answer = requests.get(
            f"{live_server.url}/api/v1/sessions/{uuid.uuid4()}/share",
            headers={"Authorization": f"Bearer {api.token}"},
            timeout=10,
        )
        assert answer.status_code == 404
    ok = api.push(
        [
            {
                "mutation_id": str(uuid.uuid4()),
                "kind": "knowledge_feedback",
                "op": "nonsense",
                "target_id": None,
                "payload": {},
            }
        ]
    )
    assert ok[0]["status"] == "rejected"
    after = requests.get(f"{live_server.url}/metrics", timeout=10)
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    count = "bangban_request_seconds_count"
    assert _sample(text, count, route=share_route) - _sample(before, count, route=share_route) == 2
    # No ids as labels: every sessions route is a template (other tests' routes show
    # too, since the registry belongs to the process).
    assert not re.search(r'route="/api/v1/sessions/[^{"]', text)
    assert _sample(text, count, route="/api/v1/auth/login", method="POST") >= 1
    outcome = {"kind": "knowledge_feedback", "op": "nonsense", "outcome": "rejected"}
    assert (
        _sample(text, "bangban_mutations_total", **outcome)
        - _sample(before, "bangban_mutations_total", **outcome)
        == 1
    )
    # The queue lengths come from the database: the demo has sessions waiting.
    with live_server.db() as db:
        waiting = db.scalars(select(m.Session.team_id).where(m.Session.state == "waiting")).all()
    for team in set(waiting):
        assert _sample(text, "bangban_queue_waiting", team=team) == waiting.count(team)
    assert "bangban_open_long_polls" in text


def test_events_are_numbered_at_commit_and_dropped_by_a_rollback(
    live_server: LiveServer,
) -> None:
    with live_server.db() as db:
        me = db.scalar(select(m.User).where(m.User.username == "wangfang"))
        assert me is not None
        start = last_event_id(db)
    user = CurrentUser(me.id, me.username, me.display_name, Role(me.role), me.team_id, "")
    first, second, dropped = live_server.db(), live_server.db(), live_server.db()
    try:
        publish(first, "test_ping", {"n": "first-published"}, user_ids=[me.id])
        publish(dropped, "test_ping", {"n": "rolled-back"}, user_ids=[me.id])
        publish(second, "test_ping", {"n": "second-published"}, user_ids=[me.id])
        second.commit()
        dropped.rollback()
        dropped.commit()  # nothing left to write
        first.commit()
    finally:
        for db in (first, second, dropped):
            db.close()
    with live_server.db() as db:
        rows = list(
            db.scalars(select(m.Event).where(m.Event.id > start, m.Event.kind == "test_ping"))
        )
        assert [(r.id - start, r.payload["n"]) for r in sorted(rows, key=lambda r: r.id)] == [
            (1, "second-published"),
            (2, "first-published"),
        ]
        assert last_event_id(db) == start + 2
        assert [e.payload["n"] for e in events_after(db, user, start)][-2:] == [
            "second-published",
            "first-published",
        ]


def test_a_commit_wakes_the_waiting_poll_at_once(live_server: LiveServer) -> None:
    api = ApiClient(live_server.url)
    me = api.login("wangfang", DEMO_PASSWORD).user.id
    last = api.events(-1, 0)["last"]
    last = api.events(last, 0)["last"]  # past whatever coming online dispatched
    answer: dict[str, Any] = {}

    def poll() -> None:
        answer.update(api.events(last, 20))
        answer["at"] = time.monotonic()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while live_server.app.state.events.waiting == 0:
        assert time.monotonic() < deadline, "the poll never waited"
        time.sleep(0.01)
    with live_server.db() as db:
        publish(db, "test_ping", {"n": 1}, user_ids=[me])
        db.commit()
        committed = time.monotonic()
    thread.join(10)
    assert [e["kind"] for e in answer["events"]] == ["test_ping"]
    # Woken by the commit, not found by the once-a-second re-read.
    assert answer["at"] - committed < 0.3
