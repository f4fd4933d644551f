"""Several server processes on one PostgreSQL database (issue 12).

Two real ``python -m server run`` subprocesses share a database made from the seeded
template. Events written through one reach a long poll on the other through
LISTEN/NOTIFY; events of transactions that commit out of order are both delivered;
presence and dispatch are the same whichever process a request reaches. SQLite
refuses several workers on the command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import make_url, select, text

from server import models as m
from server.db import make_engine, session_factory
from server.services.events import publish
from sync.client import ApiClient
from sync.embedded import free_port
from sync.errors import SyncError
from tests.server.conftest import PG_URL, _admin_engine
from tests.support import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def sid(ref: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{ref}"))


class ServerProcess:
    def __init__(self, url: str, log_path: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.log_path = log_path
        command = [sys.executable, "-m", "server", "run", "--port", str(self.port)]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--database-url", url, *extra],
                cwd=str(ROOT),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        api = ApiClient(self.url, timeout=(1.0, 2.0))
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()}")
            try:
                api.health()
                if api.get("/ready")["status"] == "ready":
                    return
            except SyncError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {self.log_path.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def login(self, username: str) -> ApiClient:
        api = ApiClient(self.url)
        api.login(username, DEMO_PASSWORD)
        return api


@pytest.fixture
def pg_database(pg_template: str) -> Iterator[str]:
    name = f"bangban_mp_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def two_servers(pg_database: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    first = ServerProcess(pg_database, tmp_path / "a.log")
    first.wait_ready()  # migrations done before the second one starts
    second = ServerProcess(pg_database, tmp_path / "b.log")
    try:
        second.wait_ready()
        yield first, second
    finally:
        first.stop()
        second.stop()


class Poller:
    """A long-poll loop on one server, recording when each event arrived."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.last = api.events(-1, 0)["last"]
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.polling = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.polling.set()
            try:
                answer = self.api.events(self.last, 10)
            except SyncError:
                if self._stop.is_set():
                    return  # the servers stop at the end of the test
                raise
            now = time.monotonic()
            self.received.extend((now, e) for e in answer["events"])
            self.last = answer["last"]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, found in list(self.received):
                if predicate(found):
                    return at, found
            time.sleep(0.005)
        raise AssertionError(f"no such event; received {[e for _, e in self.received]}")

    def stop(self) -> None:
        self._stop.set()


def _settle(poller: Poller) -> None:
    """Let the poll reach the server and start waiting."""
    poller.polling.wait(5)
    time.sleep(0.3)


