"""Server load: 500 agents long-polling, pulling and pushing against 4 workers on PostgreSQL.

A fresh database is made in the PostgreSQL cluster of ``BANGBAN_TEST_PG_URL`` (or
``--pg-url``), seeded with the demo data plus ``--teams`` bench teams of agents (one
active session each) and a lead per team. The server runs as ``python -m server run
--workers 4``. Every agent runs in a thread: a long poll (the client's own
``ApiClient.events``), a pull after every batch of events, and a note pushed now and
then. The leads reassign sessions inside their teams through the mutation endpoint.

Delivery latency runs from the event's timestamp (taken in the reassignment's own
transaction, before its commit) to the moment the receiving agent's poll returns.
Request latency is measured by the client, per route. Server CPU seconds are read
from ``/proc`` for the server's processes (parent and workers).

    python bench/server_load.py                     # 500 agents, 4 workers, 60 s
    python bench/server_load.py --agents 100 --duration 20

Loopback only; bounded by ``--duration`` and ``--reassignments``; the database is
dropped at the end. Target (DESIGN.md): event delivery p95 <= 200 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, make_url, text  # noqa: E402

from sync.client import ApiClient  # noqa: E402
from sync.embedded import free_port  # noqa: E402
from sync.errors import SyncError  # noqa: E402

PASSWORD = "bench-password"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def prepare_database(url: str, agents: int, teams: int) -> None:
    from server import models as m
    from server.auth import hash_password
    from server.db import make_engine, migrate, session_factory
    from server.seed import seed_demo
    from server.services.catalog import touch_agent
    from server.services.sessions import add_event, log_session

    engine = make_engine(url)
    migrate(engine)
    digest = hash_password(PASSWORD)
    with session_factory(engine)() as db:
        seed_demo(db)
        now = datetime.now()
        for t in range(teams):
            team_id = f"team-load-{t:02d}"
            db.add(m.Team(id=team_id, name=f"压测班组{t}", office="压测"))
            db.flush()
            members = [i for i in range(agents) if i % teams == t]
            for i in [*members, -1]:
                user = m.User(
                    username=f"load-lead-{t:02d}" if i < 0 else f"load-agent-{i:03d}",
                    display_name=f"班组长{t}" if i < 0 else f"坐席{i}",
                    password_hash=digest,
                    role="lead" if i < 0 else "agent",
                    team_id=team_id,
                    capacity=1000,
                )
                db.add(user)
                db.flush()
                touch_agent(db, user)
                if i < 0:
                    continue
                session = m.Session(
                    id=str(uuid.uuid4()),
                    team_id=team_id,
                    assignee_id=user.id,
                    state="active",
                    service_type="consult",
                    channel="hotline",
                    summary="压测会话",
                    created_at=now,
                    assigned_at=now,
                    accepted_at=now,
                )
                db.add(session)
                db.flush()
                add_event(db, session, "created", at=now)
                add_event(db, session, "accepted", actor=user, at=now)
                log_session(db, session, now=now)
        db.commit()
    engine.dispose()


def start_server(url: str, port: int, workers: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, "-m", "server", "run", "--port", str(port), "--database-url", url]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=str(ROOT),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    api = ApiClient(f"http://127.0.0.1:{port}", timeout=(1.0, 2.0))
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            raise SystemExit(f"server did not start; see {log_path}")
        try:
            if api.get("/ready")["status"] == "ready":
                return process
        except SyncError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("server start timed out")
        time.sleep(0.3)


def process_tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:
            pass
    return total / CLOCK_TICKS


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: int = 0
    recording: bool = False
    """Only the load phase counts (not the agents' first download)."""

    def timed(self, route: str, fn, *args):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            result = fn(*args)
        except SyncError:
            if self.recording:
                with self.lock:
                    self.errors[route] += 1
                    self.requests += 1
            raise
        if self.recording:
            with self.lock:
                self.latency[route].append((time.perf_counter() - started) * 1000)
                self.requests += 1
        return result


@dataclass
class Agent:
    index: int
    api: ApiClient
    id: int = 0
    session_id: str = ""
    received: dict[str, tuple[float, float]] = field(default_factory=dict)
    ready: bool = False


def agent_loop(
    agent: Agent,
    stats: Stats,
    stop: threading.Event,
    wait: float,
    note_every: float,
    starting: threading.Semaphore,
) -> None:
    rng = random.Random(agent.index)
    with starting:  # a few at a time: the first download is the heavy part of a start
        for _ in range(5):
            try:
                last = agent.api.events(-1, 0)["last"]
                cursor, more = 0, True
                while more:
                    page = agent.api.changes(cursor, 2000)
                    cursor, more = page.cursor, page.has_more
                break
            except SyncError:
                time.sleep(1.0)
        else:
            return
    agent.ready = True
    next_note = time.monotonic() + rng.uniform(0, note_every)
    while not stop.is_set():
        try:
            answer = stats.timed("GET /events (long poll)", agent.api.events, last, wait)
        except SyncError:
            time.sleep(0.5)
            continue
        received = time.time()
        for event in answer["events"]:
            if event["kind"] == "session_reassigned":
                accepted = datetime.fromisoformat(event["at"]).timestamp()
                agent.received.setdefault(event["payload"]["reason"], (accepted, received))
        last = max(last, int(answer["last"]))
        try:
            if answer["events"]:
                # As the app does: a batch of events asks for a sync round.
                page = stats.timed("GET /sync/changes", agent.api.changes, cursor, 2000)
                cursor = page.cursor
            if time.monotonic() >= next_note and not stop.is_set():
                next_note = time.monotonic() + note_every
                note_id = str(uuid.uuid4())
                stats.timed(
                    "POST /sync/mutations",
                    agent.api.push,
                    [
                        {
                            "mutation_id": str(uuid.uuid4()),
                            "kind": "session_note",
                            "op": "create",
                            "target_id": note_id,
                            "payload": {
                                "note_id": note_id,
                                "session_id": agent.session_id,
                                "text": "压测备注",
                            },
                        }
                    ],
                )
        except SyncError:
            pass


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--reassignments", type=int, default=600, help="at most this many")
    parser.add_argument("--interval", type=float, default=0.1, help="s between reassignments")
    parser.add_argument("--wait", type=float, default=20.0, help="long-poll wait of the agents")
    parser.add_argument("--note-every", type=float, default=30.0, help="s between an agent's notes")
    parser.add_argument("--pg-url", default=os.environ.get("BANGBAN_TEST_PG_URL", ""))
    args = parser.parse_args(argv)
    if not args.pg_url:
        raise SystemExit("需要 PostgreSQL：设置 BANGBAN_TEST_PG_URL 或 --pg-url")

    name = f"bangban_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    workdir = Path(tempfile.mkdtemp(prefix="bangban-server-load-"))
    server = None
    stop = threading.Event()
    try:
        print(f"preparing {name}: {args.agents} agents in {args.teams} teams …", flush=True)
        prepare_database(url, args.agents, args.teams)
        port = free_port()
        server = start_server(url, port, args.workers, workdir / "server.log")
        base = f"http://127.0.0.1:{port}"
        stats = Stats()

        def sign_in(i: int) -> Agent:
            api = ApiClient(base)
            result = api.login(f"load-agent-{i:03d}", PASSWORD)
            return Agent(i, api, result.user.id)

        with ThreadPoolExecutor(8) as pool:
            agents = list(pool.map(sign_in, range(args.agents)))
        leads = []
        for t in range(args.teams):
            lead = ApiClient(base)
            lead.login(f"load-lead-{t:02d}", PASSWORD)
            leads.append(lead)
        by_id = {a.id: a for a in agents}
        holders: dict[str, int] = {}
        team_of: dict[str, int] = {}
        for t, lead in enumerate(leads):
            cursor, more = 0, True
            while more:
                page = lead.changes(cursor, 2000)
                for c in page.changes:
                    data = c["data"]
                    if c["kind"] == "session" and data and data["team_id"].startswith("team-load"):
                        holders[c["id"]] = data["assignee_id"]
                        team_of[c["id"]] = t
                cursor, more = page.cursor, page.has_more
        for session_id, holder in holders.items():
            by_id[holder].session_id = session_id

        starting = threading.Semaphore(8)
        threads = [
            threading.Thread(
                target=agent_loop,
                args=(a, stats, stop, args.wait, args.note_every, starting),
                daemon=True,
            )
            for a in agents
        ]
        for t in threads:
            t.start()
        started = time.monotonic()
        deadline = started + 300
        while not all(a.ready for a in agents) and time.monotonic() < deadline:
            time.sleep(0.2)
        print(
            f"{sum(a.ready for a in agents)} agents downloaded and polling after "
            f"{time.monotonic() - started:.0f} s",
            flush=True,
        )
        time.sleep(2.0)
        pids = process_tree(server.pid)
        stats.recording = True
        cpu_before, requests_before = cpu_seconds(pids), stats.requests
        print(
            f"{sum(a.ready for a in agents)} agents polling on {args.workers} workers "
            f"({len(pids)} server processes); load for {args.duration:.0f} s …",
            flush=True,
        )

        rng = random.Random(7)
        ready = {a.id for a in agents if a.ready}
        sessions = sorted(s for s, holder in holders.items() if holder in ready)
        members: dict[int, list[int]] = defaultdict(list)
        for session_id in sessions:
            members[team_of[session_id]].append(holders[session_id])
        load_started = time.monotonic()
        sent: list[tuple[str, int, int]] = []
        refused = 0
        end = time.monotonic() + args.duration
        n = 0
        while time.monotonic() < end and n < args.reassignments:
            session_id = sessions[rng.randrange(len(sessions))]
            team = team_of[session_id]
            current = holders[session_id]
            target = rng.choice([a for a in members[team] if a != current])
            reason = f"压测改派 {n}"
            mutation = {
                "mutation_id": str(uuid.uuid4()),
                "kind": "session",
                "op": "reassign",
                "target_id": session_id,
                "payload": {
                    "to_agent_id": target,
                    "expected_assignee_id": current,
                    "reason": reason,
                },
            }
            n += 1
            try:
                result = stats.timed(
                    "POST /sync/mutations (reassign)", leads[team].push, [mutation]
                )
            except SyncError:
                continue
            if result[0]["status"] != "applied":
                refused += 1
                continue
            holders[session_id] = target
            sent.append((reason, current, target))
            time.sleep(args.interval)
        while time.monotonic() < end:
            time.sleep(0.2)
        time.sleep(2.0)
        cpu_after, requests_after = cpu_seconds(process_tree(server.pid)), stats.requests
        stats.recording = False
        elapsed = time.monotonic() - load_started
        stop.set()

        delivery, missing = [], 0
        for reason, old, new in sent:
            for agent_id in (new, old):
                got = by_id[agent_id].received.get(reason)
                if got is None:
                    missing += 1
                    continue
                delivery.append((got[1] - got[0]) * 1000)
        requests = requests_after - requests_before
        cpu = cpu_after - cpu_before
        print()
        print(
            f"agents {args.agents} ({len(ready)} ready), workers {args.workers}, PostgreSQL, "
            f"loopback, load phase {elapsed:.0f} s, {requests / elapsed:.1f} requests/s; "
            f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(
            f"reassignments applied {len(sent)} (refused {refused}); deliveries measured "
            f"{len(delivery)}, missing {missing}"
        )
        if delivery:
            print(
                f"event delivery ms: p50 {statistics.median(delivery):.1f}  "
                f"p95 {percentile(delivery, 95):.1f}  max {max(delivery):.1f}"
            )
        print("request latency ms (client side):")
        for route in sorted(stats.latency):
            values = stats.latency[route]
            print(
                f"  {route:34s} n={len(values):6d}  p50 {statistics.median(values):8.1f}  "
                f"p95 {percentile(values, 95):8.1f}  max {max(values):8.1f}"
            )
        print(f"errors: {sum(stats.errors.values())} {dict(stats.errors)}")
        print(
            f"server CPU: {cpu:.1f} s for {requests} requests in the load phase = "
            f"{cpu / max(requests, 1) * 1000:.2f} CPU s per 1,000 requests"
        )
        return 0
    finally:
        stop.set()
        if server is not None:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
