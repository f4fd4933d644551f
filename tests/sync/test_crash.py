"""A client process killed with SIGKILL between its local commit and the server's
answer, then started again: nothing lost, nothing applied twice.

The child process (``tests/sync/sync_child.py``) runs the real engine on a real cache
file. The fault proxy holds its push — either before the server sees it, or after the
server has committed it — and says so; the test kills the child at that moment, lets
the proxy drop the connection, and starts a fresh child to sync again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.localstore.db import open_cache
from core.localstore.store import LocalStore
from server import models as m
from tests.faultproxy import Fault, FaultProxy
from tests.support import LiveServer
from tests.sync.conftest import make_client
from tests.sync.views import assert_agree, pending_local

ROOT = Path(__file__).resolve().parents[2]
MUTATIONS = "/api/v1/sync/mutations"


def child(mode: str, url: str, cache: Path, token: str, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, BANGBAN_TEST_TOKEN=token, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sync.sync_child",
            mode,
            "--url",
            url,
            "--cache",
            str(cache),
            *extra,
        ],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def notes_on_server(live_server: LiveServer, note_id: str) -> int:
    with live_server.db() as db:
        return int(
            db.scalar(
                select(func.count()).select_from(m.SessionNote).where(m.SessionNote.id == note_id)
            )
            or 0
        )


@pytest.mark.parametrize(
    "hold", [Fault.HOLD_ANSWER, Fault.HOLD_REQUEST], ids=["after-server-commit", "before-server"]
)
def test_a_client_killed_before_the_answer_loses_nothing_and_applies_once(
    live_server: LiveServer, proxy: FaultProxy, tmp_path: Path, hold: Fault
) -> None:
    cache_path = tmp_path / "cache.sqlite3"
    first = make_client(proxy.url, cache_path, page_limit=200)
    first.engine.sync_blocking()
    me = first.api.me().id
    session_id = next(s.id for s in first.store.sessions() if s.assignee_id == me)
    token = first.api.token
    assert token
    first.close()

    proxy.add(hold, "POST", MUTATIONS)
    victim = child("note-and-sync", proxy.url, cache_path, token, "--session", session_id)
    try:
        assert proxy.held.wait(60), "the child's push never reached the proxy"
        written = json.loads(victim.stdout.readline() if victim.stdout else "{}")
        server_committed = hold is Fault.HOLD_ANSWER
        assert notes_on_server(live_server, written["note_id"]) == int(server_committed)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(30)
        proxy.release.set()
        if victim.stdout:
            victim.stdout.close()
        if victim.stderr:
            victim.stderr.close()

    # The local commit survived the kill: the note is there, pending, and still queued.
    cache = open_cache(cache_path)
    store = LocalStore(cache.sessions)
    assert [m.mutation_id for m in store.pending_mutations()] == [written["mutation_id"]]
    pending_flags = {note.id: pending for note, pending in store.notes(session_id)}
    assert pending_flags[written["note_id"]] is True
    cache.engine.dispose()

    proxy.clear()
    again = child("sync", proxy.url, cache_path, token)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report == {
        "pushed": 1,
        "duplicates": int(server_committed),
        "rejected": [],
        "outbox": 0,
    }
    assert notes_on_server(live_server, written["note_id"]) == 1
    with live_server.db() as db:
        assert db.get(m.AppliedMutation, written["mutation_id"]) is not None
    cache = open_cache(cache_path)
    try:
        assert pending_local(cache.sessions) == 0
        with live_server.db() as db:
            assert_agree(cache.sessions, db, "agent")
    finally:
        cache.engine.dispose()
