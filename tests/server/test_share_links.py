"""Screen-share links on the server: creation, codes, expiry, revocation, the caller's
pages over HTTP, rate limiting, and the providers (Jitsi JWT, URL template)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import pytest
import requests
from sqlalchemy import func, select

from server import models as m
from server.services import share
from server.services import share_providers as providers
from sync.client import ApiClient
from sync.errors import Forbidden, Refused, ServerBusy
from tests.share_support import StandInProvider, consent_over_http, session_of, user_id
from tests.support import DEMO_PASSWORD, LiveServer


def login(server: LiveServer, username: str) -> ApiClient:
    api = ApiClient(server.url)
    api.login(username, DEMO_PASSWORD)
    return api


def timeline(server: LiveServer, session_id: str, prefix: str = "share_") -> list[m.SessionEvent]:
    with server.db() as db:
        return list(
            db.scalars(
                select(m.SessionEvent)
                .where(m.SessionEvent.session_id == session_id)
                .where(m.SessionEvent.kind.startswith(prefix))
                .order_by(m.SessionEvent.id)
            )
        )


def change_rows(server: LiveServer, link_id: str) -> int:
    with server.db() as db:
        return int(
            db.scalar(
                select(func.count())
                .select_from(m.ChangeLog)
                .where(m.ChangeLog.kind == "share_link", m.ChangeLog.entity_id == link_id)
            )
            or 0
        )


def move_expiry(server: LiveServer, link_id: str, when: datetime) -> None:
    with server.db() as db:
        row = db.get(m.ShareLink, link_id)
        assert row is not None
        row.expires_at = when
        db.commit()


@pytest.fixture
def agent(live_server: LiveServer) -> Iterator[ApiClient]:
    api = login(live_server, "agent")
    yield api
    api.close()


# -- creation ----------------------------------------------------------------------------


def test_the_assignee_creates_a_link_with_code_room_phrase_and_expiry(
    live_server: LiveServer, agent: ApiClient
) -> None:
    session_id = session_of(live_server, "agent")
    before = datetime.now()
    link = agent.post(f"/sessions/{session_id}/share")
    assert re.fullmatch(r"[1-9]\d{8}", link["code"]), "nine digits (README: join codes)"
    assert re.fullmatch(r"bangban-[0-9a-f]{32}", link["room"])
    words = link["check_phrase"].split()
    assert len(words) == 2 and words[0] != words[1]
    assert all(w in share.PHRASE_WORDS for w in words)
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(minutes=29) < expires - before <= timedelta(minutes=30, seconds=5)
    assert link["state"] == "live" and link["provider"] == "jitsi"
    assert link["join_url"] == f"{live_server.url}/j/{link['code']}"
    assert link["helper"] == {
        "name": "李晓雯",
        "staff_number": "JN-0107",
        "office": "江宁市政务服务中心",
        "team": "综合咨询组",
    }
    # The creation is a timeline event, a change row, and an event to the agent.
    events = timeline(live_server, session_id)
    assert [e.kind for e in events] == ["share_created"]
    assert events[0].actor_name == "李晓雯" and events[0].detail["link_id"] == link["id"]
    assert change_rows(live_server, link["id"]) == 1
    stream = agent.events(0, 0)["events"]
    assert [e["payload"]["change"] for e in stream if e["kind"] == "share_link"] == [
        "share_created"
    ]
    assert agent.get(f"/sessions/{session_id}/share")["id"] == link["id"]


def test_the_expiry_is_a_setting_and_can_be_asked_for(
    live_server: LiveServer, agent: ApiClient
) -> None:
    session_id = session_of(live_server, "agent")
    live_server.app.state.settings.share_link_minutes = 10
    link = agent.post(f"/sessions/{session_id}/share")
    span = datetime.fromisoformat(link["expires_at"]) - datetime.fromisoformat(link["created_at"])
    assert span == timedelta(minutes=10)
    longer = agent.post(f"/sessions/{session_id}/share", {"minutes": 45})
    span = datetime.fromisoformat(longer["expires_at"]) - datetime.fromisoformat(
        longer["created_at"]
    )
    assert span == timedelta(minutes=45)
    with pytest.raises(Refused) as err:
        agent.post(f"/sessions/{session_id}/share", {"minutes": 600})
    assert "有效期" in err.value.message


def test_only_the_assignee_of_an_open_session_may_create(
    live_server: LiveServer, agent: ApiClient
) -> None:
    session_id = session_of(live_server, "agent")
    for username in ("wangfang", "lead"):
        other = login(live_server, username)
        with pytest.raises(Forbidden) as err:
            other.post(f"/sessions/{session_id}/share")
        assert "承办人" in err.value.message
        other.close()
    with pytest.raises(Refused) as closed:
        agent.post(f"/sessions/{session_of(live_server, 'agent', 'closed')}/share")
    assert "已办结" in closed.value.message
    with pytest.raises(Refused):
        agent.post("/sessions/no-such-session/share")
    assert timeline(live_server, session_id) == []


def test_a_new_link_revokes_the_previous_one(live_server: LiveServer, agent: ApiClient) -> None:
    session_id = session_of(live_server, "agent")
    first = agent.post(f"/sessions/{session_id}/share")
    second = agent.post(f"/sessions/{session_id}/share")
    assert first["id"] != second["id"] and first["code"] != second["code"]
    with live_server.db() as db:
        states = dict(
            db.execute(
                select(m.ShareLink.id, m.ShareLink.state).where(
                    m.ShareLink.session_id == session_id
                )
            ).all()
        )
    assert states == {first["id"]: "revoked", second["id"]: "live"}
    kinds = [e.kind for e in timeline(live_server, session_id)]
    assert kinds == ["share_created", "share_revoked", "share_created"]
    assert requests.get(first["join_url"], timeout=10).status_code == 404
    assert requests.get(second["join_url"], timeout=10).status_code == 200


def test_codes_are_unique_among_live_links_and_free_again_after_expiry(
    live_server: LiveServer,
) -> None:
    """A random source that always says the same: the second live link must still get
    another code, and the first link's code is free again once it has expired."""
    agent_id, other_id = user_id(live_server, "agent"), user_id(live_server, "wangfang")
    first_session = session_of(live_server, "agent")
    other_session = session_of(live_server, "wangfang")
    settings = live_server.app.state.settings
    now = datetime.now()
    with live_server.db() as db:
        a = share.create_link(
            db, settings, first_session, agent_id, base_url="http://x", now=now, choose=lambda n: 0
        )
        b = share.create_link(
            db, settings, other_session, other_id, base_url="http://x", now=now, choose=lambda n: 0
        )
        db.commit()
        assert a.code == "100000000"
        assert b.code != a.code and len(b.code) == 10, "nine digits taken: a longer code"
        later = now + timedelta(minutes=31)
        c = share.create_link(
            db,
            settings,
            other_session,
            other_id,
            base_url="http://x",
            now=later,
            choose=lambda n: 0,
        )
        db.commit()
        assert c.code == "100000000", "an expired link's code may be given out again"
        # The old code now leads to the new live link, not to the expired one.
        assert share.find_by_code(db, "100000000", later).id == c.id