@pytest.mark.postgres
@pytest.mark.slow
def test_an_event_made_through_one_process_reaches_a_poll_on_the_other(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = two_servers
    lead = first.login("lead")
    wangfang = second.login("wangfang")
    agent = second.login("agent")
    poller = Poller(wangfang)
    try:
        _settle(poller)
        timings = []
        for round_ in range(3):
            # 李晓雯 (agent) holds S010; hand it to 王芳 and back, through the first process.
            s = sid("S010")
            to_id, from_id = (wangfang.me().id, agent.me().id)
            if round_ % 2:
                to_id, from_id = from_id, to_id
            reason = f"第{round_}次改派"
            answer = lead.push(
                [
                    {
                        "mutation_id": str(uuid.uuid4()),
                        "kind": "session",
                        "op": "reassign",
                        "target_id": s,
                        "base_seq": None,
                        "payload": {
                            "to_agent_id": to_id,
                            "expected_assignee_id": from_id,
                            "reason": reason,
                        },
                    }
                ]
            )[0]
            committed = time.monotonic()
            assert answer["status"] == "applied", answer["reason"]
            at, _ = poller.wait_for(
                lambda e, r=reason: (
                    e["kind"] == "session_reassigned" and e["payload"].get("reason") == r
                )
            )
            timings.append(at - committed)
            _settle(poller)
        # Within 300 ms of the commit (the old table re-read took about a second).
        assert max(timings) < 0.3, timings
    finally:
        poller.stop()


@pytest.mark.postgres
@pytest.mark.slow
def test_events_of_transactions_committing_out_of_order_both_arrive(
    two_servers: tuple[ServerProcess, ServerProcess], pg_database: str
) -> None:
    _, second = two_servers
    wangfang = second.login("wangfang")
    me = wangfang.me().id
    poller = Poller(wangfang)
    engine = make_engine(pg_database)
    sessions = session_factory(engine)
    try:
        _settle(poller)
        early, late = sessions(), sessions()
        # The early transaction publishes first and writes, but commits last.
        publish(early, "test_ping", {"n": "early"}, user_ids=[me])
        early.execute(select(m.User.id).where(m.User.id == me)).all()
        publish(late, "test_ping", {"n": "late"}, user_ids=[me])
        late.commit()
        poller.wait_for(lambda e: e["payload"].get("n") == "late")
        early.commit()
        poller.wait_for(lambda e: e["payload"].get("n") == "early")
        ids = {e["payload"]["n"]: e["id"] for _, e in poller.received if e["kind"] == "test_ping"}
        # Numbered in commit order: the one that committed first has the lower id.
        assert ids["late"] < ids["early"]
        early.close()
        late.close()
    finally:
        poller.stop()
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_presence_and_dispatch_hold_across_processes(
    two_servers: tuple[ServerProcess, ServerProcess], pg_database: str
) -> None:
    first, second = two_servers
    engine = make_engine(pg_database)
    sessions = session_factory(engine)

    def state(session_id: str) -> tuple[str, int | None]:
        with sessions() as db:
            row = db.get(m.Session, session_id)
            assert row is not None
            return row.state, row.assignee_id

    try:
        lead = second.login("lead")
        lead_position = lead.events(-1, 0)["last"]
        liuyang = first.login("liuyang")
        me = liuyang.me().id
        assert state(sid("S003")) == ("waiting", None)
        # 刘洋 polls only the first process: that is his heartbeat. He comes online and
        # the oldest waiting session goes to him (3 of 4 taken before).
        liuyang.events(-1, 0)
        assert state(sid("S003")) == ("assigned", me)
        assert state(sid("S002")) == ("waiting", None)
        # The lead, on the second process, sees him online and hears of it live.
        presence = {a["id"]: a["presence"] for a in lead.get("/team/agents")}
        assert presence[me] == "online", presence
        news = lead.events(lead_position, 5)["events"]
        assert any(e["kind"] == "presence_changed" and e["payload"]["user_id"] == me for e in news)
        # Heartbeats through either process keep him online; he is announced only once.
        on_second = second.login("liuyang")
        for _ in range(3):
            on_second.events(-1, 0)
            liuyang.events(-1, 0)
        with sessions() as db:
            announced = [
                e
                for e in db.scalars(select(m.Event).where(m.Event.kind == "presence_changed"))
                if e.payload.get("user_id") == me
            ]
        assert len(announced) == 1
        # He frees capacity through the second process: the second process dispatches
        # the next waiting session to him, online through the first one.
        closed = on_second.push(
            [
                {
                    "mutation_id": str(uuid.uuid4()),
                    "kind": "session",
                    "op": "transition",
                    "target_id": sid("S024"),
                    "base_seq": None,
                    "payload": {
                        "action": "close",
                        "outcome": "resolved",
                        "close_summary": "已答复",
                    },
                }
            ]
        )[0]
        assert closed["status"] == "applied", closed["reason"]
        assert state(sid("S002")) == ("assigned", me)
    finally:
        engine.dispose()


def test_sqlite_refuses_several_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.sqlite3'}"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-m", "server", "run", "--workers", "2", "--database-url", url],
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "SQLite" in done.stderr and "PostgreSQL" in done.stderr
    assert not (tmp_path / "one.sqlite3").exists()  # refused before touching anything


@pytest.mark.postgres
@pytest.mark.slow
def test_workers_serve_and_add_up_their_metrics(pg_database: str, tmp_path: Path) -> None:
    import requests

    server = ServerProcess(pg_database, tmp_path / "workers.log", "--workers", "2")
    try:
        server.wait_ready()
        route = 'route="/api/v1/health"'

        def health_count() -> tuple[float, str]:
            text_ = requests.get(f"{server.url}/metrics", timeout=10).text
            counts = [
                float(line.rsplit(" ", 1)[1])
                for line in text_.splitlines()
                if line.startswith("bangban_request_seconds_count") and route in line
            ]
            return sum(counts), text_

        before, _ = health_count()
        for _ in range(20):
            # A new connection each time, so the kernel spreads them over the workers.
            assert requests.get(f"{server.url}/api/v1/health", timeout=10).status_code == 200
        for _ in range(6):
            # Whichever worker answers, it reports every worker's requests.
            after, text_ = health_count()
            assert after - before == 20, text_
        assert "bangban_queue_waiting" in text_
    finally:
        server.stop()
    assert server.process.returncode == 0, server.log_path.read_text()


def test_a_slowed_address_has_two_answers_held_across_both_processes(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    """Past its free wrong codes an address gets at most two answers held at once, in
    all: three parallel guesses on each process leave four refused at once (429)."""
    first, second = two_servers
    for n in range(5):  # share.FREE_WRONG_CODES, spread over both
        server = (first, second)[n % 2]
        assert requests.get(f"{server.url}/j/{200000000 + n}", timeout=10).status_code == 404
    answers: list[int] = []

    def guess(server: ServerProcess, n: int) -> None:
        answers.append(requests.get(f"{server.url}/j/{300000000 + n}", timeout=60).status_code)

    threads = [threading.Thread(target=guess, args=((first, second)[n % 2], n)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 6
    assert answers.count(429) >= 4, answers


def test_wrong_passwords_spread_over_both_processes_block_the_name_on_both(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = two_servers

    def login(server: ServerProcess, password: str) -> int:
        answer = requests.post(
            f"{server.url}/api/v1/auth/login",
            json={"username": "lead", "password": password},
            timeout=30,
        )
        return answer.status_code

    for server in (first, second, first, second, first):
        assert login(server, "nope-nope") == 401
    assert login(second, "nope-nope") == 429
    assert login(first, DEMO_PASSWORD) == 429
