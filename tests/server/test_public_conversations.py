"""Online consultation over HTTP (issue 13), on SQLite and PostgreSQL: the caller's API
and pages, staff messages through the real sync client, the pull, callbacks out of
hours, the caller's rating and the refusal of staff ratings, and the abuse limits."""

from __future__ import annotations

import io
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from server import models as m
from sync.client import ApiClient
from sync.errors import Forbidden
from tests.support import DEMO_PASSWORD, LiveServer

ALWAYS = {"opening_hours": "always"}


def matter_code(server: LiveServer) -> str:
    with server.db() as db:
        return str(db.scalar(select(m.MatterGuide.code).order_by(m.MatterGuide.code).limit(1)))


def start(server: LiveServer, browser: requests.Session, **fields: Any) -> requests.Response:
    body = {"matter_code": matter_code(server), "text": "社保卡丢了怎么补办？", "consent": True}
    body.update(fields)
    return browser.post(f"{server.url}/api/v1/public/conversations", json=body, timeout=10)


def login(server: LiveServer, username: str) -> ApiClient:
    api = ApiClient(server.url)
    api.login(username, DEMO_PASSWORD)
    return api


def push(api: ApiClient, kind: str, op: str, payload: dict[str, Any]) -> dict[str, Any]:
    return api.push(
        [
            {
                "mutation_id": f"t-{uuid.uuid4()}",
                "kind": kind,
                "op": op,
                "target_id": None,
                "payload": payload,
            }
        ]
    )[0]


def pull_all(api: ApiClient) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    cursor, horizon = 0, None
    while True:
        page = api.changes(cursor, horizon=horizon)
        changes.extend(page.changes)
        cursor, horizon = page.cursor, page.horizon
        if not page.has_more:
            return changes


def session_of_token(server: LiveServer, token: str) -> m.Session:
    from server.services.conversations import digest

    with server.db() as db:
        row = db.get(m.CallerToken, digest(token))
        assert row is not None
        session = db.get(m.Session, row.session_id)
        assert session is not None
        db.expunge(session)
        return session


def accept(server: LiveServer, agent: ApiClient, session_id: str) -> None:
    """The agent (of the team the default routing picks, see ``open_server``) accepts."""
    result = push(agent, "session", "transition", {"session_id": session_id, "action": "accept"})
    assert result["status"] == "applied", result["reason"]


def close(agent: ApiClient, session_id: str) -> None:
    for action in ("close",):
        result = push(
            agent,
            "session",
            "transition",
            {
                "session_id": session_id,
                "action": action,
                "outcome": "resolved",
                "close_summary": "已答复",
            },
        )
        assert result["status"] == "applied", result["reason"]


@pytest.fixture
def open_server(live_server_with: Callable[..., LiveServer]) -> LiveServer:
    """Always open; consultations without a matter team go to the team of "agent"."""
    server = live_server_with(**ALWAYS)
    with server.db() as db:
        user = db.scalar(select(m.User).where(m.User.username == "agent"))
        assert user is not None and user.team_id
        team = user.team_id
    server.app.state.settings.chat_default_team = team
    return server


def png_with_metadata() -> bytes:
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    out = io.BytesIO()
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret location 31.2N")
    img.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def test_a_caller_starts_a_conversation_that_waits_in_the_team_queue(
    open_server: LiveServer,
) -> None:
    with requests.Session() as phone:
        answer = start(open_server, phone, name="王女士", phone="13912345678")
        assert answer.status_code == 201, answer.text
        data = answer.json()
        assert data["url"].endswith(f"/c/{data['token']}") and not data["callback"]
        session = session_of_token(open_server, data["token"])
        assert session.channel == "web_chat" and session.state in ("waiting", "assigned")
        view = phone.get(
            f"{open_server.url}/api/v1/public/conversations/{data['token']}/messages", timeout=10
        )
        assert view.status_code == 200
        assert [x["text"] for x in view.json()["messages"]] == ["社保卡丢了怎么补办？"]
    # The token is bound to the browser's cookie: another browser gets nothing.
    other = requests.get(
        f"{open_server.url}/api/v1/public/conversations/{data['token']}/messages", timeout=10
    )
    assert other.status_code == 404 and "无效" in other.json()["detail"]
    with open_server.db() as db:
        stored = db.scalar(select(m.CallerToken.token_hash))
        assert stored != data["token"]  # only the digest


