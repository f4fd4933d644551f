"""The 对接系统 widget against a real server: a key made with the keyboard and shown
once, a failing callback listed and tried again with the mouse, the revocation asked
and answered in a real message box. Both table models pass qtmodeltester."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import datetime
from typing import Any

import pytest
import requests
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from server import models as m
from sync.client import ApiClient
from sync.embedded import free_port
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from tests.ui.keyboard import type_text
from ui.panes.admin_integrations import AdminIntegrationsPane
from ui.worker import Workers


def signed_in(live_server: LiveServer, username: str) -> ApiClient:
    api = ApiClient(live_server.url)
    api.login(username, DEMO_PASSWORD)
    return api


@pytest.mark.qt_log_ignore("does not support raise")
def test_keys_are_made_shown_once_revoked_and_failing_callbacks_retried(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    qtmodeltester: Any,
) -> None:
    live_server.app.state.settings.auto_assign = False
    live_server.app.state.settings.webhook_backoff_base_seconds = 3600  # only 重试 resends
    dead = f"http://127.0.0.1:{free_port()}/cb"  # nobody listens: every delivery fails
    pane = AdminIntegrationsPane(workers, signed_in(live_server, "admin"))
    qtbot.addWidget(pane)
    pane.resize(1100, 640)

    async def scenario() -> None:
        pane.show()
        await wait_until(lambda: "没有发送失败的回调" in pane.webhook_status.text(), 10, "loaded")
        assert pane.keys.rowCount() == 0
        type_text(qtbot, pane.name_edit, "12345热线")
        type_text(qtbot, pane.teams_edit, "team-zx")
        type_text(qtbot, pane.callback_edit, dead)
        made: list[str] = []
        pane.key_created.connect(made.append)
        qtbot.mouseClick(pane.create_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: pane.keys.rowCount() == 1, 10, "key listed")
        qtmodeltester.check(pane.keys)
        secrets = pane.secret_view.toPlainText()
        assert pane.secret_view.isVisible() and "只显示这一次" in secrets
        key = secrets.split("集成密钥：")[1].split("\n")[0].strip()
        assert key.startswith("bbk_") and made
        assert pane.keys.index(0, 5).data() == "有效" and pane.name_edit.text() == ""
        # A session sent with the key, accepted by 李晓雯: its callback cannot arrive.
        answer = requests.post(
            live_server.url + "/api/v1/intake/sessions",
            json={
                "external_id": "GD-UI-1",
                "channel": "hotline",
                "caller_phone": "13912345678",
                "summary": "社保卡补办",
                "received_at": datetime.now().isoformat(),
            },
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert answer.status_code == 201
        agent = signed_in(live_server, "agent")
        session_id = answer.json()["session_id"]
        agent.push(
            [
                {
                    "mutation_id": str(uuid.uuid4()),
                    "kind": "session",
                    "op": "transition",
                    "target_id": session_id,
                    "payload": {"session_id": session_id, "action": "accept"},
                }
            ]
        )

        def attempts() -> int:
            """Tries that have finished (failed: the receiver is not there)."""
            with live_server.db() as db:
                row = db.scalar(select(m.WebhookDelivery))
                if row is None or row.claimed_until is not None or not row.last_error:
                    return 0
                return row.attempts

        await wait_until(lambda: attempts() == 1, 10, "first attempt failed")
        qtbot.mouseClick(pane.refresh_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: pane.webhooks.rowCount() == 1, 10, "failing listed")
        qtmodeltester.check(pane.webhooks)
        assert "1 条回调发送失败" in pane.webhook_status.text()
        assert pane.webhooks.index(0, 1).data() == "已接入"
        assert "拒绝连接" in pane.webhooks.index(0, 4).data()
        shots = os.environ.get("BANGBAN_SHOTS")
        if shots:
            os.makedirs(shots, exist_ok=True)
            pane.grab().save(os.path.join(shots, "admin_integrations.png"))
        rect = pane.webhooks_table.visualRect(pane.webhooks.index(0, 0))
        qtbot.mouseClick(
            pane.webhooks_table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center()
        )
        reloads: list[None] = []
        pane.loaded.connect(lambda: reloads.append(None))
        qtbot.mouseClick(pane.retry_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: attempts() == 2, 10, "tried again at once")
        # The lists are read again after a retry: select the key once they are.
        await wait_until(lambda: reloads, 10, "the lists read again")
        # Revoke: asked in a message box that stays open while the loop runs.
        rect = pane.keys_table.visualRect(pane.keys.index(0, 0))
        qtbot.mouseClick(pane.keys_table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseClick(pane.revoke_button, Qt.MouseButton.LeftButton)
        box = await wait_until(
            lambda: next((b for b in pane.findChildren(QMessageBox) if b.isVisible()), None),
            10,
            "asked",
        )
        assert "12345热线" in box.text()
        yes = next(b for b in box.buttons() if b.text() == "吊销")
        qtbot.mouseClick(yes, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "已吊销" in str(pane.keys.index(0, 5).data()), 10, "revoked")

    qloop.run_until_complete(scenario())
    refused = requests.post(
        live_server.url + "/api/v1/intake/sessions",
        json={},
        headers={"Authorization": f"Bearer {key_of(pane)}"},
        timeout=10,
    )
    assert refused.status_code == 401


def key_of(pane: AdminIntegrationsPane) -> str:
    return pane.secret_view.toPlainText().split("集成密钥：")[1].split("\n")[0].strip()


def test_someone_who_is_not_an_admin_is_told_in_words(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    pane = AdminIntegrationsPane(workers, signed_in(live_server, "lead"))
    qtbot.addWidget(pane)

    async def scenario() -> None:
        pane.show()
        await wait_until(lambda: pane.error.isVisible(), 10, "refused")

    qloop.run_until_complete(scenario())
    assert "无法读取对接系统" in pane.error.text() and "管理员" in pane.error.text()
