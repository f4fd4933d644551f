"""The admin's routes on a real server (SQLite and PostgreSQL) through the app's own
client: users (create, edit, deactivate, reset a password — tokens revoked), the
working-day calendar (validated, audited, pulled by every client) and the knowledge
feedback review list (resolved once). Leads and agents get 403; bad input 422 in words."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from server import models as m
from sync.client import ApiClient
from sync.errors import AuthError, Forbidden, Refused
from tests.support import DEMO_PASSWORD, LiveServer


def login(server: LiveServer, username: str, password: str = DEMO_PASSWORD) -> ApiClient:
    api = ApiClient(server.url)
    api.login(username, password)
    return api


def audit(server: LiveServer, action: str) -> list[m.AuditLog]:
    with server.db() as db:
        return list(db.scalars(select(m.AuditLog).where(m.AuditLog.action == action)))


def pulled(api: ApiClient, kind: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    cursor = 0
    while True:
        page = api.changes(cursor, 2000)
        for c in page.changes:
            if c["kind"] == kind:
                seen[str(c["id"])] = c["data"]
        cursor = page.cursor
        if not page.has_more:
            return seen


def new_user(**over: Any) -> dict[str, Any]:
    body = {
        "username": "zhouming",
        "display_name": "周明",
        "role": "agent",
        "team_id": "team-zx",
        "staff_number": "JN-0130",
        "capacity": 3,
        "password": "Chuntian-2026",
    }
    return {**body, **over}


def send_feedback(api: ApiClient, text: str, entry_id: str | None = None) -> str:
    feedback_id = str(uuid.uuid4())
    answer = api.push(
        [
            {
                "mutation_id": str(uuid.uuid4()),
                "kind": "knowledge_feedback",
                "op": "create",
                "target_id": feedback_id,
                "base_seq": None,
                "payload": {
                    "feedback_id": feedback_id,
                    "entry_id": entry_id,
                    "kind": "correction" if entry_id else "new_question",
                    "text": text,
                },
            }
        ]
    )[0]
    assert answer["status"] == "applied", answer
    return feedback_id


# -- who may --------------------------------------------------------------------------------

WRITES = [
    ("post", "/admin/users", new_user()),
    ("patch", "/admin/users/1", {"capacity": 2}),
    ("post", "/admin/users/1/password", {"password": "Xinmima-2026"}),
    ("put", "/admin/calendar/2026", {"holidays": [], "workdays": []}),
    ("post", "/admin/knowledge-feedback/x/resolve", {"resolution": "accepted", "note": ""}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_leads_and_agents_get_403_on_every_admin_write(
    live_server: LiveServer, method: str, path: str, body: dict
) -> None:
    for username in ("lead", "agent"):
        api = login(live_server, username)
        with pytest.raises(Forbidden) as err:
            getattr(api, method)(path, body)
        assert err.value.status == 403 and err.value.message == "此操作仅限管理员"
    for path_get in ("/admin/users", "/admin/calendar/2026", "/admin/knowledge-feedback"):
        with pytest.raises(Forbidden):
            login(live_server, "lead").get(path_get)
    with live_server.db() as db:
        assert db.scalar(select(m.User).where(m.User.username == "zhouming")) is None
        assert not list(db.scalars(select(m.AuditLog).where(m.AuditLog.action.like("user.%"))))


# -- users ----------------------------------------------------------------------------------


def test_an_admin_creates_a_user_who_can_sign_in_and_whose_team_pulls_them(
    live_server: LiveServer,
) -> None:
    admin = login(live_server, "admin")
    created = admin.post("/admin/users", new_user())
    assert created["username"] == "zhouming" and created["active"] is True
    assert "password" not in created and "password_hash" not in created
    with live_server.db() as db:
        row = db.get(m.User, created["id"])
        assert row is not None and row.password_hash.startswith("$argon2")
        assert "Chuntian" not in row.password_hash
    # The new person signs in with the password the admin set …
    them = login(live_server, "zhouming", "Chuntian-2026")
    assert them.me().display_name == "周明"
    # … and the team's caches get them as a member.
    agents = pulled(login(live_server, "lead"), "agent")
    assert agents[str(created["id"])]["display_name"] == "周明"
    assert str(created["id"]) not in pulled(login(live_server, "lead2"), "agent")
    (row_audit,) = audit(live_server, "user.create")
    assert row_audit.target_id == str(created["id"])
    assert row_audit.detail["username"] == "zhouming"
    assert "Chuntian-2026" not in str(row_audit.detail)
    listed = {u["username"]: u for u in admin.get("/admin/users")}
    assert listed["zhouming"]["capacity"] == 3
    # The same username twice: 409 in words.
    with pytest.raises(Refused) as again:
        admin.post("/admin/users", new_user(display_name="另一个周明"))
    assert again.value.status == 409 and "已被使用" in again.value.message


@pytest.mark.parametrize(
    ("over", "words"),
    [
        ({"password": "short"}, "密码至少需要 8 位"),
        ({"username": "周明"}, "用户名应为"),
        ({"username": ""}, "请填写用户名"),
        ({"display_name": "  "}, "请填写姓名"),
        ({"role": "boss"}, "角色应为"),
        ({"team_id": None}, "必须属于一个班组"),
        ({"team_id": "team-xx"}, "班组“team-xx”不存在"),
        ({"capacity": 99}, "同时接待上限"),
    ],
)
def test_bad_new_users_are_refused_with_422_in_words(
    live_server: LiveServer, over: dict, words: str
) -> None:
    admin = login(live_server, "admin")
    with pytest.raises(Refused) as err:
        admin.post("/admin/users", new_user(**over))
    assert err.value.status == 422 and words in err.value.message, err.value.message
    with live_server.db() as db:
        assert db.scalar(select(m.User).where(m.User.staff_number == "JN-0130")) is None


def test_a_missing_field_is_422_in_words(live_server: LiveServer) -> None:
    admin = login(live_server, "admin")
    body = new_user()
    del body["password"]
    with pytest.raises(Refused) as err:
        admin.post("/admin/users", body)
    assert (
        err.value.status == 422
        and err.value.message.startswith("请求内容不完整或格式不对")
        and "password" in err.value.message
    )


def test_editing_a_user_changes_role_team_and_capacity_and_is_audited(
    live_server: LiveServer,
) -> None:
    admin = login(live_server, "admin")
    users = {u["username"]: u for u in admin.get("/admin/users")}
    liuyang = users["liuyang"]["id"]
    changed = admin.patch(
        f"/admin/users/{liuyang}",
        {"capacity": 2, "role": "lead", "team_id": "team-bb", "display_name": "刘洋"},
    )
    assert (changed["capacity"], changed["role"], changed["team_id"]) == (2, "lead", "team-bb")
    (row,) = audit(live_server, "user.update")
    assert row.detail["changed"]["capacity"] == [4, 2]
    assert row.detail["changed"]["team_id"] == ["team-zx", "team-bb"]
    assert "display_name" not in row.detail["changed"]  # unchanged values are not news
    # The new team pulls them; the old team's caches drop them.
    assert pulled(login(live_server, "lead2"), "agent")[str(liuyang)]["role"] == "lead"
    assert pulled(login(live_server, "lead"), "agent")[str(liuyang)] is None
    # Bad edits are refused in words, and change nothing.
    for body, words in (
        ({"capacity": -1}, "同时接待上限"),
        ({"team_id": ""}, "必须属于一个班组"),
        ({"role": "root"}, "角色应为"),
        ({"team_id": "nowhere"}, "不存在"),
    ):
        with pytest.raises(Refused) as err:
            admin.patch(f"/admin/users/{liuyang}", body)
        assert err.value.status == 422 and words in err.value.message
    with pytest.raises(Refused) as missing:
        admin.patch("/admin/users/99999", {"capacity": 1})
    assert missing.value.status == 404 and missing.value.message == "找不到该用户"
    me = users["admin"]["id"]
    with pytest.raises(Refused) as self_lock:
        admin.patch(f"/admin/users/{me}", {"active": False})
    assert self_lock.value.status == 422 and "不能停用自己" in self_lock.value.message


def test_a_deactivated_users_token_stops_working_at_once(live_server: LiveServer) -> None:
    admin = login(live_server, "admin")
    agent = login(live_server, "wangfang")
    agent_id = agent.me().id
    assert agent.changes(0, 10) is not None
    answer = admin.patch(f"/admin/users/{agent_id}", {"active": False})
    assert answer["active"] is False
    with pytest.raises(AuthError):
        agent.me()
    with pytest.raises(AuthError):
        agent.changes(0, 10)
    with pytest.raises(AuthError) as again:
        login(live_server, "wangfang")
    assert again.value.message == "用户名或密码错误"
    with live_server.db() as db:
        assert not list(db.scalars(select(m.AuthToken).where(m.AuthToken.user_id == agent_id)))
    (row,) = audit(live_server, "user.deactivate")
    assert row.detail["tokens_revoked"] >= 1
    # The team's caches drop the member; brought back, they return.
    assert pulled(login(live_server, "lead"), "agent")[str(agent_id)] is None
    admin.patch(f"/admin/users/{agent_id}", {"active": True})
    assert pulled(login(live_server, "lead"), "agent")[str(agent_id)]["display_name"] == "王芳"
    assert login(live_server, "wangfang").me().id == agent_id


def test_a_password_reset_signs_the_user_out_and_the_new_password_works(
    live_server: LiveServer,
) -> None:
    admin = login(live_server, "admin")
    agent = login(live_server, "liuyang")
    uid = agent.me().id
    with pytest.raises(Refused) as short:
        admin.post(f"/admin/users/{uid}/password", {"password": "1234567"})
    assert short.value.status == 422 and short.value.message == "密码至少需要 8 位"
    assert agent.me().id == uid  # a refused reset changes nothing
    answer = admin.post(f"/admin/users/{uid}/password", {"password": "Xinmima-2026"})
    assert answer == {"id": uid, "tokens_revoked": 1}
    with pytest.raises(AuthError):
        agent.me()
    with pytest.raises(AuthError):
        login(live_server, "liuyang")
    assert login(live_server, "liuyang", "Xinmima-2026").me().id == uid
    (row,) = audit(live_server, "user.password_reset")
    assert "Xinmima" not in str(row.detail)


# -- the calendar ---------------------------------------------------------------------------


def test_an_admin_edits_a_year_and_every_client_pulls_it(live_server: LiveServer) -> None:
    admin = login(live_server, "admin")
    year = admin.get("/admin/calendar/2026")
    assert year["published"] is True and "2026-10-01" in year["holidays"]
    agent = login(live_server, "agent")
    before = agent.changes(0, 5000).cursor
    holidays = sorted({*year["holidays"], "2026-12-24"} - {"2026-10-07"})
    workdays = sorted({*year["workdays"], "2026-12-26"})  # a Saturday
    saved = admin.put(
        "/admin/calendar/2026",
        {"source": year["source"], "holidays": holidays, "workdays": workdays},
    )
    assert "2026-12-24" in saved["holidays"] and "2026-10-07" not in saved["holidays"]
    page = agent.changes(before, 100)
    (change,) = [c for c in page.changes if c["kind"] == "calendar"]
    assert change["id"] == "2026" and "2026-12-24" in change["data"]["holidays"]
    assert "2026-12-26" in change["data"]["workdays"]
    (row,) = audit(live_server, "calendar.update")
    assert row.detail["holidays_added"] == ["2026-12-24"]
    assert row.detail["holidays_removed"] == ["2026-10-07"]
    assert row.detail["workdays_added"] == ["2026-12-26"]
    # A year the server has no schedule for reads as unpublished, and may be created.
    empty = admin.get("/admin/calendar/2031")
    assert empty == {"year": 2031, "source": "", "holidays": [], "workdays": [], "published": False}
    admin.put("/admin/calendar/2031", {"holidays": ["2031-01-01"], "workdays": []})
    assert admin.get("/admin/calendar/2031")["published"] is True
    assert [y["year"] for y in admin.get("/admin/calendar")][-1] == 2031


@pytest.mark.parametrize(
    ("holidays", "workdays", "words"),
    [
        (["2025-12-31"], [], "2025-12-31 不属于 2026 年"),
        (["2026-02-30"], [], "不是有效日期"),
        (["2026-12-26"], ["2026-12-26"], "2026-12-26 不能既是假日又是调休工作日"),
        ([], ["2026-12-23"], "调休工作日 2026-12-23 是工作日本身"),
    ],
)
def test_bad_calendar_edits_are_422_in_words_and_change_nothing(
    live_server: LiveServer, holidays: list, workdays: list, words: str
) -> None:
    admin = login(live_server, "admin")
    before = admin.get("/admin/calendar/2026")
    with pytest.raises(Refused) as err:
        admin.put("/admin/calendar/2026", {"holidays": holidays, "workdays": workdays})
    assert err.value.status == 422 and words in err.value.message, err.value.message
    assert admin.get("/admin/calendar/2026") == before
    assert not audit(live_server, "calendar.update")


# -- knowledge feedback ---------------------------------------------------------------------


def test_the_review_list_is_worked_once_per_report(live_server: LiveServer) -> None:
    agent, admin = login(live_server, "agent"), login(live_server, "admin")
    with live_server.db() as db:
        entry = db.scalars(select(m.KnowledgeEntry).order_by(m.KnowledgeEntry.id)).first()
        assert entry is not None
        entry_id, title = entry.id, entry.title
    wrong = send_feedback(agent, "材料清单少了身份证复印件", entry_id)
    question = send_feedback(agent, "新生儿医保怎么办理？")
    listed = {f["id"]: f for f in admin.get("/admin/knowledge-feedback", status="open")}
    assert listed[wrong]["entry_title"] == title and listed[wrong]["author_name"] == "李晓雯"
    assert listed[question]["kind"] == "new_question" and listed[question]["status"] == "open"
    # Rejecting needs a reason the author will read.
    with pytest.raises(Refused) as bare:
        admin.post(
            f"/admin/knowledge-feedback/{question}/resolve", {"resolution": "rejected", "note": ""}
        )
    assert bare.value.status == 422 and "请写明原因" in bare.value.message
    with pytest.raises(Refused) as odd:
        admin.post(f"/admin/knowledge-feedback/{question}/resolve", {"resolution": "maybe"})
    assert odd.value.status == 422
    done = admin.post(
        f"/admin/knowledge-feedback/{wrong}/resolve",
        {"resolution": "accepted", "note": "已补充到材料清单"},
    )
    assert done["status"] == "accepted" and done["resolved_by_name"] == "许文博"
    assert done["resolution_note"] == "已补充到材料清单" and done["resolved_at"]
    # A second answer (another admin, or a double click) is refused in words.
    with pytest.raises(Refused) as twice:
        admin.post(
            f"/admin/knowledge-feedback/{wrong}/resolve", {"resolution": "rejected", "note": "x"}
        )
    assert twice.value.status == 409 and twice.value.message == "该反馈已由 许文博 处理"
    with pytest.raises(Refused) as missing:
        admin.post("/admin/knowledge-feedback/nope/resolve", {"resolution": "accepted"})
    assert missing.value.status == 404
    still_open = {f["id"] for f in admin.get("/admin/knowledge-feedback", status="open")}
    assert wrong not in still_open and question in still_open
    resolved = {f["id"] for f in admin.get("/admin/knowledge-feedback", status="resolved")}
    assert resolved == {wrong}
    (row,) = audit(live_server, "knowledge_feedback.resolve")
    assert row.target_id == wrong and row.detail["resolution"] == "accepted"
    with live_server.db() as db:
        stored = db.get(m.KnowledgeFeedback, wrong)
        assert stored is not None and stored.status == "accepted" and stored.resolved_by