def test_the_matter_team_mapping_routes_the_session(open_server: LiveServer) -> None:
    admin = login(open_server, "admin")
    with open_server.db() as db:
        teams = list(db.scalars(select(m.Team.id).order_by(m.Team.id)))
    code = matter_code(open_server)
    r = requests.put(
        f"{open_server.url}/api/v1/admin/matter-teams",
        json={"teams": {code: teams[-1]}},
        headers={"Authorization": f"Bearer {admin.token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["teams"][code] == teams[-1]
    unknown = requests.put(
        f"{open_server.url}/api/v1/admin/matter-teams",
        json={"teams": {code: "no-such-team"}},
        headers={"Authorization": f"Bearer {admin.token}"},
        timeout=10,
    )
    assert unknown.status_code == 422 and "班组" in unknown.json()["detail"]
    assert admin.get("/admin/matter-teams")["teams"][code] == teams[-1]
    with requests.Session() as phone:
        data = start(open_server, phone).json()
    assert session_of_token(open_server, data["token"]).team_id == teams[-1]
    with pytest.raises(Forbidden):
        login(open_server, "agent").get("/admin/matter-teams")


def test_a_staff_message_reaches_the_callers_long_poll_and_the_callers_the_pull(
    open_server: LiveServer,
) -> None:
    agent = login(open_server, "agent")
    with requests.Session() as phone:
        data = start(open_server, phone).json()
        token, csrf = data["token"], data["csrf"]
        session_id = session_of_token(open_server, token).id
        accept(open_server, agent, session_id)
        api = f"{open_server.url}/api/v1/public/conversations/{token}/messages"
        first = phone.get(api, timeout=10).json()
        assert first["helper"] and first["helper"]["name"]
        got: dict[str, Any] = {}

        def wait() -> None:
            started = time.monotonic()
            got["view"] = phone.get(
                api, params={"after": first["last"], "wait": 20}, timeout=30
            ).json()
            got["seconds"] = time.monotonic() - started

        poller = threading.Thread(target=wait)
        poller.start()
        time.sleep(0.5)
        message_id = f"msg-{uuid.uuid4().hex}"
        result = push(
            agent,
            "message",
            "create",
            {"message_id": message_id, "session_id": session_id, "text": "您好，可以线上补办。"},
        )
        assert result["status"] == "applied", result["reason"]
        poller.join(25)
        assert [x["text"] for x in got["view"]["messages"]] == ["您好，可以线上补办。"]
        assert got["seconds"] < 5
        assert got["view"]["messages"][0]["from"] == "staff"
        # The caller answers; the agent's pull carries it as a message record.
        sent = phone.post(
            api, json={"text": "好的，谢谢"}, headers={"X-CSRF-Token": csrf}, timeout=10
        )
        assert sent.status_code == 201, sent.text
    with open_server.db() as db:
        session = db.get(m.Session, session_id)
        assert session is not None and session.first_response_at is not None
    records = [c for c in pull_all(agent) if c["kind"] == "message"]
    texts = {c["data"]["text"] for c in records if c.get("data")}
    assert {"您好，可以线上补办。", "好的，谢谢", "社保卡丢了怎么补办？"} <= texts
    for c in records:
        assert "13912345678" not in str(c)


def test_a_message_is_read_once_the_callers_page_receives_it_and_suggestions_count(
    open_server: LiveServer,
) -> None:
    """``read_at`` is set when the caller's poll returns the staff message (the agent
    hears of it live); a message quoting an entry keeps the entry; one sent from the
    suggestions is a timeline event and counts in the team's figures."""
    agent = login(open_server, "agent")
    with open_server.db() as db:
        entry = db.scalar(select(m.KnowledgeEntry).order_by(m.KnowledgeEntry.id).limit(1))
        assert entry is not None
        entry_id, entry_title = entry.id, entry.title
    with requests.Session() as phone:
        data = start(open_server, phone).json()
        token = data["token"]
        session_id = session_of_token(open_server, token).id
        accept(open_server, agent, session_id)
        api = f"{open_server.url}/api/v1/public/conversations/{token}/messages"
        last = phone.get(api, timeout=10).json()["last"]
        cursor = agent.events(0, wait=0)["last"]
        message_id = f"msg-{uuid.uuid4().hex}"
        payload = {
            "message_id": message_id,
            "session_id": session_id,
            "text": entry_title,
            "knowledge_id": entry_id,
            "suggested": True,
        }
        assert push(agent, "message", "create", payload)["status"] == "applied"
        records = {c["id"]: c for c in pull_all(agent) if c["kind"] == "message"}
        assert records[message_id]["data"]["read_at"] is None
        assert records[message_id]["data"]["knowledge_id"] == entry_id
        # The caller's page polls and receives it; its next poll (after it) says so.
        got = phone.get(api, params={"after": last}, timeout=10).json()
        assert [x["id"] for x in got["messages"]] == [message_id]
        records = {c["id"]: c for c in pull_all(agent) if c["kind"] == "message"}
        assert records[message_id]["data"]["read_at"] is None, "not read before it is shown"
        phone.get(api, params={"after": got["last"]}, timeout=10)
    records = {c["id"]: c for c in pull_all(agent) if c["kind"] == "message"}
    assert records[message_id]["data"]["read_at"] is not None
    kinds = [e["kind"] for e in agent.events(cursor, wait=0)["events"]]
    assert "message_read" in kinds
    with open_server.db() as db:
        events = list(
            db.scalars(
                select(m.SessionEvent).where(
                    m.SessionEvent.session_id == session_id,
                    m.SessionEvent.kind == "suggestion_sent",
                )
            )
        )
        assert len(events) == 1
    lead = login(open_server, "lead")
    figures = lead.get("/team/figures", period="day")
    assert figures["team"]["suggestions_sent"] == 1, figures["team"]


def test_only_the_sessions_own_share_link_becomes_a_button(open_server: LiveServer) -> None:
    agent = login(open_server, "agent")
    with requests.Session() as phone:
        data = start(open_server, phone).json()
        session_id = session_of_token(open_server, data["token"]).id
        accept(open_server, agent, session_id)
        join_url = agent.post(f"/sessions/{session_id}/share")["join_url"]
        for text in (f"请点链接：{join_url} 核对暗语", "别的网站 https://evil.example/j/123456789"):
            payload = {"message_id": f"msg-{uuid.uuid4().hex}", "session_id": session_id}
            assert push(agent, "message", "create", {**payload, "text": text})["status"] == (
                "applied"
            )
        api = f"{open_server.url}/api/v1/public/conversations/{data['token']}/messages"
        staff = [x for x in phone.get(api, timeout=10).json()["messages"] if x["from"] == "staff"]
        assert [x["links"] for x in staff] == [[join_url], []]
        page = phone.get(f"{open_server.url}/c/{data['token']}", timeout=10).text
        assert page.count('button share-link" href=') == 1 and f'href="{join_url}"' in page
        assert 'href="https://evil.example' not in page


def test_a_notice_sent_in_the_conversation_is_a_page_the_caller_can_print(
    open_server: LiveServer,
) -> None:
    agent = login(open_server, "agent")
    with requests.Session() as phone:
        data = start(open_server, phone).json()
        token = data["token"]
        session_id = session_of_token(open_server, token).id
        accept(open_server, agent, session_id)
        notice_id, text_id = f"msg-{uuid.uuid4().hex}", f"msg-{uuid.uuid4().hex}"
        body = "一次性告知\n需要带：身份证原件\n办理地点：<b>一楼</b>"
        base = {"session_id": session_id}
        sent = push(
            agent,
            "message",
            "create",
            {**base, "message_id": notice_id, "text": body, "kind": "notice"},
        )
        assert sent["status"] == "applied"
        assert (
            push(agent, "message", "create", {**base, "message_id": text_id, "text": "好的"})[
                "status"
            ]
            == "applied"
        )
        bogus = push(
            agent, "message", "create", {**base, "message_id": "m-x1", "text": "x", "kind": "html"}
        )
        assert bogus["status"] == "rejected" and "消息类型" in bogus["reason"]
        api = f"{open_server.url}/api/v1/public/conversations/{token}/messages"
        staff = [x for x in phone.get(api, timeout=10).json()["messages"] if x["from"] == "staff"]
        assert [x["notice"] for x in staff] == [True, False]
        page = phone.get(f"{open_server.url}/c/{token}", timeout=10).text
        assert f'href="/c/{token}/notice/{notice_id}"' in page
        printable = phone.get(f"{open_server.url}/c/{token}/notice/{notice_id}", timeout=10)
        assert printable.status_code == 200
        assert (
            "需要带：身份证原件" in printable.text and "&lt;b&gt;一楼&lt;/b&gt;" in printable.text
        )
        assert (
            phone.get(f"{open_server.url}/c/{token}/notice/{text_id}", timeout=10).status_code
            == 404
        )
    # Another browser (no cookie) gets nothing.
    assert (
        requests.get(f"{open_server.url}/c/{token}/notice/{notice_id}", timeout=10).status_code
        == 404
    )
    records = {c["id"]: c for c in pull_all(agent) if c["kind"] == "message"}
    assert records[notice_id]["data"]["kind"] == "notice"


def test_only_the_assignee_writes_and_a_closed_session_takes_no_messages(
    open_server: LiveServer,
) -> None:
    agent = login(open_server, "agent")
    with requests.Session() as phone:
        data = start(open_server, phone).json()
    session_id = session_of_token(open_server, data["token"]).id
    payload = {"message_id": f"m-{uuid.uuid4().hex}", "session_id": session_id, "text": "你好"}
    refused = push(agent, "message", "create", payload)
    assert refused["status"] == "rejected" and "承办人" in refused["reason"]
    empty = push(agent, "message", "create", {**payload, "text": "", "message_id": "m-empty-1"})
    assert empty["status"] == "rejected"
    too_long = push(
        agent, "message", "create", {**payload, "text": "长" * 2001, "message_id": "m-long-1"}
    )
    assert too_long["status"] == "rejected" and "消息内容" in too_long["reason"]


def test_a_photo_is_re_encoded_without_metadata_and_staff_fetch_it(open_server: LiveServer) -> None:
    agent = login(open_server, "agent")
    with requests.Session() as phone:
        data = start(open_server, phone).json()
        session_id = session_of_token(open_server, data["token"]).id
        accept(open_server, agent, session_id)
        api = f"{open_server.url}/api/v1/public/conversations/{data['token']}/messages"
        headers = {"X-CSRF-Token": data["csrf"]}
        sent = phone.post(
            api,
            files={"photo": ("a.png", png_with_metadata(), "image/png")},
            headers=headers,
            timeout=10,
        )
        assert sent.status_code == 201, sent.text
        bogus = phone.post(
            api,
            files={"photo": ("a.png", b"<script>alert(1)</script>", "image/png")},
            headers=headers,
            timeout=10,
        )
        assert bogus.status_code == 415 and "JPG 或 PNG" in bogus.json()["detail"]
        huge = phone.post(
            api,
            files={"photo": ("a.jpg", b"\xff" * (5 * 1024 * 1024), "image/jpeg")},
            headers=headers,
            timeout=20,
        )
        assert huge.status_code == 413
        view = phone.get(api, timeout=10).json()
    photo_id = view["messages"][-1]["photos"][0]
    raw = agent.download(f"/attachments/{photo_id}")
    assert raw.startswith(b"\x89PNG") and b"secret location" not in raw
    assert Image.open(io.BytesIO(raw)).size == (64, 48)
    # Someone who may not see the session gets nothing.
    with open_server.db() as db:
        assert db.get(m.Attachment, photo_id) is not None


def test_writes_without_the_page_token_or_from_another_site_are_refused(
    open_server: LiveServer,
) -> None:
    with requests.Session() as phone:
        data = start(open_server, phone).json()
        api = f"{open_server.url}/api/v1/public/conversations/{data['token']}/messages"
        missing = phone.post(api, json={"text": "hi"}, timeout=10)
        assert missing.status_code == 403 and "安全令牌" in missing.json()["detail"]
        wrong = phone.post(api, json={"text": "hi"}, headers={"X-CSRF-Token": "x" * 32}, timeout=10)
        assert wrong.status_code == 403
        cross = phone.post(
            api,
            json={"text": "hi"},
            headers={"X-CSRF-Token": data["csrf"], "Origin": "https://evil.example"},
            timeout=10,
        )
        assert cross.status_code == 403 and "其他网站" in cross.json()["detail"]
        # The HTML form without its token.
        page = phone.get(f"{open_server.url}/c/{data['token']}", timeout=10)
        assert page.status_code == 200 and "社保卡丢了怎么补办？" in page.text
        form = phone.post(
            f"{open_server.url}/c/{data['token']}/send", data={"text": "hi"}, timeout=10
        )
        assert form.status_code == 403 and "页面已失效" in form.text


def test_oversized_and_malformed_input_is_refused_in_words(open_server: LiveServer) -> None:
    url = f"{open_server.url}/api/v1/public/conversations"
    with requests.Session() as phone:
        big = phone.post(
            url,
            data=b"{" + b" " * (40 * 1024) + b"}",
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert big.status_code == 413
        bad = phone.post(
            url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10
        )
        assert bad.status_code == 422
        no_consent = start(open_server, phone, consent=False)
        assert no_consent.status_code == 422 and "同意" in no_consent.json()["detail"]
        wrong_phone = start(open_server, phone, phone="123")
        assert wrong_phone.status_code == 422 and "手机号" in wrong_phone.json()["detail"]
        long_question = start(open_server, phone, text="问" * 1001)
        assert long_question.status_code == 422 and "1000" in long_question.json()["detail"]
        unknown = start(open_server, phone, matter_code="no-such-matter")
        assert unknown.status_code == 422 and "事项" in unknown.json()["detail"]
        data = start(open_server, phone).json()
        api = f"{url}/{data['token']}/messages"
        long_text = phone.post(
            api, json={"text": "长" * 2001}, headers={"X-CSRF-Token": data["csrf"]}, timeout=10
        )
        assert long_text.status_code == 422 and "2000" in long_text.json()["detail"]
        # Output is escaped on the page.
        phone.post(
            api,
            json={"text": "<script>alert(1)</script>"},
            headers={"X-CSRF-Token": data["csrf"]},
            timeout=10,
        )
        page = phone.get(f"{open_server.url}/c/{data['token']}", timeout=10)
        assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text


def test_new_conversations_and_messages_are_capped_per_address(
    live_server_with: Callable[..., LiveServer],
) -> None:
    server = live_server_with(
        **ALWAYS, chat_new_per_address_hour=2, chat_messages_per_address_minute=3
    )
    with requests.Session() as phone:
        assert start(server, phone).status_code == 201
        second = start(server, phone)
        assert second.status_code == 201
        third = start(server, phone)
        assert third.status_code == 429 and "频繁" in third.json()["detail"]
        assert int(third.headers["Retry-After"]) > 0
        data = second.json()
        api = f"{server.url}/api/v1/public/conversations/{data['token']}/messages"
        codes = [
            phone.post(
                api, json={"text": f"第{i}条"}, headers={"X-CSRF-Token": data["csrf"]}, timeout=10
            ).status_code
            for i in range(4)
        ]
    assert codes == [201, 201, 201, 429]


def test_out_of_hours_a_start_becomes_a_callback_request(
    live_server_with: Callable[..., LiveServer],
) -> None:
    server = live_server_with(opening_hours="00:00-00:01")
    with requests.Session() as phone:
        page = phone.get(f"{server.url}/c", timeout=10)
        assert "非工作时间" in page.text and "回电" in page.text
        no_phone = start(server, phone)
        assert no_phone.status_code == 422 and "手机号" in no_phone.json()["detail"]
        answer = start(server, phone, phone="13912345678")
        assert answer.status_code == 201 and answer.json()["callback"]
    session = session_of_token(server, answer.json()["token"])
    assert session.state == "callback_pending" and session.callback_due_at is not None
    assert session.assignee_id is None


def test_the_caller_rates_once_and_staff_can_no_longer_rate(open_server: LiveServer) -> None:
    agent = login(open_server, "agent")
    with requests.Session() as phone:
        data = start(open_server, phone).json()
        session_id = session_of_token(open_server, data["token"]).id
        accept(open_server, agent, session_id)
        staff_rating = push(
            agent,
            "evaluation",
            "create",
            {"evaluation_id": f"e-{uuid.uuid4().hex}", "session_id": session_id, "score": 5},
        )
        assert staff_rating["status"] == "rejected" and "群众本人" in staff_rating["reason"]
        url = f"{open_server.url}/api/v1/public/conversations/{data['token']}/evaluation"
        headers = {"X-CSRF-Token": data["csrf"]}
        early = phone.post(url, json={"score": 5}, headers=headers, timeout=10)
        assert early.status_code == 409 and "尚未结束" in early.json()["detail"]
        close(agent, session_id)
        bad = phone.post(url, json={"score": 9}, headers=headers, timeout=10)
        assert bad.status_code == 422
        rated = phone.post(url, json={"score": 2, "comment": "等太久"}, headers=headers, timeout=10)
        assert rated.status_code == 200, rated.text
        again = phone.post(url, json={"score": 5}, headers=headers, timeout=10)
        assert again.status_code == 409 and "已经评价过" in again.json()["detail"]
    with open_server.db() as db:
        evaluation = db.scalar(select(m.Evaluation).where(m.Evaluation.session_id == session_id))
        assert evaluation is not None and evaluation.score == 2 and evaluation.recorded_by is None
        rect = db.scalar(select(m.Rectification).where(m.Rectification.session_id == session_id))
        assert rect is not None  # a 1-2 opens the rectification as before


def test_a_rating_link_for_a_phone_session(open_server: LiveServer) -> None:
    agent = login(open_server, "agent")
    with requests.Session() as phone:
        data = start(open_server, phone).json()
    session_id = session_of_token(open_server, data["token"]).id
    lead = login(open_server, "lead")
    with pytest.raises(Forbidden):
        lead.post(f"/sessions/{session_id}/rating-link")
    accept(open_server, agent, session_id)
    link = agent.post(f"/sessions/{session_id}/rating-link")
    assert "/r/" in link["url"] and link["url"] in link["sms_text"]
    token = link["url"].rsplit("/", 1)[1]
    close(agent, session_id)
    with requests.Session() as caller:
        page = caller.get(f"{open_server.url}/r/{token}", timeout=10)
        assert page.status_code == 200 and "非常满意" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        no_token = caller.post(f"{open_server.url}/r/{token}", data={"score": "5"}, timeout=10)
        assert no_token.status_code == 403
        done = caller.post(
            f"{open_server.url}/r/{token}", data={"score": "5", "csrf": csrf}, timeout=10
        )
        assert done.status_code == 200 and "感谢您的评价" in done.text
    api = requests.post(
        f"{open_server.url}/api/v1/public/ratings/{token}/evaluation", json={"score": 4}, timeout=10
    )
    assert api.status_code == 409
    with open_server.db() as db:
        assert (
            db.scalar(select(m.AuditLog).where(m.AuditLog.action == "session.rating_link"))
            is not None
        )


def test_tokens_stop_working_days_after_the_session_closes(open_server: LiveServer) -> None:
    agent = login(open_server, "agent")
    with requests.Session() as phone:
        data = start(open_server, phone).json()
        session_id = session_of_token(open_server, data["token"]).id
        accept(open_server, agent, session_id)
        close(agent, session_id)
        api = f"{open_server.url}/api/v1/public/conversations/{data['token']}/messages"
        assert phone.get(api, timeout=10).status_code == 200
        from datetime import datetime, timedelta

        with open_server.db() as db:
            session = db.get(m.Session, session_id)
            assert session is not None
            session.closed_at = datetime.now() - timedelta(days=8)
            db.commit()
        assert phone.get(api, timeout=10).status_code == 404


def test_the_html_pages_work_without_javascript(open_server: LiveServer) -> None:
    with requests.Session() as phone:
        page = phone.get(f"{open_server.url}/c", timeout=10)
        assert page.status_code == 200 and "线上咨询" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        code = re.search(r'name="matter_code" value="([^"]+)"', page.text).group(1)
        missing = phone.post(
            f"{open_server.url}/c", data={"csrf": csrf, "matter_code": code, "text": ""}, timeout=10
        )
        assert missing.status_code == 422 and "请写下您要咨询的问题" in missing.text
        started = phone.post(
            f"{open_server.url}/c",
            data={"csrf": csrf, "matter_code": code, "text": "怎么办理？", "consent": "1"},
            timeout=10,
        )
        assert started.status_code == 200 and "/c/" in started.url and "怎么办理？" in started.text
        sent = phone.post(
            started.url + "/send", data={"csrf": csrf, "text": "补充一句"}, timeout=10
        )
        assert sent.status_code == 200 and "补充一句" in sent.text
        large = phone.get(
            f"{open_server.url}/c/mode", params={"large": 1, "back": "/c"}, timeout=10
        )
        assert 'class="large"' in large.text
        evil = phone.get(
            f"{open_server.url}/c/mode",
            params={"back": "https://evil.example"},
            allow_redirects=False,
            timeout=10,
        )
        assert evil.headers["location"] == "/c"
        found = phone.get(f"{open_server.url}/c", params={"q": "zzzzzz"}, timeout=10)
        assert "没有找到相关事项" in found.text
