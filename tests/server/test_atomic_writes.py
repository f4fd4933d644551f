"""The same write from several connections at once, on SQLite and PostgreSQL: exactly
one wins and every other one is refused with a reason (issue 11 part 3).

Each trial starts its writers on a barrier, each thread with its own signed-in HTTP
client, so the requests reach the server together; the checks read the server's tables.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from core.localstore.walkthroughs import run_id_for
from core.walkthrough import answer, start
from core.walkthrough import load_text as parse_walkthrough
from server import models as m
from sync.client import ApiClient
from tests.caller_support import rate_as_caller, rating_link
from tests.support import DEMO_PASSWORD, LiveServer
from tests.walkthrough_support import sample

TRIALS = 10
WRITERS = 4
LHJY = "rs-lhjy-cb"


@pytest.fixture(autouse=True)
def _no_auto_assign(live_server: LiveServer) -> None:
    live_server.app.state.settings.auto_assign = False


def logins(server: LiveServer, username: str, n: int = WRITERS) -> list[ApiClient]:
    clients = []
    for _ in range(n):
        api = ApiClient(server.url)
        api.login(username, DEMO_PASSWORD)
        clients.append(api)
    return clients


def mutation(kind: str, op: str, target: str, **payload: Any) -> dict[str, Any]:
    return {
        "mutation_id": str(uuid.uuid4()),
        "kind": kind,
        "op": op,
        "target_id": target,
        "base_seq": None,
        "payload": payload,
    }


def race(clients: list[ApiClient], build: Callable[[int], dict[str, Any]]) -> list[dict]:
    """Push ``build(i)`` from client ``i``, all at once; the answers in client order."""
    barrier = threading.Barrier(len(clients))
    answers: list[dict | None] = [None] * len(clients)
    errors: list[BaseException] = []
    bodies = [build(i) for i in range(len(clients))]

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            [answers[i]] = clients[i].push([bodies[i]])
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def one_winner(answers: list[dict], words: tuple[str, ...]) -> dict:
    statuses = sorted(a["status"] for a in answers)
    assert statuses == ["applied"] + ["rejected"] * (len(answers) - 1), answers
    for a in answers:
        if a["status"] == "rejected":
            assert a["reason"], a
            assert any(w in a["reason"] for w in words), a["reason"]
    return next(a for a in answers if a["status"] == "applied")


def new_active_session(agent: ApiClient) -> str:
    """A session logged by hand and taken by the agent (active, theirs)."""
    session_id = str(uuid.uuid4())
    [result] = agent.push(
        [
            mutation(
                "session",
                "create",
                session_id,
                session_id=session_id,
                channel="hotline",
                service_type="guide",
                caller_phone="025-84561234",
                summary="问灵活就业参保",
                take=True,
            )
        ]
    )
    assert result["status"] == "applied", result
    return session_id


def count(server: LiveServer, model: Any, **where: Any) -> int:
    with server.db() as db:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return int(db.scalar(stmt) or 0)


def user_id(server: LiveServer, username: str) -> int:
    with server.db() as db:
        return int(db.scalar(select(m.User.id).where(m.User.username == username)))


def close_session(agent: ApiClient, session_id: str) -> None:
    [closed] = agent.push(
        [
            mutation(
                "session",
                "transition",
                session_id,
                session_id=session_id,
                action="close",
                outcome="resolved",
                close_summary="已答复",
            )
        ]
    )
    assert closed["status"] == "applied", closed


def test_two_ratings_of_one_session_at_once_store_one_and_open_one_rectification(
    live_server: LiveServer,
) -> None:
    """Two copies of the caller's rating race in (a double tap, two tabs of the link):
    one is kept, one rectification opens, the other hears it was rated already."""
    agent = logins(live_server, "agent", 1)[0]
    for _trial in range(TRIALS):
        s = new_active_session(agent)
        token = rating_link(agent, s)
        close_session(agent, s)
        barrier = threading.Barrier(WRITERS)
        answers: list[requests.Response | None] = [None] * WRITERS

        def run(
            i: int,
            token: str = token,
            barrier: threading.Barrier = barrier,
            answers: list[requests.Response | None] = answers,
        ) -> None:
            barrier.wait(timeout=30)
            answers[i] = rate_as_caller(live_server, token, 1 + i % 2, f"第 {i} 个连接")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        codes = sorted(a.status_code for a in answers if a is not None)
        assert codes == [200] + [409] * (WRITERS - 1), codes
        for a in answers:
            if a is not None and a.status_code == 409:
                assert "已经评价过" in a.json()["detail"]
        assert count(live_server, m.Evaluation, session_id=s) == 1
        assert count(live_server, m.Rectification, session_id=s) == 1


def test_two_leads_assigning_one_rectification_at_once_one_wins(live_server: LiveServer) -> None:
    agent = logins(live_server, "agent", 1)[0]
    leads = logins(live_server, "lead")
    members = [user_id(live_server, u) for u in ("wangfang", "liuyang")]
    for _trial in range(TRIALS):
        s = new_active_session(agent)
        token = rating_link(agent, s)
        close_session(agent, s)
        rated = rate_as_caller(live_server, token, 1)
        assert rated.status_code == 200, rated.text
        with live_server.db() as db:
            rid = db.scalar(select(m.Rectification.id).where(m.Rectification.session_id == s))
        assert rid is not None
        answers = race(
            leads,
            lambda i, rid=rid: mutation(  # type: ignore[misc]
                "rectification",
                "assign",
                rid,
                rectification_id=rid,
                assignee_id=members[i % 2],
                expected_assignee_id=None,
            ),
        )
        won = one_winner(answers, ("负责人已变更",))
        winner = won["records"][0]["data"]["assignee_id"]
        with live_server.db() as db:
            row = db.get(m.Rectification, rid)
            assert row is not None and row.assignee_id == winner and row.state == "assigned"
            audits = db.scalar(
                select(func.count())
                .select_from(m.AuditLog)
                .where(m.AuditLog.action == "rectification.assign", m.AuditLog.target_id == rid)
            )
        assert audits == 1, "a refused assignment leaves no audit row"


def test_two_reassignments_and_two_holds_of_one_session_at_once_one_wins(
    live_server: LiveServer,
) -> None:
    agents = logins(live_server, "agent")
    leads = logins(live_server, "lead")
    agent_id = agents[0].me().id
    members = [user_id(live_server, u) for u in ("wangfang", "liuyang")]
    for _trial in range(TRIALS):
        s = new_active_session(agents[0])
        held = race(
            agents,
            lambda i, s=s: mutation(  # type: ignore[misc]
                "session", "transition", s, session_id=s, action="hold", reason=f"连接 {i}"
            ),
        )
        one_winner(held, ("不能挂起", "刚被他人更改"))
        with live_server.db() as db:
            kinds = [e.kind for e in db.get(m.Session, s).events]  # type: ignore[union-attr]
        assert kinds.count("held") == 1
        moved = race(
            leads,
            lambda i, s=s: mutation(  # type: ignore[misc]
                "session",
                "reassign",
                s,
                session_id=s,
                to_agent_id=members[i % 2],
                expected_assignee_id=agent_id,
                reason="坐席临时离岗",
            ),
        )
        won = one_winner(moved, ("改派",))
        with live_server.db() as db:
            row = db.get(m.Session, s)
            assert row is not None
            assert row.assignee_id == won["records"][0]["data"]["assignee_id"]
            assert row.state == "assigned"
            assert [e.kind for e in row.events].count("reassigned") == 1


def test_saves_of_one_walkthrough_run_at_once_one_wins_and_stale_ones_are_refused(
    live_server: LiveServer,
) -> None:
    agents = logins(live_server, "agent")
    wt = parse_walkthrough(sample("rs-lhjy-cb.yaml"))
    first = start(wt)
    age = answer(wt, first, "no")
    nexts = [age, answer(wt, first, "yes"), answer(wt, age, "ok"), answer(wt, age, "retired_age")]
    assert len({n.path for n in nexts}) == WRITERS, "four different next states"

    def save(session_id: str, state: Any, rev: int) -> dict[str, Any]:
        run_id = run_id_for(session_id, LHJY)
        return mutation(
            "walkthrough_run",
            "save",
            run_id,
            run_id=run_id,
            session_id=session_id,
            walkthrough_id=LHJY,
            version=1,
            rev=rev,
            state=state.to_dict(),
        )

    for _trial in range(TRIALS):
        s = new_active_session(agents[0])
        run_id = run_id_for(s, LHJY)
        # Several machines start the same run at once: one start is stored.
        started = race(agents, lambda i, s=s: save(s, first, 1))  # type: ignore[misc]
        one_winner(started, ("另一次保存", "更新的保存"))
        # Then each moves it on from that first save: one wins, the others are stale.
        moved = race(agents, lambda i, s=s: save(s, nexts[i], 2))  # type: ignore[misc]
        won = moved.index(next(a for a in moved if a["status"] == "applied"))
        one_winner(moved, ("更新的保存", "另一次保存"))
        with live_server.db() as db:
            run = db.get(m.WalkthroughRun, run_id)
            assert run is not None and run.rev == 2
            assert run.state["path"] == list(nexts[won].path)
            kinds = [e.kind for e in db.get(m.Session, s).events]  # type: ignore[union-attr]
        assert kinds.count("walkthrough_started") == 1
        # An older save arriving late never moves the run back.
        [late] = agents[0].push([save(s, first, 1)])
        assert late["status"] == "rejected" and "第 2 次保存" in late["reason"]
        with live_server.db() as db:
            run = db.get(m.WalkthroughRun, run_id)
            assert run is not None and run.state["path"] == list(nexts[won].path)
