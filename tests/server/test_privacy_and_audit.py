"""Callers' numbers on a need-to-know basis, and the audit trail (issue 11, parts 6 and 8):
pulls, events and the board carry masked numbers; the assignee's audited reveal is the
one way to the full number; every mutation, share link and admin change leaves an
audit row that admins can read and export."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from core.masking import mask_id_number, mask_phone
from server import models as m
from sync.client import ApiClient
from sync.errors import Forbidden
from tests.server.test_session_mutations import login, push, sid
from tests.support import LiveServer

S010 = sid("S010")  # active, assignee 李晓雯 (agent), team 综合咨询
PHONE, ID_NUMBER = "18280813770", "320113198806194157"


@pytest.fixture(autouse=True)
def _no_auto_assign(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False


def pull_all(api: ApiClient) -> list[dict]:
    changes, cursor = [], 0
    while True:
        page = api.changes(cursor, 2000)
        changes.extend(page.changes)
        cursor = page.cursor
        if not page.has_more:
            return changes


def full_numbers(live_server: LiveServer) -> set[str]:
    with live_server.db() as db:
        found = set()
        for s in db.scalars(select(m.Session)):
            found.update(x for x in (s.caller_phone, s.caller_id_number) if x)
        return found


@pytest.mark.parametrize("username", ["agent", "wangfang", "lead"])
def test_pulls_carry_masked_numbers_only(live_server: LiveServer, username: str) -> None:
    api = login(live_server, username)
    changes = pull_all(api)
    sessions = [c["data"] for c in changes if c["kind"] == "session" and c["data"]]
    assert sessions, "the user sees sessions"
    body = json.dumps(changes, ensure_ascii=False)
    numbers = full_numbers(live_server)
    assert len(numbers) > 40
    assert not [n for n in numbers if n in body]
    if username in ("agent", "lead"):
        mine = next(s for s in sessions if s["id"] == S010)
        assert mine["caller_phone"] == "182****3770" == mask_phone(PHONE)
        assert mine["caller_id_number"] == "3201**********4157" == mask_id_number(ID_NUMBER)
    # Push answers and the events stream are masked too.
    answer = push(
        api,
        "session_note",
        "create",
        S010,
        note_id=str(uuid.uuid4()),
        session_id=S010,
        text="来电人再次来电",
    )
    assert PHONE not in json.dumps(answer, ensure_ascii=False)
    events = api.events(0, 0)
    assert not [n for n in numbers if n in json.dumps(events, ensure_ascii=False)]


def test_the_board_is_masked(live_server: LiveServer) -> None:
    lead = login(live_server, "lead")
    board = lead.get("/team/board")
    text = json.dumps(board, ensure_ascii=False)
    assert not [n for n in full_numbers(live_server) if n in text]


def test_reveal_gives_the_full_number_to_the_assignee_only_and_is_audited(
    live_server: LiveServer,
) -> None:
    agent = login(live_server, "agent")
    answer = agent.post(f"/sessions/{S010}/reveal", {"field": "all"})
    assert answer == {"session_id": S010, "field": "all", "phone": PHONE, "id_number": ID_NUMBER}
    phone_only = agent.post(f"/sessions/{S010}/reveal", {"field": "phone"})
    assert phone_only["phone"] == PHONE and phone_only["id_number"] == ""
    with live_server.db() as db:
        rows = db.scalars(
            select(m.AuditLog)
            .where(m.AuditLog.action == "session.reveal", m.AuditLog.target_id == S010)
            .order_by(m.AuditLog.id)
        ).all()
        assert [r.detail["field"] for r in rows] == ["all", "phone"]
        assert all(r.actor_id == agent.me().id and r.source_ip == "127.0.0.1" for r in rows)
        assert PHONE not in str([r.detail for r in rows])
        kinds = [e.kind for e in db.get(m.Session, S010).events]
        assert kinds[-2:] == ["revealed", "revealed"]
    # A colleague of the team, the team's lead and an admin see masked numbers only.
    for username in ("wangfang", "lead", "admin"):
        other = login(live_server, username)
        with pytest.raises(Forbidden) as err:
            other.post(f"/sessions/{S010}/reveal", {"field": "all"})
        assert "承办人" in err.value.message
    with live_server.db() as db:
        count = db.scalars(select(m.AuditLog).where(m.AuditLog.action == "session.reveal")).all()
        assert len(count) == 2
    with pytest.raises(Exception) as missing:
        agent.post(f"/sessions/{uuid.uuid4()}/reveal", {"field": "all"})
    assert getattr(missing.value, "status", None) == 404


def test_every_mutation_leaves_an_audit_row_without_its_payload(live_server: LiveServer) -> None:
    agent = login(live_server, "agent")
    note_id = str(uuid.uuid4())
    applied = push(
        agent,
        "session_note",
        "create",
        note_id,
        note_id=note_id,
        session_id=S010,
        text=f"群众电话 {PHONE}",
    )
    assert applied["status"] == "applied"
    refused = push(agent, "session", "transition", sid("S007"), action="hold")
    assert refused["status"] == "rejected"
    with live_server.db() as db:
        rows = db.scalars(
            select(m.AuditLog).where(m.AuditLog.action.like("mutation.%")).order_by(m.AuditLog.id)
        ).all()
    assert [(r.action, r.detail["status"]) for r in rows] == [
        ("mutation.session_note.create", "applied"),
        ("mutation.session.transition", "rejected"),
    ]
    assert rows[0].target_id == note_id and rows[0].source_ip == "127.0.0.1"
    assert rows[1].reason and rows[1].target_kind == "session"
    assert PHONE not in json.dumps([r.detail for r in rows], ensure_ascii=False)
    # A resend (the same content under the same id) is a duplicate and leaves no
    # second row.
    again = agent.push(
        [
            {
                "mutation_id": rows[0].detail["mutation_id"],
                "kind": "session_note",
                "op": "create",
                "target_id": note_id,
                "base_seq": None,
                "payload": {"note_id": note_id, "session_id": S010, "text": f"群众电话 {PHONE}"},
            }
        ]
    )
    assert again[0]["status"] == "duplicate"
    with live_server.db() as db:
        assert (
            len(db.scalars(select(m.AuditLog).where(m.AuditLog.action.like("mutation.%"))).all())
            == 2
        )


def test_calendar_edits_and_share_links_are_audited(live_server: LiveServer) -> None:
    admin = login(live_server, "admin")
    year = admin.get("/admin/calendar")[0]
    admin._request(
        "PUT",
        f"/admin/calendar/{year['year']}",
        body={
            "source": "国务院办公厅通知",
            "holidays": year["holidays"][:3],
            "workdays": year["workdays"],
        },
    )
    live_server.app.state.settings.share_provider = "template"
    live_server.app.state.settings.share_url_template = "https://share.example/{room}?c={code}"
    agent = login(live_server, "agent")
    link = agent.post(f"/sessions/{S010}/share", {"minutes": 30})
    agent.delete(f"/share/{link['id']}")
    with live_server.db() as db:
        rows = {r.action: r for r in db.scalars(select(m.AuditLog))}
    cal = rows["calendar.update"]
    assert cal.target_id == str(year["year"]) and cal.detail["holidays_added"] == []
    assert len(cal.detail["holidays_removed"]) == len(year["holidays"]) - 3
    created, revoked = rows["share.create"], rows["share.revoke"]
    assert created.target_id == link["id"] == revoked.target_id
    assert created.detail["session_id"] == S010 and revoked.reason == "工作人员撤销"
    assert link["code"] not in json.dumps(created.detail)


def _audit_rows(admin: ApiClient, **params: object) -> dict:
    return admin.get("/admin/audit", **params)


def test_admins_read_and_export_the_audit_log(live_server: LiveServer) -> None:
    agent = login(live_server, "agent")
    agent.post(f"/sessions/{S010}/reveal", {"field": "phone"})
    push(agent, "session", "transition", sid("S007"), action="hold")
    admin = login(live_server, "admin")
    page = _audit_rows(admin, actor="agent", limit=10)
    actions = [r["action"] for r in page["rows"]]
    # Newest first; the agent's sign-in is audited too.
    assert page["total"] == 3 and actions == [
        "mutation.session.transition",
        "session.reveal",
        "auth.login",
    ]
    assert page["rows"][1]["actor_name"] == "李晓雯"
    assert page["rows"][1]["action_label"] == "查看完整号码"
    by_id = _audit_rows(admin, actor=str(agent.me().id))
    assert by_id["total"] == 3
    only = _audit_rows(admin, action="session")
    assert [r["action"] for r in only["rows"]] == ["session.reveal"]
    assert _audit_rows(admin, action="session.reveal")["total"] == 1
    future = (datetime.now() + timedelta(days=1)).isoformat(timespec="seconds")
    assert _audit_rows(admin, since=future)["total"] == 0
    paged = _audit_rows(admin, limit=1, offset=1)
    assert len(paged["rows"]) == 1 and paged["offset"] == 1
    # The export: UTF-8 with BOM, Chinese headers, the same rows; and it is audited.
    token = admin.token
    response = requests.get(
        f"{live_server.url}/api/v1/admin/audit",
        params={"actor": "agent", "format": "csv"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0][:5] == ["编号", "时间", "操作人编号", "操作人", "操作"]
    assert [row[4] for row in table[1:]][:2] == ["同步操作：变更会话状态", "查看完整号码"]
    assert len(table) == 1 + 3
    assert _audit_rows(admin, action="audit.export")["total"] == 1
    # Nobody else may read it.
    for username in ("agent", "lead"):
        with pytest.raises(Forbidden):
            login(live_server, username).get("/admin/audit")
    with pytest.raises(Exception) as bad:
        _audit_rows(admin, since=future, until="2020-01-01T00:00:00")
    assert getattr(bad.value, "status", None) == 400


def test_creating_a_user_on_the_command_line_is_audited(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.__main__ import main as server_main

    monkeypatch.setenv("BANGBAN_NEW_PASSWORD", "a-long-secret-9")
    url = live_server.app.state.engine.url.render_as_string(hide_password=False)
    argv = ["create-user", "zhouyi", "--role", "agent", "--team", "team-zx", "--database-url", url]
    assert server_main(argv) == 0
    with live_server.db() as db:
        row = db.scalar(select(m.AuditLog).where(m.AuditLog.action == "user.create"))
        user = db.scalar(select(m.User).where(m.User.username == "zhouyi"))
    assert row is not None and user is not None and row.target_id == str(user.id)
    assert row.actor_id is None and row.detail["username"] == "zhouyi"
    assert row.detail["via"] == "command_line"
    assert "a-long-secret-9" not in json.dumps(row.detail)
