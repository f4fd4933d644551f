"""Callbacks to the system that sent a session (issue 14), SQLite and PostgreSQL: a real
HTTP receiver on loopback, a durable outbox, retries with backoff, signatures, admins'
view of failing deliveries, two server processes on one database, a clean stop."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from sqlalchemy import select

from server import models as m
from server.services.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from sync.client import ApiClient
from tests.caller_support import rate_as_caller, rating_link
from tests.server.test_intake import make_key, send, token_of, work_order
from tests.support import DEMO_PASSWORD, LiveServer

FAST = {"webhook_backoff_base_seconds": 0.05, "webhook_poll_seconds": 0.1, "auto_assign": False}


@dataclass
class Delivery:
    event_id: str
    body: bytes
    timestamp: str
    signature: str

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on loopback that refuses the first ``refuse`` deliveries."""

    refuse: int = 0
    delay: float = 0.0
    status: int = 200
    received: list[Delivery] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    arrived: int = 0
    """Requests that reached the receiver (counted before any delay)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, handler: BaseHTTPRequestHandler) -> int:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        with self.lock:
            self.arrived += 1
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.received.append(
                Delivery(
                    handler.headers.get("X-Bangban-Event-Id", ""),
                    body,
                    handler.headers.get(TIMESTAMP_HEADER, ""),
                    handler.headers.get(SIGNATURE_HEADER, ""),
                )
            )
            status = 503 if len(self.received) <= self.refuse else self.status
            self.answered.append(status)
        return status

    def unique(self) -> list[Delivery]:
        """What a receiver keeps after dropping repeats by event id, in arrival order."""
        with self.lock:
            accepted = [d for d, s in zip(self.received, self.answered, strict=True) if s < 300]
        seen: dict[str, Delivery] = {}
        for d in accepted:
            seen.setdefault(d.event["id"], d)
        return list(seen.values())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status = r.handle(self)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender gave up waiting (its timeout)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    r.url = f"http://127.0.0.1:{server.server_address[1]}/bangban/callback"
    yield r
    server.shutdown()
    server.server_close()


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def agent(server: LiveServer, name: str = "agent") -> ApiClient:
    api = ApiClient(server.url)
    api.login(name, DEMO_PASSWORD)
    return api


def push(api: ApiClient, kind: str, op: str, target: str, **payload: Any) -> dict:
    answer = api.push(
        [
            {
                "mutation_id": str(uuid.uuid4()),
                "kind": kind,
                "op": op,
                "target_id": target,
                "base_seq": None,
                "payload": payload,
            }
        ]
    )[0]
    assert answer["status"] == "applied", answer
    return answer


def act(api: ApiClient, session_id: str, action: str, **payload: Any) -> dict:
    return push(api, "session", "transition", session_id, action=action, **payload)


def work_a_session_to_its_rating(server: LiveServer, api: ApiClient, session_id: str) -> None:
    act(api, session_id, "accept")
    act(
        api,
        session_id,
        "escalate",
        reason="需人社局确认",
        department="市人社局",
        complexity="complex",
    )
    act(api, session_id, "start")
    act(api, session_id, "callback", reason="群众要求下午回电")
    act(api, session_id, "start")
    act(api, session_id, "close", outcome="resolved", close_summary="已告知补办材料和网办入口")
    # The caller rates, through the rating link the assignee sends (staff cannot).
    answer = rate_as_caller(server, rating_link(api, session_id), 5)
    assert answer.status_code < 300, answer.text


EXPECTED = [
    "session.accepted",
    "session.escalated",
    "session.callback",
    "session.closed",
    "session.rated",
]


def test_every_event_arrives_in_order_once_after_refusals(
    live_server_with: Callable[..., LiveServer], receiver: Receiver
) -> None:
    receiver.refuse = 2
    server = live_server_with(**FAST)
    key = make_key(server, ["team-zx"], callback=receiver.url)
    sessions = []
    for n in range(2):
        answer = send(server, key["key"], work_order(f"GD-CB-{n}"))
        assert answer.status_code == 201
        sessions.append(answer.json()["session_id"])
    api = agent(server)
    for session_id in sessions:
        work_a_session_to_its_rating(server, api, session_id)
    wait_for(lambda: len(receiver.unique()) == 2 * len(EXPECTED))
    kept = receiver.unique()
    by_session: dict[str, list[str]] = {}
    for d in kept:
        by_session.setdefault(d.event["external_id"], []).append(d.event["type"])
    assert by_session == {"GD-CB-0": EXPECTED, "GD-CB-1": EXPECTED}
    assert receiver.answered[:2] == [503, 503]
    # Every delivery is signed with the key's secret over timestamp + body.
    secret = key["signing_secret"]
    for d in receiver.received:
        assert verify(secret, d.timestamp, d.body, d.signature)
        assert d.event_id == d.event["id"]
    d = kept[0]
    assert not verify(secret, d.timestamp, d.body.replace(b"accepted", b"rejected"), d.signature)
    assert not verify(secret, str(int(d.timestamp) + 1), d.body, d.signature)
    assert not verify("whsec_wrong", d.timestamp, d.body, d.signature)
    # What the events say: the 1515 dates, the outcome and the rating, no caller numbers.
    events = {e.event["type"]: e.event for e in kept if e.event["external_id"] == "GD-CB-0"}
    escalation = events["session.escalated"]["session"]["escalation"]
    assert escalation["department"] == "市人社局"
    assert escalation["contact_due_at"] and escalation["due_at"]
    closed = events["session.closed"]["session"]
    assert (closed["outcome"], closed["outcome_label"]) == ("resolved", "已解答")
    assert closed["close_summary"] == "已告知补办材料和网办入口"
    assert events["session.callback"]["session"]["callback_due_at"]
    assert events["session.rated"]["session"]["rating"] == {"score": 5, "label": "非常满意"}
    assert all("13912345678" not in d.body.decode() for d in receiver.received)

    def states() -> set[str]:
        with server.db() as db:
            return set(db.scalars(select(m.WebhookDelivery.state)))

    # The receiver has the last one a moment before its sender records the answer.
    wait_for(lambda: states() == {"delivered"})
    with server.db() as db:
        rows = list(db.scalars(select(m.WebhookDelivery).order_by(m.WebhookDelivery.id)))
        assert {r.state for r in rows} == {"delivered"}
        assert {r.event_id for r in rows} == {d.event["id"] for d in kept}
        assert rows[0].attempts == 3  # refused twice, then accepted; nothing overtook it
    # The sender can also ask.
    status = requests.get(
        server.url + "/api/v1/intake/sessions/GD-CB-1",
        headers={"Authorization": f"Bearer {key['key']}"},
        timeout=10,
    ).json()
    assert (status["state"], status["outcome"], status["rating"]["score"]) == (
        "closed",
        "resolved",
        5,
    )


def test_a_slow_receiver_never_delays_the_staff(
    live_server_with: Callable[..., LiveServer], receiver: Receiver
) -> None:
    receiver.delay = 2.0
    server = live_server_with(**FAST)
    key = make_key(server, ["team-zx"], callback=receiver.url)
    session_id = send(server, key["key"], work_order("GD-SLOW")).json()["session_id"]
    api = agent(server)
    started = time.monotonic()
    act(api, session_id, "accept")
    act(api, session_id, "close", outcome="resolved", close_summary="已解答")
    assert time.monotonic() - started < 1.5
    wait_for(lambda: len(receiver.unique()) == 2, timeout=30)


def test_admins_see_failing_deliveries_and_retry_them(
    live_server_with: Callable[..., LiveServer], receiver: Receiver
) -> None:
    receiver.status = 500
    server = live_server_with(webhook_backoff_base_seconds=3600, auto_assign=False)
    key = make_key(server, ["team-zx"], callback=receiver.url)
    session_id = send(server, key["key"], work_order("GD-FAIL")).json()["session_id"]
    act(agent(server), session_id, "accept")
    wait_for(lambda: len(receiver.received) == 1)
    admin = {"Authorization": f"Bearer {token_of(server, 'admin')}"}
    url = server.url + "/api/v1/admin/webhooks"

    def failing() -> list[dict]:
        answer = requests.get(url, params={"state": "failing"}, headers=admin, timeout=10)
        assert answer.status_code == 200
        return answer.json()["rows"]

    wait_for(lambda: len(failing()) == 1)
    row = failing()[0]
    assert row["kind"] == "session.accepted" and row["last_status"] == 500
    assert "500" in row["last_error"]
    assert datetime.fromisoformat(row["next_attempt_at"]) > datetime.now() + timedelta(minutes=30)
    time.sleep(0.5)
    assert len(receiver.received) == 1  # backoff: no second try on its own yet
    lead = {"Authorization": f"Bearer {token_of(server, 'lead')}"}
    assert requests.get(url, headers=lead, timeout=10).status_code == 403
    receiver.status = 200
    retried = requests.post(f"{url}/{row['id']}/retry", headers=admin, timeout=10)
    assert retried.status_code == 200
    wait_for(lambda: len(receiver.unique()) == 1)
    wait_for(lambda: failing() == [])
    delivered = requests.get(url, params={"state": "delivered"}, headers=admin, timeout=10).json()
    assert delivered["total"] == 1 and delivered["rows"][0]["attempts"] == 2
    again = requests.post(f"{url}/{row['id']}/retry", headers=admin, timeout=10)
    assert again.status_code == 404
    metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert 'bangban_callbacks_pending{kind="pending"} 0.0' in metrics
    with server.db() as db:
        actions = set(db.scalars(select(m.AuditLog.action)))
        assert {"webhook.retry", "api_key.create"} <= actions


def test_two_processes_never_send_one_event_twice(
    live_server_with: Callable[..., LiveServer], receiver: Receiver
) -> None:
    first = live_server_with(**FAST)
    second = live_server_with(**FAST)
    key = make_key(first, ["team-zx"], callback=receiver.url)
    ids = [
        send(second if n % 2 else first, key["key"], work_order(f"GD-2P-{n}")).json()["session_id"]
        for n in range(4)
    ]
    for n, session_id in enumerate(ids):
        api = agent(second if n % 2 else first)
        act(api, session_id, "accept")
        act(api, session_id, "close", outcome="resolved", close_summary="已解答")
    wait_for(lambda: len(receiver.unique()) == 8)
    time.sleep(0.5)
    with receiver.lock:
        arrived = [json.loads(d.body)["id"] for d in receiver.received]
    assert len(arrived) == len(set(arrived)) == 8


def test_the_server_stops_cleanly_while_a_receiver_hangs(
    live_server_with: Callable[..., LiveServer], receiver: Receiver
) -> None:
    receiver.delay = 30.0
    server = live_server_with(**FAST, webhook_timeout_seconds=1.0)
    key = make_key(server, ["team-zx"], callback=receiver.url)
    session_id = send(server, key["key"], work_order("GD-HANG")).json()["session_id"]
    act(agent(server), session_id, "accept")
    wait_for(lambda: receiver.arrived >= 1)
    started = time.monotonic()
    server.stop()
    assert not server.thread.is_alive()
    assert time.monotonic() - started < 8
    assert not any(t.name == "callbacks" and t.is_alive() for t in threading.enumerate())
    # The row is still there, pending, for the next start (durable outbox).
    with server.app.state.db() as db:
        row = db.scalar(select(m.WebhookDelivery))
        assert row is not None and row.state == "pending"
        assert row.last_error == "接收方在 1 秒内没有答复"


def test_compact_trims_delivered_callbacks_only(
    live_server_with: Callable[..., LiveServer], receiver: Receiver
) -> None:
    from server.services.housekeeping import Retention, trim

    server = live_server_with(**FAST)
    key = make_key(server, ["team-zx"], callback=receiver.url)
    session_id = send(server, key["key"], work_order("GD-TRIM")).json()["session_id"]
    api = agent(server)
    act(api, session_id, "accept")
    wait_for(lambda: len(receiver.unique()) == 1)
    receiver.status = 500
    act(api, session_id, "close", outcome="resolved", close_summary="已解答")
    wait_for(lambda: len(receiver.received) >= 2)
    later = datetime.now() + timedelta(days=31)
    result = trim(server.app.state.db, Retention(webhook_days=30), now=later)
    assert result.total("webhook_deliveries") == 1
    with server.db() as db:
        left = list(db.scalars(select(m.WebhookDelivery)))
        assert [(r.kind, r.state) for r in left] == [("session.closed", "pending")]
