"""Sessions from other systems (issue 14) on a real server over loopback, SQLite and
PostgreSQL: integration keys (API and command line), intake, its refusals."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import func, select

from server import models as m
from sync.client import ApiClient
from tests.support import DEMO_PASSWORD, LiveServer

INTAKE = "/api/v1/intake/sessions"


def token_of(server: LiveServer, username: str) -> str:
    api = ApiClient(server.url)
    api.login(username, DEMO_PASSWORD)
    assert api.token
    return api.token


def make_key(server: LiveServer, teams: list[str], callback: str = "", **extra: Any) -> dict:
    admin = token_of(server, "admin")
    answer = requests.post(
        server.url + "/api/v1/admin/api-keys",
        json={"name": "12345热线", "team_ids": teams, "callback_url": callback, **extra},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def work_order(external_id: str = "GD-0001", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "channel": "hotline",
        "caller_name": "张先生",
        "caller_phone": "13912345678",
        "matter_code": "RS-SBK-BH",
        "summary": "社保卡丢失，询问补办材料",
        "received_at": (datetime.now() - timedelta(minutes=5)).isoformat(),
        "due_at": (datetime.now() + timedelta(days=2)).isoformat(),
    }
    body.update(overrides)
    return body


def send(server: LiveServer, key: str, body: Any, **kwargs: Any) -> requests.Response:
    return requests.post(
        server.url + INTAKE,
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
        **kwargs,
    )


def test_a_work_order_lands_in_the_team_queue_once(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False
    key = make_key(live_server, ["team-zx"])
    assert key["key"].startswith("bbk_") and key["signing_secret"].startswith("whsec_")
    first = send(live_server, key["key"], work_order())
    assert first.status_code == 201, first.text
    again = send(live_server, key["key"], work_order(summary="重发的同一工单"))
    assert again.status_code == 200
    assert first.json()["session_id"] == again.json()["session_id"]
    assert first.json()["created"] is True and again.json()["created"] is False
    assert first.json()["state"] == "waiting" and first.json()["team_id"] == "team-zx"
    with live_server.db() as db:
        session = db.get(m.Session, first.json()["session_id"])
        assert session is not None
        assert (session.team_id, session.state, session.channel) == (
            "team-zx",
            "waiting",
            "hotline",
        )
        assert session.summary == "社保卡丢失，询问补办材料"
        assert session.due_at is not None
        assert db.scalar(select(func.count()).select_from(m.IntakeRecord)) == 1
        created = session.events[0]
        assert created.kind == "created" and created.detail["external_id"] == "GD-0001"
        actions = list(
            db.scalars(select(m.AuditLog.action).where(m.AuditLog.action.like("api_key.%")))
        )
        assert actions == ["api_key.create"]
    status = requests.get(
        live_server.url + INTAKE + "/GD-0001",
        headers={"Authorization": f"Bearer {key['key']}"},
        timeout=10,
    )
    assert status.status_code == 200
    assert status.json()["state_label"] == "待接入" and status.json()["rating"] is None
    # The staff see it in their queue, numbers masked as for any session.
    agent = ApiClient(live_server.url)
    agent.login("agent", DEMO_PASSWORD)
    seen = [c for c in agent.changes(0, 2000).changes if c["id"] == first.json()["session_id"]]
    assert seen and seen[-1]["data"]["caller_phone"] != "13912345678"


def test_the_same_external_id_racing_in_makes_one_session(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False
    key = make_key(live_server, ["team-zx"])["key"]
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def go() -> None:
        barrier.wait()
        answers.append(send(live_server, key, work_order("GD-RACE")).status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 200, 200, 201]
    with live_server.db() as db:
        assert db.scalar(select(func.count()).select_from(m.IntakeRecord)) == 1


def test_an_intake_session_is_dispatched_like_any_other(live_server: LiveServer) -> None:
    key = make_key(live_server, ["team-zx"])["key"]
    for name in ("wangfang", "liuyang"):  # the seed leaves them room for four more
        agent = ApiClient(live_server.url)
        agent.login(name, DEMO_PASSWORD)
        agent.events(-1, 0)  # a poll counts as a heartbeat: the agent is online
    answer = send(live_server, key, work_order("GD-DISPATCH"))
    assert answer.status_code == 201
    with live_server.db() as db:
        session = db.get(m.Session, answer.json()["session_id"])
        assert session is not None and session.state == "assigned"


def test_keys_serve_their_own_teams_only(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False
    zx = make_key(live_server, ["team-zx"])["key"]
    refused = send(live_server, zx, work_order("GD-B", team_id="team-bb"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "team_not_allowed" and "班组" in refused.json()["detail"]
    both = make_key(live_server, ["team-zx", "team-bb"], routes={"YB-XSE-CB": "team-bb"})["key"]
    routed = send(live_server, both, work_order("GD-R", matter_code="YB-XSE-CB"))
    assert routed.status_code == 201 and routed.json()["team_id"] == "team-bb"
    plain = send(live_server, both, work_order("GD-P"))
    assert plain.json()["team_id"] == "team-zx"
    # Another key does not see (or reuse) this key's external ids.
    other = requests.get(
        live_server.url + INTAKE + "/GD-R", headers={"Authorization": f"Bearer {zx}"}, timeout=10
    )
    assert other.status_code == 404
    with live_server.db() as db:
        assert (
            db.scalar(
                select(func.count())
                .select_from(m.Session)
                .where(m.Session.team_id == "team-bb")
                .where(m.Session.id.like("in-%"))
            )
            == 1
        )


def test_revoked_keys_and_staff_tokens_are_refused(live_server: LiveServer) -> None:
    key = make_key(live_server, ["team-zx"])
    admin = token_of(live_server, "admin")
    revoked = requests.delete(
        live_server.url + f"/api/v1/admin/api-keys/{key['id']}",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    answer = send(live_server, key["key"], work_order())
    assert answer.status_code == 401 and "吊销" in answer.json()["detail"]
    for who in ("agent", "lead", "admin"):
        staff = send(live_server, token_of(live_server, who), work_order())
        assert staff.status_code == 403, who
        assert "集成密钥" in staff.json()["detail"]
        got = requests.get(
            live_server.url + INTAKE + "/GD-0001",
            headers={"Authorization": f"Bearer {token_of(live_server, who)}"},
            timeout=10,
        )
        assert got.status_code == 403
    assert send(live_server, "", work_order()).status_code == 401
    # A key is no sign-in token for the rest of the API either.
    live = make_key(live_server, ["team-zx"])["key"]
    pulled = requests.get(
        live_server.url + "/api/v1/sync/changes?since=0",
        headers={"Authorization": f"Bearer {live}"},
        timeout=10,
    )
    assert pulled.status_code == 401
    keys = requests.get(
        live_server.url + "/api/v1/admin/api-keys",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    ).json()
    assert {k["id"] for k in keys} >= {key["id"]}
    assert all("key" not in k and "signing_secret" not in k for k in keys)
    lead = requests.get(
        live_server.url + "/api/v1/admin/api-keys",
        headers={"Authorization": f"Bearer {token_of(live_server, 'lead')}"},
        timeout=10,
    )
    assert lead.status_code == 403


def test_malformed_and_oversized_bodies_are_refused_in_words(live_server: LiveServer) -> None:
    key = make_key(live_server, ["team-zx"])["key"]
    bad = send(
        live_server,
        key,
        {"channel": "fax", "caller_phone": "139-secret-1", "summary": "", "received_at": "soon"},
    )
    assert bad.status_code == 422
    body = bad.json()
    assert body["code"] == "invalid_intake"
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"external_id", "channel", "summary", "received_at", "caller_phone"}
    for word in ("外部编号", "来源渠道", "诉求描述", "受理时间", "联系电话"):
        assert word in body["detail"]
    assert "secret" not in bad.text and "fax" not in bad.text  # never the values sent
    future = send(
        live_server, key, work_order(received_at=(datetime.now() + timedelta(days=1)).isoformat())
    )
    assert future.status_code == 422 and "受理时间" in future.json()["detail"]
    unknown = send(live_server, key, work_order(matter_code="NO-SUCH"))
    assert unknown.status_code == 422 and "事项编码" in unknown.json()["detail"]
    not_json = requests.post(
        live_server.url + INTAKE,
        data=b"{not json",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert not_json.status_code == 422 and "JSON" in not_json.json()["detail"]
    listed = send(live_server, key, [work_order()])
    assert listed.status_code == 422 and "对象" in listed.json()["detail"]
    huge = send(live_server, key, work_order(summary="很" * 70_000))
    assert huge.status_code == 413 and huge.json()["code"] == "too_large"
    bomb = gzip.compress(json.dumps(work_order(summary="长" * 200_000)).encode())
    inflated = requests.post(
        live_server.url + INTAKE,
        data=bomb,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        timeout=10,
    )
    assert inflated.status_code == 413
    walk_in = send(
        live_server,
        key,
        work_order("Q-1", channel="walk_in", caller_phone="", ticket_number="A 023!"),
    )
    assert walk_in.status_code == 422 and "排队号" in walk_in.json()["detail"]
    with live_server.db() as db:
        assert db.scalar(select(func.count()).select_from(m.IntakeRecord)) == 0


def test_a_walk_in_referral_carries_its_ticket(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False
    key = make_key(live_server, ["team-zx"])["key"]
    answer = send(
        live_server,
        key,
        work_order(
            "Q-20261203-A023",
            channel="walk_in",
            caller_phone="",
            ticket_number="A023",
            attachments=[{"name": "申请表.pdf", "url": "https://q.example/a.pdf", "size": 1200}],
        ),
    )
    assert answer.status_code == 201, answer.text
    out = answer.json()
    assert (out["channel"], out["channel_label"], out["ticket_number"]) == (
        "walk_in",
        "现场",
        "A023",
    )
    assert out["attachments"][0]["name"] == "申请表.pdf"


def run_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.run(
        [sys.executable, "-m", "server", *args, "--database-url", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_command_line_creates_lists_and_revokes_keys(
    live_server: LiveServer, server_url: str
) -> None:
    made = run_cli(
        server_url,
        "create-api-key",
        "--name",
        "12345热线",
        "--team",
        "team-zx",
        "--callback",
        "https://cb.example/in",
    )
    assert made.returncode == 0, made.stderr
    lines = dict(line.split("：", 1) for line in made.stdout.splitlines() if "：" in line)
    key, secret = lines["集成密钥"].strip(), lines["回调签名密钥"].strip()
    assert key.startswith("bbk_") and secret.startswith("whsec_")
    with live_server.db() as db:
        row = db.scalar(select(m.ApiKey))
        assert row is not None and key not in (row.key_digest, row.key_prefix)
        key_id = row.id
    assert send(live_server, key, work_order("GD-CLI")).status_code == 201
    listed = run_cli(server_url, "list-api-keys")
    assert listed.returncode == 0 and key_id in listed.stdout and "有效" in listed.stdout
    assert key not in listed.stdout and secret not in listed.stdout
    assert run_cli(server_url, "revoke-api-key", key_id).returncode == 0
    assert "已吊销" in run_cli(server_url, "list-api-keys").stdout
    assert send(live_server, key, work_order("GD-CLI2")).status_code == 401
    again = run_cli(server_url, "revoke-api-key", key_id)
    assert again.returncode == 1 and "没有有效的集成密钥" in again.stderr
    bad = run_cli(server_url, "create-api-key", "--name", "x", "--team", "team-nope")
    assert bad.returncode == 2 and "班组" in bad.stderr


def test_the_openapi_document_shows_the_intake_body_with_examples(live_server: LiveServer) -> None:
    doc = requests.get(live_server.url + "/openapi.json", timeout=10).json()
    body = doc["paths"][INTAKE]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["examples"]) == {"hotline", "walk_in"}
    schema = doc["components"]["schemas"]["IntakeIn"]
    assert "walk_in" in json.dumps(schema) and "AttachmentIn" in doc["components"]["schemas"]
    assert "/api/v1/admin/webhooks/{delivery_id}/retry" in doc["paths"]


def test_every_remote_channel_is_taken(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False
    key = make_key(live_server, ["team-zx"])["key"]
    for channel in ("web_chat", "mini_program", "video", "referral"):
        answer = send(
            live_server, key, work_order(f"X-{channel}", channel=channel, caller_phone="")
        )
        assert answer.status_code == 201 and answer.json()["channel"] == channel
    no_phone = send(live_server, key, work_order("X-hotline", caller_phone=""))
    assert no_phone.status_code == 422 and "联系电话" in no_phone.json()["detail"]


def test_a_walk_in_logged_by_hand_keeps_its_ticket(live_server: LiveServer) -> None:
    import uuid

    live_server.app.state.settings.auto_assign = False
    api = ApiClient(live_server.url)
    api.login("agent", DEMO_PASSWORD)

    def create(**payload: Any) -> dict:
        session_id = str(uuid.uuid4())
        return api.push(
            [
                {
                    "mutation_id": str(uuid.uuid4()),
                    "kind": "session",
                    "op": "create",
                    "target_id": session_id,
                    "base_seq": None,
                    "payload": {
                        "session_id": session_id,
                        "service_type": "guide",
                        "channel": "walk_in",
                        "summary": "现场咨询个体工商户登记",
                        "take": False,
                        **payload,
                    },
                }
            ]
        )[0]

    refused = create(caller_name="李女士", ticket_number="A 023!")
    assert refused["status"] == "rejected" and "排队号" in refused["reason"]
    nameless = create(ticket_number="A023")
    assert nameless["status"] == "rejected" and "姓名" in nameless["reason"]
    applied = create(caller_name="李女士", ticket_number="A023")
    assert applied["status"] == "applied"
    with live_server.db() as db:
        session = db.get(m.Session, applied["records"][0]["id"])
        assert session is not None and session.channel == "walk_in"
        assert session.events[0].detail["ticket_number"] == "A023"