def test_the_code_space_can_run_out_without_a_crash(live_server: LiveServer) -> None:
    agent_id = user_id(live_server, "agent")
    session_id = session_of(live_server, "agent")
    settings = live_server.app.state.settings
    now = datetime.now()
    with live_server.db() as db:
        share.create_link(
            db, settings, session_id, agent_id, base_url="http://x", now=now, choose=lambda n: 0
        )
        # Every length's first candidate is taken by a live link of another session.
        other = session_of(live_server, "agent", "on_hold")
        for code in ("1000000000",):
            db.add(
                m.ShareLink(
                    id=f"taken-{code}",
                    session_id=other,
                    code=code,
                    room="r",
                    check_phrase="苹果 月亮",
                    provider="jitsi",
                    state="live",
                    created_at=now,
                    expires_at=now + timedelta(minutes=30),
                )
            )
        db.flush()
        with pytest.raises(share.ShareError) as err:
            share.new_code(db, now, choose=lambda n: 0)
        assert err.value.status == 503 and "共享码" in err.value.message
        db.rollback()


# -- expiry and revocation --------------------------------------------------------------


def test_expiry_is_lazy_and_recorded_once(live_server: LiveServer, agent: ApiClient) -> None:
    session_id = session_of(live_server, "agent")
    link = agent.post(f"/sessions/{session_id}/share")
    move_expiry(live_server, link["id"], datetime.now() - timedelta(seconds=1))
    page = requests.get(link["join_url"], timeout=10)
    # An expired code looks like any unknown one (no oracle of codes given out).
    assert page.status_code == 404 and "共享码无效或已结束" in page.text
    assert "<form" not in page.text, "an expired code leads nowhere"
    assert agent.get(f"/sessions/{session_id}/share")["state"] == "expired"
    assert requests.get(link["join_url"], timeout=10).status_code == 404
    kinds = [e.kind for e in timeline(live_server, session_id)]
    assert kinds == ["share_created", "share_expired"]
    changes = [
        e["payload"]["change"] for e in agent.events(0, 0)["events"] if e["kind"] == "share_link"
    ]
    assert changes == ["share_created", "share_expired"]
    with pytest.raises(Refused) as err:
        agent.get(f"/share/{link['id']}/room")
    assert "已结束" in err.value.message


