"""Online consultation delivery: 200 simultaneous conversations on one real server.

The server runs as a subprocess (``python -m server run``) on a fresh SQLite file (or
the PostgreSQL database given with ``--database-url``), always open, with the abuse
limits raised for the one loopback address every caller comes from. A bench team of
``--agents`` agents is seeded; ``--conversations`` callers start a conversation each
(the public API, one ``requests`` session per caller, as a phone browser would) and the
agents accept them.

Then every caller long-polls its conversation (``GET …/messages?after=&wait=``) and
every agent long-polls its events (``ApiClient.events``). In each round every caller
sends one message and every conversation's agent answers once through the real push
(``message``/``create``), the sends spread over ``--spread`` seconds (10: 20 messages a
second each way; ``--spread 1`` is a burst of 200 a second).

Latency is measured from the moment the sender starts its request to the moment the
receiver's poll returns with the message: caller → agent (the ``message_received``
event) and agent → caller (the message in the caller's poll). Both clocks are this
machine's. A message never received is counted as lost.

    python bench/chat_bench.py                    # 200 conversations, 10 agents, 3 rounds
    python bench/chat_bench.py --spread 1            # every caller at once
    python bench/chat_bench.py --conversations 50 --rounds 2

Prints p50 / p95 / max for both directions; the target on loopback is p95 <= 300 ms,
max <= 1 s, none lost.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync.client import ApiClient  # noqa: E402
from sync.embedded import free_port  # noqa: E402
from sync.errors import SyncError  # noqa: E402

PASSWORD = "bench-password"
TEAM = "team-chat-bench"


def prepare_database(url: str, agents: int) -> None:
    from server import models as m
    from server.auth import hash_password
    from server.db import make_engine, migrate, session_factory
    from server.seed import seed_demo
    from server.services.catalog import touch_agent

    engine = make_engine(url)
    migrate(engine)
    with session_factory(engine)() as db:
        seed_demo(db)
        if db.get(m.Team, TEAM) is None:
            db.add(m.Team(id=TEAM, name="线上咨询压测班组", office="压测"))
        db.flush()
        digest = hash_password(PASSWORD)
        for i in range(agents):
            user = m.User(
                username=f"chat-agent-{i:03d}",
                display_name=f"坐席{i:03d}",
                password_hash=digest,
                role="agent",
                team_id=TEAM,
                staff_number=f"CB-{i:03d}",
                capacity=1000,
            )
            db.add(user)
            db.flush()
            touch_agent(db, user)
        db.commit()
    engine.dispose()


def start_server(url: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(
        {
            "BANGBAN_OPENING_HOURS": "always",
            "BANGBAN_CHAT_DEFAULT_TEAM": TEAM,
            "BANGBAN_CHAT_NEW_PER_ADDRESS_HOUR": "100000",
            "BANGBAN_CHAT_NEW_PER_HOUR": "100000",
            "BANGBAN_CHAT_MESSAGES_PER_ADDRESS_MINUTE": "100000",
            "BANGBAN_CHAT_MESSAGES_PER_MINUTE": "100000",
            "BANGBAN_LOG_LEVEL": "warning",
        }
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "run", "--port", str(port), "--database-url", url],
            cwd=str(ROOT),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    api = ApiClient(f"http://127.0.0.1:{port}", timeout=(1.0, 2.0))
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit(f"server did not start; see {log_path}")
        try:
            api.health()
            return process
        except SyncError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("server start timed out") from None
            time.sleep(0.2)


@dataclass
class Caller:
    http: requests.Session
    token: str
    csrf: str
    session_id: str = ""
    agent: int = 0
    last: int = 0


@dataclass
class Ledger:
    """Send times and receive times by message id, for one direction."""

    sent: dict[str, float] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, key: str, at: float) -> None:
        with self.lock:
            self.sent[key] = at

    def receive(self, key: str, at: float) -> None:
        with self.lock:
            self.received.setdefault(key, at)

    def latencies(self) -> tuple[list[float], int]:
        with self.lock:
            got = [
                (self.received[k] - t) * 1000 for k, t in self.sent.items() if k in self.received
            ]
            lost = sum(1 for k in self.sent if k not in self.received)
        return got, lost


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


def caller_poll(base: str, caller: Caller, ledger: Ledger, stop: threading.Event) -> None:
    url = f"{base}/api/v1/public/conversations/{caller.token}/messages"
    while not stop.is_set():
        try:
            answer = caller.http.get(url, params={"after": caller.last, "wait": 20}, timeout=30)
            now = time.perf_counter()
            data = answer.json()
        except (requests.RequestException, ValueError):
            time.sleep(0.2)
            continue
        for message in data.get("messages", []):
            if message["from"] == "staff":
                ledger.receive(message["id"], now)
        caller.last = data.get("last", caller.last)


def agent_poll(api: ApiClient, ledger: Ledger, stop: threading.Event) -> None:
    after = api.events(-1, 0)["last"]
    while not stop.is_set():
        try:
            answer = api.events(after, 20)
        except SyncError:
            time.sleep(0.2)
            continue
        now = time.perf_counter()
        for event in answer["events"]:
            if event["kind"] == "message_received":
                ledger.receive(event["payload"]["message_id"], now)
        after = answer["last"]


def push_one(api: ApiClient, mutation: dict) -> str:
    [answer] = api.push([mutation])
    return str(answer["status"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--spread",
        type=float,
        default=10.0,
        help="seconds over which one round's sends are spread (200 over 10 s = 20 a second)",
    )
    parser.add_argument("--database-url", default="")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bangban-chat-bench-"))
    url = args.database_url or f"sqlite:///{work / 'bench.sqlite3'}"
    prepare_database(url, args.agents)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(url, port, work / "server.log")
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        agents = []
        for i in range(args.agents):
            api = ApiClient(base, timeout=(5.0, 40.0))
            api.login(f"chat-agent-{i:03d}", PASSWORD)
            agents.append(api)
        from server import models as m  # the bench reads the session ids once
        from server.db import make_engine, session_factory
        from server.services.conversations import digest

        def start(i: int) -> Caller:
            http = requests.Session()
            answer = http.post(
                f"{base}/api/v1/public/conversations",
                json={
                    "matter_code": "RS-SBK-BH",
                    "text": f"压测咨询 {i}",
                    "consent": True,
                },
                timeout=30,
            )
            answer.raise_for_status()
            data = answer.json()
            return Caller(http, data["token"], data["csrf"])

        begun = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            callers = list(pool.map(start, range(args.conversations)))
        print(f"{len(callers)} conversations started in {time.perf_counter() - begun:.1f} s")
        engine = make_engine(url)
        with session_factory(engine)() as db:
            for c in callers:
                row = db.get(m.CallerToken, digest(c.token))
                assert row is not None
                c.session_id = row.session_id
        engine.dispose()

        def accept(pair: tuple[int, Caller]) -> str:
            i, c = pair
            c.agent = i % args.agents
            return push_one(
                agents[c.agent],
                {
                    "mutation_id": f"accept-{uuid.uuid4()}",
                    "kind": "session",
                    "op": "transition",
                    "target_id": c.session_id,
                    "payload": {"session_id": c.session_id, "action": "accept"},
                },
            )

        with ThreadPoolExecutor(args.agents) as pool:
            accepted = list(pool.map(accept, enumerate(callers)))
        if any(s != "applied" for s in accepted):
            print(f"not all accepted: {sorted(set(accepted))}")
        to_agent, to_caller = Ledger(), Ledger()
        # Every caller and every agent polls on its own connection.
        for c in callers:
            first = c.http.get(
                f"{base}/api/v1/public/conversations/{c.token}/messages", timeout=30
            ).json()
            c.last = first["last"]
            threads.append(threading.Thread(target=caller_poll, args=(base, c, to_caller, stop)))
        pollers = []
        for _ in range(args.agents):
            api = ApiClient(base, timeout=(5.0, 40.0))
            api.token = agents[len(pollers)].token
            pollers.append(api)
            threads.append(threading.Thread(target=agent_poll, args=(api, to_agent, stop)))
        for t in threads:
            t.daemon = True
            t.start()
        time.sleep(2.0)  # every poll is waiting

        durations: list[float] = []

        def caller_sends(c: Caller) -> None:
            time.sleep(random.uniform(0, args.spread))
            t0 = time.perf_counter()
            answer = c.http.post(
                f"{base}/api/v1/public/conversations/{c.token}/messages",
                json={"text": "请问需要带什么材料？"},
                headers={"X-CSRF-Token": c.csrf},
                timeout=30,
            )
            durations.append((time.perf_counter() - t0) * 1000)
            if answer.status_code == 201:
                to_agent.send(answer.json()["id"], t0)
            else:
                to_agent.send(f"failed-{uuid.uuid4()}", t0)

        def agent_answers(c: Caller) -> None:
            time.sleep(random.uniform(0, args.spread))
            message_id = f"bench-{uuid.uuid4().hex}"
            t0 = time.perf_counter()
            to_caller.send(message_id, t0)
            push_one(
                agents[c.agent],
                {
                    "mutation_id": f"m-{uuid.uuid4()}",
                    "kind": "message",
                    "op": "create",
                    "target_id": message_id,
                    "payload": {
                        "message_id": message_id,
                        "session_id": c.session_id,
                        "text": "请带身份证原件。",
                    },
                },
            )

        senders = ThreadPoolExecutor(len(callers))
        for _round in range(args.rounds):
            list(senders.map(caller_sends, callers))
            list(senders.map(agent_answers, callers))
            time.sleep(1.5)
        senders.shutdown()
        time.sleep(3.0)  # the last polls return
        if durations:
            print(
                f"caller's send request: p50 {percentile(durations, 50):.0f} ms, "
                f"p95 {percentile(durations, 95):.0f} ms, max {max(durations):.0f} ms"
            )
        for name, ledger in (("caller → agent", to_agent), ("agent → caller", to_caller)):
            got, lost = ledger.latencies()
            if got:
                print(
                    f"{name}: {len(got)} delivered, {lost} lost; "
                    f"p50 {percentile(got, 50):.0f} ms, p95 {percentile(got, 95):.0f} ms, "
                    f"max {max(got):.0f} ms"
                )
            else:
                print(f"{name}: nothing delivered, {lost} lost")
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
