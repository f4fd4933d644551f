"""The server over real HTTP on loopback, through the client the app uses."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from server import models as m
from server.services import catalog
from sync.client import ApiClient
from sync.errors import (
    AuthError,
    BadResponse,
    CursorExpired,
    Forbidden,
    IncompatibleServer,
    ServerUnreachable,
)
from tests.support import DEMO_PASSWORD, CannedServer, LiveServer


def login(server: LiveServer, username: str) -> ApiClient:
    api = ApiClient(server.url)
    api.login(username, DEMO_PASSWORD)
    return api


def pull_all(api: ApiClient, since: int = 0, limit: int = 500) -> tuple[dict, int, int]:
    """Pull until done: (newest data per (kind, id), None for tombstones; cursor; pages)."""
    seen: dict = {}
    pages = 0
    cursor = since
    while True:
        page = api.changes(cursor, limit)
        pages += 1
        assert page.cursor >= cursor, "the cursor never goes back"
        for c in page.changes:
            seen[(c["kind"], c["id"])] = None if c["deleted"] else c["data"]
        cursor = page.cursor
        if not page.has_more:
            return seen, cursor, pages


def test_health_is_open_and_names_the_protocol(live_server: LiveServer) -> None:
    health = ApiClient(live_server.url).health()
    assert health["status"] == "ok" and health["protocol"] == 1


def test_login_gives_a_token_and_the_user(live_server: LiveServer) -> None:
    api = ApiClient(live_server.url)
    result = api.login("agent", DEMO_PASSWORD)
    assert result.user.username == "agent" and result.user.role == "agent"
    assert result.user.team_id == "team-zx"
    assert result.expires_at > datetime.now()
    assert api.me().id == result.user.id


def test_wrong_password_is_refused_in_chinese(live_server: LiveServer) -> None:
    with pytest.raises(AuthError) as err:
        ApiClient(live_server.url).login("agent", "wrong-password")
    assert err.value.status == 401
    assert err.value.message == "用户名或密码错误"
    with pytest.raises(AuthError):
        ApiClient(live_server.url).login("nobody", DEMO_PASSWORD)


def test_calls_without_a_valid_token_get_401(live_server: LiveServer) -> None:
    with pytest.raises(AuthError):
        ApiClient(live_server.url).changes(0)
    with pytest.raises(AuthError):
        ApiClient(live_server.url, token="forged").changes(0)


@pytest.mark.parametrize(
    ("username", "path", "allowed"),
    [
        ("agent", "/team/agents", False),
        ("lead", "/team/agents", True),
        ("agent", "/admin/users", False),
        ("lead", "/admin/users", False),
        ("admin", "/admin/users", True),
        ("lead", "/admin/knowledge-feedback", False),
    ],
)
def test_roles_are_enforced(
    live_server: LiveServer, username: str, path: str, allowed: bool
) -> None:
    api = login(live_server, username)
    if allowed:
        assert isinstance(api.get(path), list)
    else:
        with pytest.raises(Forbidden) as err:
            api.get(path)
        assert err.value.status == 403 and "仅限" in err.value.message


def test_pull_across_small_pages_equals_one_big_page(live_server: LiveServer) -> None:
    api = login(live_server, "agent")
    small, cursor_small, pages = pull_all(api, limit=7)
    big, cursor_big, _ = pull_all(api, limit=2000)
    assert pages > 10
    assert small == big and cursor_small == cursor_big
    kinds = {k for k, _ in big}
    assert {"knowledge_entry", "matter_guide", "calendar", "agent", "session"} <= kinds
    assert sum(1 for k, _ in big if k == "knowledge_entry") >= 200
    assert sum(1 for k, _ in big if k == "matter_guide") >= 20


def test_sessions_are_filtered_by_who_may_see_them(live_server: LiveServer) -> None:
    agent_api, lead_api = login(live_server, "agent"), login(live_server, "lead")
    agent_id = agent_api.me().id
    agent_view, _, _ = pull_all(agent_api)
    lead_view, _, _ = pull_all(lead_api)
    agent_sessions = [d for (k, _), d in agent_view.items() if k == "session" and d]
    lead_sessions = [d for (k, _), d in lead_view.items() if k == "session" and d]
    assert agent_sessions, "the demo gives the agent sessions"
    for s in agent_sessions:
        assert s["assignee_id"] == agent_id or (
            s["state"] == "waiting" and s["team_id"] == "team-zx"
        )
    assert all(s["team_id"] == "team-zx" for s in lead_sessions)
    assert len(lead_sessions) > len(agent_sessions)
    with live_server.db() as db:
        expected = db.scalars(
            select(m.Session.id).where(
                (m.Session.assignee_id == agent_id)
                | ((m.Session.state == "waiting") & (m.Session.team_id == "team-zx"))
            )
        ).all()
    assert {s["id"] for s in agent_sessions} == set(expected)


def test_resume_from_a_cursor_and_tombstones(live_server: LiveServer) -> None:
    api = login(live_server, "agent")
    _, cursor, _ = pull_all(api)
    with live_server.db() as db:
        catalog.upsert_knowledge(
            db, {"id": "kb-test-1", "title": "测试新增条目？", "answer": "内容"}
        )
        catalog.upsert_knowledge(
            db, {"id": "kb-test-2", "title": "测试删除条目？", "answer": "内容"}
        )
        db.commit()
    delta, cursor2, _ = pull_all(api, since=cursor)
    assert set(delta) == {("knowledge_entry", "kb-test-1"), ("knowledge_entry", "kb-test-2")}
    with live_server.db() as db:
        catalog.delete_knowledge(db, "kb-test-2")
        catalog.upsert_knowledge(
            db,
            {"id": "kb-test-1", "title": "测试新增条目？", "answer": "改过的内容"},
            bump_version=True,
        )
        db.commit()
    delta2, cursor3, _ = pull_all(api, since=cursor2, limit=1)
    assert delta2[("knowledge_entry", "kb-test-2")] is None, "a deletion arrives as a tombstone"
    assert delta2[("knowledge_entry", "kb-test-1")]["answer"] == "改过的内容"
    assert delta2[("knowledge_entry", "kb-test-1")]["version"] == 2
    assert cursor3 > cursor2 > cursor
    # Nothing new: an empty page with the same cursor.
    page = api.changes(cursor3)
    assert page.changes == [] and page.cursor == cursor3 and not page.has_more


def test_a_cursor_from_another_database_must_reset(live_server: LiveServer) -> None:
    api = login(live_server, "agent")
    with pytest.raises(CursorExpired):
        api.changes(10**9)


@pytest.mark.parametrize("status", [200, 404])
def test_an_html_page_instead_of_the_api_is_a_clear_error(status: int) -> None:
    page = "<html><body><h1>网关错误</h1></body></html>".encode()
    with CannedServer(status, page) as proxy:
        api = ApiClient(proxy.url)
        with pytest.raises(BadResponse) as err:
            api.login("agent", DEMO_PASSWORD)
    assert "无法识别" in err.value.message and "text/html" in err.value.message


def test_a_server_speaking_another_protocol_is_refused() -> None:
    body = b'{"status": "ok", "version": "9.0", "protocol": 9}'
    with (
        CannedServer(200, body, "application/json") as other,
        pytest.raises(IncompatibleServer) as err,
    ):
        ApiClient(other.url).login("agent", DEMO_PASSWORD)
    assert "不兼容" in err.value.message


def test_an_unreachable_server_is_a_clear_error() -> None:
    from sync.embedded import free_port

    with pytest.raises(ServerUnreachable) as err:
        ApiClient(f"http://127.0.0.1:{free_port()}").login("agent", DEMO_PASSWORD)
    assert "无法连接服务器" in err.value.message