def test_revocation_stops_the_code_at_once(live_server: LiveServer, agent: ApiClient) -> None:
    session_id = session_of(live_server, "agent")
    link = agent.post(f"/sessions/{session_id}/share")
    assert requests.get(link["join_url"], timeout=10).status_code == 200
    stranger = login(live_server, "wangfang")
    with pytest.raises(Forbidden):
        stranger.delete(f"/share/{link['id']}")
    stranger.close()
    revoked = agent.delete(f"/share/{link['id']}")
    assert revoked["state"] == "revoked" and revoked["revoked_at"]
    page = requests.get(link["join_url"], timeout=10)
    assert page.status_code == 404 and "共享码无效或已结束" in page.text
    assert "<form" not in page.text and "李晓雯" not in page.text
    # Revoking again changes nothing.
    assert agent.delete(f"/share/{link['id']}")["state"] == "revoked"
    kinds = [e.kind for e in timeline(live_server, session_id)]
    assert kinds == ["share_created", "share_revoked"], "a plain GET does not mark it opened"


def test_a_lead_of_the_team_may_revoke(live_server: LiveServer, agent: ApiClient) -> None:
    link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    lead = login(live_server, "lead")
    assert lead.delete(f"/share/{link['id']}")["state"] == "revoked"
    lead.close()


# -- the caller's side over HTTP -----------------------------------------------------------


def test_consent_is_recorded_and_the_caller_is_sent_to_the_room(
    live_server: LiveServer, agent: ApiClient
) -> None:
    session_id = session_of(live_server, "agent")
    link = agent.post(f"/sessions/{session_id}/share")
    # A computer is sent straight into the room; a phone gets the app first
    # (tests/server/test_join_phone.py).
    computer = {
        "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0"
    }
    page, answer = consent_over_http(link["join_url"], headers=computer)
    assert page.status_code == 200
    for text in ("李晓雯", "JN-0107", "江宁市政务服务中心", *link["check_phrase"].split()):
        assert text in page.text
    assert "不会索要验证码、银行卡密码，不会要求转账" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "<script" not in page.text
    assert answer.status_code == 303
    target = answer.headers["location"]
    assert target.startswith(f"https://meet.jit.si/{link['room']}")
    assert "jwt=" not in target, "no app id configured: no token"
    kinds = [e.kind for e in timeline(live_server, session_id)]
    assert kinds == ["share_created", "share_opened", "share_consented"]
    consent = timeline(live_server, session_id)[-1]
    assert consent.actor_name == "群众"
    assert consent.detail["address"] == "127.0.0.1"
    assert "Windows NT 10.0" in consent.detail["browser"]
    assert "李晓雯" in consent.detail["agreed"]
    assert "Windows Chrome" in consent.detail["summary"]
    assert agent.get(f"/sessions/{session_id}/share")["state"] == "consented"


