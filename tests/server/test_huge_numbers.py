"""Numbers too large for the database's integers, found by fuzzing: refused in words
(a rejected mutation, or 422), never a 500 — on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.server.test_session_mutations import login, sid
from tests.support import LiveServer

HUGE = 2**70


def test_a_huge_id_in_a_mutation_is_refused(live_server: LiveServer) -> None:
    lead = login(live_server, "lead")
    s = sid("S010")
    [answer] = lead.push(
        [
            {
                "mutation_id": str(uuid.uuid4()),
                "kind": "session",
                "op": "reassign",
                "target_id": s,
                "payload": {"to_agent_id": HUGE, "expected_assignee_id": 2, "reason": "测试"},
            }
        ]
    )
    assert answer["status"] == "rejected" and "数据格式有误" in answer["reason"]
    # The queue behind it is not blocked: the next mutation is applied.
    note = str(uuid.uuid4())
    [after] = lead.push(
        [
            {
                "mutation_id": str(uuid.uuid4()),
                "kind": "session_note",
                "op": "create",
                "target_id": note,
                "payload": {"note_id": note, "session_id": s, "text": "跟进"},
            }
        ]
    )
    assert after["status"] == "applied"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/sessions/{s}/reassign", {"to_agent_id": HUGE, "expected_assignee_id": 2,
                                            "reason": "x"}),
        ("GET", "/events?after={huge}&wait=0", None),
        ("GET", "/sync/changes?since={huge}", None),
        ("PUT", "/admin/calendar/{huge}", {"holidays": []}),
        ("PATCH", "/admin/users/{huge}", {"display_name": "x"}),
        ("POST", "/admin/users/{huge}/password", {"password": "Abcdef123456"}),
    ],
)  # fmt: skip
def test_a_huge_number_in_a_route_is_a_422(
    live_server: LiveServer, method: str, path: str, body: dict | None
) -> None:
    token = login(live_server, "admin").token
    url = live_server.url + "/api/v1" + path.format(s=sid("S010"), huge=HUGE)
    answer = requests.request(
        method, url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_request"
