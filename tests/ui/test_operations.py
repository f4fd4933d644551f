"""The operation helper with real widgets, a real cache worker and real futures: the
trigger is off while the op runs, a refusal is shown once (in the pane's banner or a
message box), every listener gets the op's changes, sync is told once."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from core.localstore.changes import Changes
from core.localstore.session_actions import ActionError
from tests.support import wait_until
from tests.ui.dialog_driver import button, click, wait_closed, wait_for_dialog
from ui.operations import Op, Operations
from ui.worker import Workers


def test_an_op_runs_on_the_database_worker_and_hands_out_its_changes(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers
) -> None:
    told: list[str] = []
    seen: list[tuple[str, Changes]] = []
    gate = threading.Event()
    trigger = QPushButton("改派")
    qtbot.addWidget(trigger)

    async def local_change() -> None:
        told.append("sync")

    ops = Operations(workers, local_change=local_change)
    ops.add_listener(lambda changes: seen.append(("plain", changes)))

    async def later(changes: Changes) -> None:
        await asyncio.sleep(0)
        seen.append(("coroutine", changes))

    ops.add_listener(later)

    def work() -> str:
        assert threading.current_thread().name.startswith("bangban-db")
        gate.wait(5)
        return "s1"

    async def scenario() -> None:
        task = ops.start(
            Op(
                db=work,
                changes=lambda sid: Changes({"session"}, {sid}),
                outbox=True,
                trigger=trigger,
            )
        )
        await wait_until(lambda: not trigger.isEnabled(), 2, "trigger off while running")
        gate.set()
        outcome = await task
        assert outcome.ok and outcome.value == "s1"
        assert trigger.isEnabled()
        assert [who for who, _ in seen] == ["plain", "coroutine"]
        assert all(c.session_ids == {"s1"} for _, c in seen)
        assert told == ["sync"]

    qloop.run_until_complete(scenario())


def test_a_refusal_goes_to_the_pane_banner_and_nothing_is_told(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers
) -> None:
    told: list[Any] = []
    banner = QLabel()
    qtbot.addWidget(banner)
    ops = Operations(workers, local_change=lambda: told.append("sync"))
    ops.add_listener(lambda changes: told.append(changes))
    failed: list[str] = []
    ops.failed.connect(failed.append)

    def refuse() -> None:
        raise ActionError("会话已被他人接入")

    async def scenario() -> None:
        outcome = await ops.run(
            Op(db=refuse, outbox=True, prefix="接入未执行：", report=banner.setText)
        )
        assert not outcome.ok and isinstance(outcome.error, ActionError)
        assert banner.text() == "接入未执行：会话已被他人接入"
        assert failed == ["接入未执行：会话已被他人接入"]
        assert told == []

    qloop.run_until_complete(scenario())


def test_an_unexpected_error_is_shown_in_words_and_logged(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, caplog: Any
) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    ops = Operations(workers)

    def broken() -> None:
        raise KeyError("kind")

    async def scenario() -> None:
        outcome = await ops.run(Op(db=broken, parent=window, title="保存失败"))
        assert not outcome.ok
        box = await wait_for_dialog(QMessageBox)
        assert box.windowTitle() == "保存失败"
        assert "内部错误" in box.text() and "kind" not in box.text()
        await click(qtbot, button(box, "知道了"))
        await wait_closed(box)

    qloop.run_until_complete(scenario())
    assert any("operation failed" in r.getMessage() and r.exc_info for r in caplog.records)
    caplog.clear()  # the error is the point of this test
    assert QApplication.activeModalWidget() is None