def test_consent_needs_the_page_token_and_our_origin(
    live_server: LiveServer, agent: ApiClient
) -> None:
    link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    # A form on another site: no cookie, a made-up token.
    forged = requests.post(
        link["join_url"], data={"token": "guess"}, allow_redirects=False, timeout=10
    )
    assert forged.status_code == 403 and "页面已失效" in forged.text
    # The right cookie and token, but posted from another origin.
    _page, cross = consent_over_http(link["join_url"], headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    with live_server.db() as db:
        assert db.get(m.ShareLink, link["id"]).state == "live", "refused posts open nothing"
    _page, ok = consent_over_http(link["join_url"], headers={"Origin": live_server.url})
    assert ok.status_code == 303


def test_the_code_form_accepts_what_people_type(live_server: LiveServer, agent: ApiClient) -> None:
    link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    code = link["code"]
    wide = "".join(chr(ord(c) + 0xFEE0) for c in code)  # full-width digits from a Chinese IME
    for typed in (code, f"{code[:3]} {code[3:]}", wide):
        answer = requests.get(
            f"{live_server.url}/j", params={"code": typed}, allow_redirects=False, timeout=10
        )
        assert answer.status_code == 303 and answer.headers["location"] == f"/j/{code}"
    bad = requests.get(f"{live_server.url}/j", params={"code": "12ab"}, timeout=10)
    assert bad.status_code == 400 and "6 到 10 位数字" in bad.text
    empty = requests.get(f"{live_server.url}/j", timeout=10)
    assert empty.status_code == 200 and 'name="code"' in empty.text


def test_a_misconfigured_provider_is_said_in_words(
    live_server: LiveServer, agent: ApiClient
) -> None:
    settings = live_server.app.state.settings
    settings.share_provider = "template"
    settings.share_url_template = ""
    with pytest.raises(ServerBusy) as err:
        agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    assert "地址模板" in err.value.message


# -- providers -------------------------------------------------------------------------------


def test_jitsi_tokens_carry_the_documented_claims(
    live_server: LiveServer, agent: ApiClient
) -> None:
    settings = live_server.app.state.settings
    settings.jitsi_base_url = "https://meet.example.gov.cn"
    settings.jitsi_app_id = "bangban-desk"
    settings.jitsi_app_secret = "a-test-secret-of-enough-length-for-hs256"
    link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    _page, answer = consent_over_http(link["join_url"])
    target = urlsplit(answer.headers["location"])
    assert (target.scheme, target.netloc, target.path) == (
        "https",
        "meet.example.gov.cn",
        f"/{link['room']}",
    )
    token = parse_qs(target.query)["jwt"][0]
    claims = jwt.decode(
        token,
        settings.jitsi_app_secret,
        algorithms=["HS256"],
        audience="jitsi",
        issuer="bangban-desk",
        options={"require": ["aud", "iss", "sub", "exp", "nbf"]},
    )
    assert claims["sub"] == "meet.example.gov.cn"
    assert claims["room"] == link["room"]
    created = datetime.fromisoformat(link["created_at"])
    expires = datetime.fromisoformat(link["expires_at"])
    assert claims["exp"] == int(expires.timestamp())
    assert claims["nbf"] <= int(created.timestamp())
    assert claims["context"]["user"]["name"] == "群众"
    assert claims["context"]["user"]["moderator"] == "false"
    assert "zhCN" in unquote(target.fragment)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token, "another-secret-of-enough-length-here", algorithms=["HS256"], audience="jitsi"
        )
    # The staff member's own way in names them and makes them the moderator.
    staff = urlsplit(agent.get(f"/share/{link['id']}/room")["url"])
    staff_claims = jwt.decode(
        parse_qs(staff.query)["jwt"][0],
        settings.jitsi_app_secret,
        algorithms=["HS256"],
        audience="jitsi",
    )
    assert staff_claims["context"]["user"]["name"] == "李晓雯"
    assert staff_claims["context"]["user"]["moderator"] == "true"
    assert staff_claims["room"] == link["room"]


def test_a_url_template_names_room_code_and_person(
    live_server: LiveServer, agent: ApiClient
) -> None:
    settings = live_server.app.state.settings
    settings.share_provider = "template"
    settings.share_url_template = "https://share.example.cn/r/{room}?c={code}&who={name}"
    link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    assert link["provider"] == "template"
    page, answer = consent_over_http(link["join_url"])
    assert "form-action 'self' https://share.example.cn" in page.headers["Content-Security-Policy"]
    target = urlsplit(answer.headers["location"])
    assert target.path == f"/r/{link['room']}"
    assert parse_qs(target.query) == {"c": [link["code"]], "who": ["群众"]}
    staff = urlsplit(agent.get(f"/share/{link['id']}/room")["url"])
    assert parse_qs(staff.query)["who"] == ["李晓雯"]


