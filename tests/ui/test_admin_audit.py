"""The 审计日志 widget against a real server: the newest rows on first show, filters
by person and action, paging, the CSV export through the save dialog, and the refusal
a non-admin gets, in words. The table model passes qtmodeltester."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from server import models as m
from sync.client import ApiClient
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from tests.ui.keyboard import type_text
from ui.panes.admin_audit import AdminAuditPane
from ui.worker import Workers


def sid(ref: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{ref}"))


def signed_in(live_server: LiveServer, username: str) -> ApiClient:
    api = ApiClient(live_server.url)
    api.login(username, DEMO_PASSWORD)
    return api


def leave_rows(live_server: LiveServer) -> int:
    """A reveal and a refused push by 李晓雯; returns how many audit rows there are."""
    agent = signed_in(live_server, "agent")
    agent.post(f"/sessions/{sid('S010')}/reveal", {"field": "phone"})
    agent.push(
        [
            {
                "mutation_id": str(uuid.uuid4()),
                "kind": "session",
                "op": "transition",
                "target_id": sid("S007"),
                "payload": {"action": "hold"},
            }
        ]
    )
    with live_server.db() as db:
        return int(db.scalar(select(func.count()).select_from(m.AuditLog)))


def save_dialog() -> QFileDialog | None:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QFileDialog) and widget.isVisible():
            return widget
    return None


# The offscreen platform cannot raise windows or grab the keyboard (the file dialog's
# completer asks); harmless here.
@pytest.mark.qt_log_ignore("does not support raise", "does not support grabbing the keyboard")
def test_the_audit_log_is_filtered_paged_and_exported(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    qtmodeltester: Any,
    tmp_path: Path,
) -> None:
    admin = signed_in(live_server, "admin")  # a sign-in is audited too: count after it
    total = leave_rows(live_server)
    assert total >= 2
    pane = AdminAuditPane(workers, admin, page_size=1)
    qtbot.addWidget(pane)
    pane.resize(1180, 420)
    target = tmp_path / "audit-export"

    async def scenario() -> None:
        pane.show()  # the first show loads the newest rows
        await wait_until(lambda: pane.total == total, 10, "first page")
        qtmodeltester.check(pane.model)
        assert pane.model.rowCount() == 1 and f"共 {total} 条" in pane.status.text()
        assert pane.next_button.isEnabled() and not pane.prev_button.isEnabled()
        first = pane.model.row_at(0)
        qtbot.mouseClick(pane.next_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: pane.offset == 1, 10, "second page")
        assert pane.model.row_at(0) != first and pane.prev_button.isEnabled()
        # Filters: 李晓雯's reveals.
        type_text(qtbot, pane.actor_edit, "agent")
        pane.action_combo.setFocus()
        while pane.action_combo.currentData() != "session.reveal":
            qtbot.keyClick(pane.action_combo, Qt.Key.Key_Down)
        qtbot.mouseClick(pane.search_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: pane.total == 1 and pane.offset == 0, 10, "filtered")
        row = pane.model.row_at(0)
        assert row is not None and row.action == "session.reveal"
        assert pane.model.index(0, 1).data() == "李晓雯"
        assert pane.model.index(0, 2).data() == "查看完整号码"
        assert pane.model.index(0, 4).data() == "127.0.0.1"
        assert not pane.next_button.isEnabled()
        shots = os.environ.get("BANGBAN_SHOTS")  # keep a screenshot to look at
        if shots:
            os.makedirs(shots, exist_ok=True)
            pane.grab().save(os.path.join(shots, "admin_audit.png"))
        # The export: the save dialog (window-modal, no nested loop), then the file.
        qtbot.mouseClick(pane.export_button, Qt.MouseButton.LeftButton)
        dialog = await wait_until(save_dialog, 10, "save dialog")
        name = dialog.findChild(QLineEdit, "fileNameEdit")
        assert name is not None
        name.clear()
        type_text(qtbot, name, str(target))
        qtbot.keyClick(name, Qt.Key.Key_Return)
        await wait_until(lambda: target.with_suffix(".csv").exists(), 10, "file written")
        await wait_until(lambda: "已导出到" in pane.status.text(), 5, "said")

    qloop.run_until_complete(scenario())
    data = target.with_suffix(".csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][:5] == ["编号", "时间", "操作人编号", "操作人", "操作"]
    assert [r[4] for r in table[1:]] == ["查看完整号码"]  # the filters applied
    with live_server.db() as db:
        exported = db.scalar(select(m.AuditLog).where(m.AuditLog.action == "audit.export"))
        assert exported is not None and exported.detail["filters"]["actor"] == "agent"


def test_someone_who_is_not_an_admin_is_told_in_words(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    pane = AdminAuditPane(workers, signed_in(live_server, "lead"))
    qtbot.addWidget(pane)

    async def scenario() -> None:
        pane.show()
        await wait_until(lambda: pane.error.isVisible(), 10, "error shown")

    qloop.run_until_complete(scenario())
    assert "无法读取审计日志" in pane.error.text() and "管理员" in pane.error.text()
    assert pane.model.rowCount() == 0
