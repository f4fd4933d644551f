"""Walkthrough runs in the local cache and through the outbox, against a real server:
one transaction per save, and a run with unsent saves is never moved back by a pull
or by the answer to an earlier save."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.localstore.walkthroughs import run_id_for
from core.walkthrough import answer, load_text, start
from tests.support import LiveServer
from tests.walkthrough_support import AGENT_SESSION, Client, demo_session_id, make_client, sample

WT = load_text(sample("rs-lhjy-cb.yaml"))
RUN_ID = run_id_for(AGENT_SESSION, WT.id)


@pytest.fixture
def agent(live_server: LiveServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    client = make_client(live_server.url, "agent", tmp_path / "a.sqlite3")
    client.sync()
    yield client
    client.close()


def test_a_save_writes_the_run_and_its_outbox_row_together(agent: Client) -> None:
    s1 = start(WT)
    saved = agent.scripts.save_run(AGENT_SESSION, s1, agent.user.id)
    assert saved.rev == 1 and saved.pending
    [row] = agent.store.pending_mutations()
    assert (row.kind, row.op, row.target_id) == ("walkthrough_run", "save", RUN_ID)
    assert row.payload["state"] == s1.to_dict() and row.payload["rev"] == 1
    s2 = answer(WT, s1, "no")
    assert agent.scripts.save_run(AGENT_SESSION, s2, agent.user.id).rev == 2
    run = agent.scripts.run_for_session(AGENT_SESSION)
    assert run is not None and run.state == s2 and run.rev == 2 and run.pending
    agent.sync()
    run = agent.scripts.run_for_session(AGENT_SESSION)
    assert run is not None and run.state == s2 and not run.pending


def test_unsent_saves_win_over_a_pull_and_over_an_earlier_answer(
    agent: Client, live_server: LiveServer, tmp_path: Path
) -> None:
    s1 = answer(WT, start(WT), "no")
    agent.scripts.save_run(AGENT_SESSION, s1, agent.user.id)
    agent.sync()
    # Another machine of the same agent moves the run on; this one moves it elsewhere
    # without sending yet.
    other = make_client(live_server.url, "agent", tmp_path / "b.sqlite3")
    try:
        other.sync()
        ahead = answer(WT, s1, "retired_age")
        other.scripts.save_run(AGENT_SESSION, ahead, other.user.id)
        other.sync()
    finally:
        other.close()
    local = answer(WT, s1, "ok")
    agent.scripts.save_run(AGENT_SESSION, local, agent.user.id)
    later = answer(WT, local, "local")
    agent.scripts.save_run(AGENT_SESSION, later, agent.user.id)
    # A pull while the saves wait (it brings the other machine's run) changes nothing here.
    asyncio.run(_pull_only(agent))
    assert agent.scripts.run_for_session(AGENT_SESSION).state == later  # type: ignore[union-attr]
    # The answer to the first of the two saves does not move the run back a step.
    first, _second = agent.store.pending_mutations()
    results = agent.api.push([first.to_wire()])
    agent.store.resolve_mutations(results)
    assert agent.scripts.run_for_session(AGENT_SESSION).state == later  # type: ignore[union-attr]
    agent.sync()
    run = agent.scripts.run_for_session(AGENT_SESSION)
    # The save numbered like the other machine's was refused as stale; the one after it
    # (a higher number) went through.
    assert run is not None and run.state == later and not run.pending
    assert run.rev == 3


async def _pull_only(client: Client) -> None:
    from sync.engine import SyncReport

    await client.engine.pull(None, None, SyncReport())


def test_a_refused_save_is_shown_and_the_server_state_restored(agent: Client) -> None:
    closed = demo_session_id("S007")  # the agent's closed 社保卡补换 session
    wt = load_text(sample("rs-sbk-bh.yaml"))
    agent.scripts.save_run(closed, start(wt), agent.user.id)
    assert agent.scripts.run_for_session(closed) is not None
    agent.sync()
    [problem] = agent.store.open_problems()
    assert problem.kind == "walkthrough_run" and "办结" in problem.reason
    assert agent.scripts.run_for_session(closed) is None, "the server has no such run"