def test_the_stand_in_provider_receives_the_caller(
    live_server: LiveServer, agent: ApiClient
) -> None:
    with StandInProvider() as provider:
        settings = live_server.app.state.settings
        settings.share_provider = "template"
        settings.share_url_template = provider.template
        link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
        with requests.Session() as http:
            page = http.get(link["join_url"], timeout=10)
            token = re.search(r'name="token" value="([^"]+)"', page.text)
            assert token
            arrived = http.post(link["join_url"], data={"token": token.group(1)}, timeout=10)
        assert arrived.status_code == 200 and "共享房间" in arrived.text
        assert len(provider.room_hits) == 1
        hit = provider.room_hits[0]
        assert hit.path == f"/room/{link['room']}" and hit.query["code"] == [link["code"]]
        assert "Referer" not in hit.headers, "the join code never leaks as a referrer"


# -- sync ------------------------------------------------------------------------------------


def test_links_reach_the_session_viewers_by_sync_only(
    live_server: LiveServer, agent: ApiClient
) -> None:
    session_id = session_of(live_server, "agent")
    cursor = agent.changes(0, 2000).cursor
    link = agent.post(f"/sessions/{session_id}/share")
    page = agent.changes(cursor, 2000)
    records = {(c["kind"], c["id"]): c for c in page.changes}
    pulled = records[("share_link", link["id"])]["data"]
    assert pulled["code"] == link["code"] and pulled["session_id"] == session_id
    assert pulled["helper"]["name"] == "李晓雯"
    session = records[("session", session_id)]["data"]
    assert [e["kind"] for e in session["timeline"]][-1] == "share_created"
    stranger = login(live_server, "wangfang")
    seen = {(c["kind"], c["id"]) for c in stranger.changes(0, 5000).changes}
    assert ("share_link", link["id"]) not in seen
    stranger.close()
    lead = login(live_server, "lead")
    assert ("share_link", link["id"]) in {
        (c["kind"], c["id"]) for c in lead.changes(0, 5000).changes
    }
    lead.close()


# -- small pieces ----------------------------------------------------------------------------


def test_the_phrase_words_are_distinct_two_character_words() -> None:
    assert len(share.PHRASE_WORDS) == len(set(share.PHRASE_WORDS)) >= 80
    assert all(
        len(w) == 2 and all("\u4e00" <= ch <= "\u9fff" for ch in w) for w in share.PHRASE_WORDS
    )
    for pick in range(len(share.PHRASE_WORDS)):
        first, second = share.new_check_phrase(lambda n, pick=pick: min(pick, n - 1)).split()
        assert first != second


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("123456", "123456"),
        (" 123 456 ", "123456"),
        ("１２３４５６７", "1234567"),
        ("1234-5678", "12345678"),
        ("12345", ""),
        ("123 456 789", "123456789"),
        ("12345678901", ""),
        ("12345a", ""),
        ("١٢٣٤٥٦", ""),  # Arabic-Indic digits are digits, but not a code
        ("", ""),
    ],
)
def test_typed_codes_are_normalised(typed: str, code: str) -> None:
    assert share.normalize_code(typed) == code


def test_browser_labels_name_phone_browsers() -> None:
    wechat = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) MicroMessenger/8.0"
    assert share.browser_label(wechat) == "苹果手机 微信内置浏览器"
    harmony = "Mozilla/5.0 (Linux; Android 12; HarmonyOS) Chrome/99.0 Mobile Safari/537.36"
    assert share.browser_label(harmony) == "鸿蒙 Chrome 内核浏览器"
    assert share.browser_label("") == "未知浏览器"


def test_provider_origin_for_the_form_action() -> None:
    from server.config import ServerSettings

    settings = ServerSettings(database_url="sqlite://")
    assert providers.provider_origin(settings, "jitsi") == "https://meet.jit.si"
    settings.share_url_template = "https://{room}.rooms.example/x"
    assert providers.provider_origin(settings, "template") == "https:"


def test_a_reassigned_session_ends_its_link(live_server: LiveServer, agent: ApiClient) -> None:
    """改派: the link that names the old assignee stops working, and both the old and the
    new assignee learn it by sync."""
    session_id = session_of(live_server, "agent")
    link = agent.post(f"/sessions/{session_id}/share")
    receiver = login(live_server, "wangfang")
    cursor = receiver.changes(0, 5000).cursor
    lead = login(live_server, "lead")
    results = lead.push(
        [
            {
                "mutation_id": "reassign-share-test-1",
                "kind": "session",
                "op": "reassign",
                "target_id": session_id,
                "payload": {
                    "to_agent_id": user_id(live_server, "wangfang"),
                    "expected_assignee_id": user_id(live_server, "agent"),
                    "reason": "原坐席临时离岗",
                },
            }
        ]
    )
    assert results[0]["status"] == "applied", results[0]["reason"]
    lead.close()
    pulled = {(c["kind"], c["id"]): c for c in receiver.changes(cursor, 5000).changes}
    assert pulled[("share_link", link["id"])]["data"]["state"] == "revoked"
    receiver.close()
    page = requests.get(link["join_url"], timeout=10)
    assert page.status_code == 404 and "李晓雯" not in page.text
    revoked = timeline(live_server, session_id)[-1]
    assert revoked.kind == "share_revoked" and "改派" in revoked.detail["reason"]


