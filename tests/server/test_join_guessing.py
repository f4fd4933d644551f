"""Guessing join codes (issue 11 part 7): limits per address and across all addresses
kept in the database, X-Forwarded-For only from trusted proxies, a slowed guesser who
does not lock out the caller with the right code, one answer for unknown, expired and
revoked codes, and "opened" only for a person's browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from server import models as m
from server.services import share
from sync.client import ApiClient
from tests.share_support import consent_over_http, session_of
from tests.support import DEMO_PASSWORD, LiveServer


@pytest.fixture
def agent(live_server: LiveServer) -> Iterator[ApiClient]:
    api = ApiClient(live_server.url)
    api.login("agent", DEMO_PASSWORD)
    yield api
    api.close()


def wrong_code(link: dict) -> str:
    return "999999999" if link["code"] != "999999999" else "888888888"


def attempts(server: LiveServer, address: str | None = None, ok: bool = False) -> int:
    with server.db() as db:
        query = select(func.count()).select_from(m.JoinAttempt).where(m.JoinAttempt.ok.is_(ok))
        if address is not None:
            query = query.where(m.JoinAttempt.address == address)
        return int(db.scalar(query) or 0)


def state(server: LiveServer, link_id: str) -> str:
    with server.db() as db:
        row = db.get(m.ShareLink, link_id)
        assert row is not None
        return row.state


def test_unknown_expired_and_revoked_codes_look_the_same_and_count_as_guesses(
    live_server: LiveServer, agent: ApiClient
) -> None:
    expired = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    with live_server.db() as db:
        db.get(m.ShareLink, expired["id"]).expires_at = datetime.now() - timedelta(seconds=1)
        db.commit()
    revoked = agent.post(f"/sessions/{session_of(live_server, 'agent', 'on_hold')}/share")
    agent.delete(f"/share/{revoked['id']}")
    pages = [
        requests.get(f"{live_server.url}/j/{code}", timeout=10)
        for code in (expired["code"], revoked["code"], wrong_code(expired))
    ]
    assert {p.status_code for p in pages} == {404}
    assert len({p.text for p in pages}) == 1, "the same words for each"
    assert "共享码无效或已结束" in pages[0].text
    assert attempts(live_server, "127.0.0.1") == 3


def test_forwarded_for_is_not_believed_by_default(
    live_server: LiveServer, agent: ApiClient
) -> None:
    link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    for i in range(share.FREE_WRONG_CODES):
        requests.get(
            f"{live_server.url}/j/{wrong_code(link)}",
            headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
            timeout=10,
        )
    # Every guess was counted against the address that connected, whatever it claimed.
    assert attempts(live_server, "127.0.0.1") == share.FREE_WRONG_CODES
    with live_server.db() as db:
        gate = share.join_gate(db, "127.0.0.1")
    assert gate.hold_seconds > 0 and not gate.closed


def test_forwarded_for_from_a_trusted_proxy_names_the_caller(
    live_server_with: Callable[..., LiveServer],
) -> None:
    server = live_server_with(trusted_proxies="127.0.0.1")
    requests.get(
        f"{server.url}/j/123456789",
        headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.77"},
        timeout=10,
    )
    assert attempts(server, "203.0.113.77") == 1 and attempts(server, "127.0.0.1") == 0


def test_a_slowed_address_still_lets_the_right_code_in(
    live_server: LiveServer, agent: ApiClient
) -> None:
    """Five wrong guesses from a shared address: the guesser is slowed, and a caller
    behind the same address with the right code gets the page, only a little later."""
    link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    for _ in range(share.FREE_WRONG_CODES):
        fast = requests.get(f"{live_server.url}/j/{wrong_code(link)}", timeout=10)
        assert fast.status_code == 404
    started = time.monotonic()
    right = requests.get(link["join_url"], timeout=30)
    took = time.monotonic() - started
    assert right.status_code == 200 and "李晓雯" in right.text
    assert took >= 1.9, "the answer was held"
    # A wrong guess is held just as long: the wait says nothing about the code.
    started = time.monotonic()
    guess = requests.get(f"{live_server.url}/j/{wrong_code(link)}", timeout=30)
    assert guess.status_code == 404 and time.monotonic() - started >= 1.9


def test_a_slowed_address_cannot_guess_in_parallel(
    live_server: LiveServer, agent: ApiClient
) -> None:
    link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    for _ in range(share.FREE_WRONG_CODES):
        requests.get(f"{live_server.url}/j/{wrong_code(link)}", timeout=10)
    answers: list[requests.Response] = []

    def guess(n: int) -> None:
        answers.append(requests.get(f"{live_server.url}/j/{100000000 + n}", timeout=60))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) >= 6 - share.MAX_HELD_PER_ADDRESS, [a.status_code for a in answers]
    assert "尝试次数过多" in refused[0].text and int(refused[0].headers["Retry-After"]) > 0
    assert link["check_phrase"].split()[0] not in refused[0].text


def test_past_the_cap_across_all_addresses_no_code_is_checked(
    live_server: LiveServer, agent: ApiClient
) -> None:
    link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    now = datetime.now()
    with live_server.db() as db:
        db.add_all(
            m.JoinAttempt(address=f"10.{i // 250}.{i % 250}.1", at=now, ok=False)
            for i in range(share.GLOBAL_WRONG_PER_HOUR)
        )
        db.commit()
    closed = requests.get(link["join_url"], timeout=10)
    assert closed.status_code == 429 and "暂停验证" in closed.text
    assert "李晓雯" not in closed.text and int(closed.headers["Retry-After"]) >= 60
    assert attempts(live_server, ok=True) == 0, "the code was not looked at"
    # An hour later the budget is back.
    with live_server.db() as db:
        for row in db.scalars(select(m.JoinAttempt)):
            row.at = now - timedelta(hours=1, minutes=1)
        db.commit()
    assert requests.get(link["join_url"], timeout=10).status_code == 200


def test_the_expected_time_to_guess_a_live_code_is_over_a_year() -> None:
    """The README's figure: 100 live links, the server answering wrong codes at its
    highest rate (the cap across all addresses)."""
    digits = share.CODE_DIGITS[0]
    space = 9 * 10 ** (digits - 1)
    hours = space / 100 / share.GLOBAL_WRONG_PER_HOUR
    assert hours > 365 * 24, f"{hours / 24:.0f} days"


# -- "opened" means a person ---------------------------------------------------------------


def test_a_link_preview_does_not_mark_the_link_opened(
    live_server: LiveServer, agent: ApiClient
) -> None:
    link = agent.post(f"/sessions/{session_of(live_server, 'agent')}/share")
    bot = {"User-Agent": "WhatsApp/2.23 link preview"}
    assert requests.get(link["join_url"], headers=bot, timeout=10).status_code == 200
    assert state(live_server, link["id"]) == "live"
    # A person's browser coming from our own code form.
    person = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
    assert requests.get(link["join_url"], headers=person, timeout=10).status_code == 200
    assert state(live_server, link["id"]) == "opened"


def test_consent_marks_opened_then_consented(live_server: LiveServer, agent: ApiClient) -> None:
    session_id = session_of(live_server, "agent")
    link = agent.post(f"/sessions/{session_id}/share")
    _page, answer = consent_over_http(link["join_url"])
    assert answer.status_code == 303
    with live_server.db() as db:
        kinds = list(
            db.scalars(
                select(m.SessionEvent.kind)
                .where(m.SessionEvent.session_id == session_id)
                .where(m.SessionEvent.kind.startswith("share_"))
                .order_by(m.SessionEvent.id)
            )
        )
    assert kinds == ["share_created", "share_opened", "share_consented"]
