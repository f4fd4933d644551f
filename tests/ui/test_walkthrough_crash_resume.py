"""Crash and resume: a client process following a walkthrough is killed with SIGKILL
after its local save (before the push, after it, or with the server's answer lost);
the restarted client and another machine show the same step and ticks."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from sqlalchemy import func
from sqlalchemy import select as sql_select

from core.localstore.walkthroughs import run_id_for
from server import models as m
from tests.support import LiveServer, wait_until
from tests.walkthrough_support import AGENT_SESSION, Client, make_client
from ui.walkthrough_player import WalkthroughPlayer
from ui.worker import Workers

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = run_id_for(AGENT_SESSION, "rs-lhjy-cb")


def run_child_until_ready(url: str, cache: Path, mode: str) -> dict:  # type: ignore[type-arg]
    """Start the client process, wait for its report, then kill it with SIGKILL."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ui.walkthrough_crash_child", url, str(cache), mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert child.stdout is not None and child.stderr is not None
    try:
        deadline = time.monotonic() + 60
        line = b""
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([child.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(child.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
            elif child.poll() is not None or time.monotonic() > deadline:
                break
        if not line.strip():
            raise AssertionError(f"child did not report: {child.stderr.read().decode()[-3000:]}")
        report = json.loads(line.decode().strip().splitlines()[-1])
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return report


def player_for(qtbot: QtBot, workers: Workers, client: Client) -> WalkthroughPlayer:
    player = WalkthroughPlayer(workers, client.store, client.scripts, client.user)
    qtbot.addWidget(player)
    player.resize(700, 800)
    player.show()
    player.activateWindow()
    player.setFocus()
    return player


def ticks_shown(player: WalkthroughPlayer) -> dict[str, bool]:
    return {
        player.checklist.item(i).data(Qt.ItemDataRole.UserRole): player.checklist.item(
            i
        ).checkState()
        == Qt.CheckState.Checked
        for i in range(player.checklist.count())
    }


def server_run(server: LiveServer) -> dict | None:  # type: ignore[type-arg]
    with server.db() as db:
        run = db.get(m.WalkthroughRun, RUN_ID)
        return dict(run.state) if run is not None else None


@pytest.mark.parametrize("mode", ["before_push", "after_push", "lost_answer"])
def test_a_killed_client_resumes_at_the_same_step_here_and_on_another_machine(
    mode: str,
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    cache_a = tmp_path / "machine-a.sqlite3"
    report = run_child_until_ready(live_server.url, cache_a, mode)
    assert report == {
        "ready": mode,
        "step": "nonlocal_docs",
        "ticks": {"id_card": True},
    }
    before = server_run(live_server)
    if mode == "before_push":
        assert before is None, "nothing reached the server before the kill"
    else:
        assert before is not None and before["position"] == "nonlocal_docs"

    # Machine A restarts on the same cache: the same step and ticks, before any sync.
    machine_a = make_client(live_server.url, "agent", cache_a)
    machine_b = make_client(live_server.url, "agent", tmp_path / "machine-b.sqlite3")
    expected_pending = 0 if mode == "after_push" else 5
    assert machine_a.store.outbox_size() == expected_pending

    async def scenario() -> None:
        player_a = player_for(qtbot, workers, machine_a)
        await wait_until(player_a.isActiveWindow, message="player active")
        await player_a.show_session(AGENT_SESSION)
        assert player_a.step_title.text() == "外地户籍的材料"
        assert ticks_shown(player_a) == {"id_card": True, "residence_permit": False}
        assert player_a.progress_label.text().startswith("第 4 步")

        # Its sync sends what was left (a resend after a lost answer is a duplicate).
        await workers.on_net(machine_a.sync)
        assert machine_a.store.outbox_size() == 0 and not machine_a.store.open_problems()
        run = server_run(live_server)
        assert run is not None and run["position"] == "nonlocal_docs" and run["rev"] == 5
        assert run["ticks"] == {"id_card": True}

        # Machine B (a second cache) pulls the run and shows the same step and ticks.
        await workers.on_net(machine_b.sync)
        player_b = player_for(qtbot, workers, machine_b)
        await wait_until(player_b.isActiveWindow, message="player B active")
        await player_b.show_session(AGENT_SESSION)
        assert player_b.step_title.text() == "外地户籍的材料"
        assert ticks_shown(player_b) == {"id_card": True, "residence_permit": False}

        # B continues by keyboard; A catches up on its next sync.
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Down)
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_1)
        assert player_b.step_title.text() == "就业困难人员补贴"
        await wait_until(lambda: machine_b.store.outbox_size() == 2, message="B saved")
        await workers.on_net(machine_b.sync)
        await workers.on_net(machine_a.sync)
        await player_a.show_session(AGENT_SESSION)
        assert player_a.step_title.text() == "就业困难人员补贴"
        assert player_a.state is not None
        assert dict(player_a.state.ticks) == {"id_card": True, "residence_permit": True}

    try:
        qloop.run_until_complete(scenario())
    finally:
        machine_a.close()
        machine_b.close()
    run = server_run(live_server)
    assert run is not None and run["position"] == "hardship" and run["rev"] == 7
    with live_server.db() as db:
        started = db.scalar(
            sql_select(func.count())
            .select_from(m.SessionEvent)
            .where(
                m.SessionEvent.session_id == AGENT_SESSION,
                m.SessionEvent.kind == "walkthrough_started",
            )
        )
    assert started == 1