# -- links end with their session ------------------------------------------------------------


def act(api: ApiClient, session_id: str, op: str, payload: dict, name: str) -> dict:
    return api.push(
        [
            {
                "mutation_id": f"{name}-{uuid.uuid4()}",
                "kind": "session",
                "op": op,
                "target_id": session_id,
                "payload": payload,
            }
        ]
    )[0]


def test_closing_the_session_ends_its_link(live_server: LiveServer, agent: ApiClient) -> None:
    """办结 revokes the live link: the code stops working, the caller whose page is still
    open is told that the share has ended, and the agent hears of it."""
    session_id = session_of(live_server, "agent")
    link = agent.post(f"/sessions/{session_id}/share")
    with requests.Session() as phone:
        page = phone.get(link["join_url"], timeout=10)
        form = {
            "token": re.search(r'name="token" value="([^"]+)"', page.text).group(1),
            "seen": re.search(r'name="seen" value="([^"]+)"', page.text).group(1),
        }
        closed = act(
            agent,
            session_id,
            "transition",
            {"action": "close", "outcome": "resolved", "close_summary": "已办结"},
            "close-share-1",
        )
        assert closed["status"] == "applied", closed["reason"]
        late = phone.post(link["join_url"], data=form, allow_redirects=False, timeout=10)
    assert late.status_code == 410 and "这次屏幕共享已经结束" in late.text
    assert "李晓雯" not in late.text and "<form" not in late.text
    # Someone without that page (or with a made-up mark) hears what an unknown code gets.
    forged = requests.post(link["join_url"], data={"token": "x", "seen": "y"}, timeout=10)
    assert forged.status_code == 404 and "共享码无效或已结束" in forged.text
    assert agent.get(f"/sessions/{session_id}/share")["state"] == "revoked"
    kinds = [e.kind for e in timeline(live_server, session_id)]
    assert kinds == ["share_created", "share_revoked"]
    assert "办结" in timeline(live_server, session_id)[-1].detail["reason"]
    changes = [
        e["payload"]["change"] for e in agent.events(0, 0)["events"] if e["kind"] == "share_link"
    ]
    assert changes == ["share_created", "share_revoked"]


def test_transferring_the_session_ends_its_link(live_server: LiveServer, agent: ApiClient) -> None:
    session_id = session_of(live_server, "agent")
    link = agent.post(f"/sessions/{session_id}/share")
    moved = act(
        agent,
        session_id,
        "transfer",
        {"to_agent_id": user_id(live_server, "wangfang"), "reason": "需要社保专窗办理"},
        "transfer-share-1",
    )
    assert moved["status"] == "applied", moved["reason"]
    page = requests.get(link["join_url"], timeout=10)
    assert page.status_code == 404 and "李晓雯" not in page.text
    with live_server.db() as db:
        assert db.get(m.ShareLink, link["id"]).state == "revoked"
    assert "转交" in timeline(live_server, session_id)[-1].detail["reason"]


def test_other_moves_keep_the_link_and_a_consented_link_still_expires(
    live_server: LiveServer, agent: ApiClient
) -> None:
    session_id = session_of(live_server, "agent")
    link = agent.post(f"/sessions/{session_id}/share")
    held = act(agent, session_id, "transition", {"action": "hold", "reason": "等材料"}, "hold-1")
    assert held["status"] == "applied", held["reason"]
    _page, answer = consent_over_http(link["join_url"])
    assert answer.status_code == 303, "挂起 does not end the share"
    move_expiry(live_server, link["id"], datetime.now() - timedelta(seconds=1))
    assert requests.get(link["join_url"], timeout=10).status_code == 404
    assert agent.get(f"/sessions/{session_id}/share")["state"] == "expired"
