"""The 导办脚本 page: the list, reading a script, and the admin's import."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from core.localstore.walkthroughs import WalkthroughInfo
from server import models as m
from server.services import catalog
from tests.support import LiveServer, wait_until
from tests.ui.dialog_driver import answered
from tests.walkthrough_support import Client, make_client, sample, save_shot, with_version
from ui.models.walkthroughs import WalkthroughTableModel
from ui.panes.walkthroughs import WalkthroughsPane
from ui.worker import Workers


@pytest.fixture
def admin(live_server: LiveServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    client = make_client(live_server.url, "admin", tmp_path / "admin.sqlite3")
    client.sync()
    yield client
    client.close()


def make_pane(
    qtbot: QtBot, workers: Workers, client: Client, *, is_admin: bool
) -> WalkthroughsPane:
    pane = WalkthroughsPane(workers, client.store, client.scripts, client.api, is_admin=is_admin)
    qtbot.addWidget(pane)
    pane.resize(1100, 700)
    pane.show()
    return pane


def test_the_model_passes_the_model_tester(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = WalkthroughTableModel()
    infos = [
        WalkthroughInfo("a@1", "a", 1, "RS-SBK-BH", "社保卡补换导办", "", False),
        WalkthroughInfo("a@2", "a", 2, "RS-SBK-BH", "社保卡补换导办", "", True, "kb-rs-001 已更新"),
        WalkthroughInfo("b@1", "b", 1, "GA-JZZ-SL", "居住证申领导办", ""),
    ]
    model.set_walkthroughs(infos, {"RS-SBK-BH": "社会保障卡补换"})
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    assert model.index(1, 3).data() == "⚠ 需复核"
    assert model.index(1, 1).data() == "社会保障卡补换"
    assert model.index(1, 1).data(Qt.ItemDataRole.ToolTipRole) == "RS-SBK-BH"
    model.set_show_history(True)
    qtmodeltester.check(model)
    assert model.rowCount() == 3
    assert model.index(model.row_of("a@1"), 3).data() == "历史版本"


def test_an_admin_imports_a_script_checked_first_here_then_by_the_server(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    admin: Client,
    live_server: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen: list[str] = []
    monkeypatch.setattr(
        WalkthroughsPane,
        "ask_import_file",
        classmethod(lambda cls, parent: answered(chosen.pop(0))),
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        with_version(sample("rs-sbk-bh.yaml"), 2).replace(
            "\nversion: 2\n", "\nversion: 2\nstart: nowhere\n", 1
        ),
        encoding="utf-8",
    )
    good = tmp_path / "sbk-v2.yaml"
    good.write_text(with_version(sample("rs-sbk-bh.yaml"), 2), encoding="utf-8")
    imported: list[str] = []

    async def scenario() -> None:
        pane = make_pane(qtbot, workers, admin, is_admin=True)
        pane.imported.connect(imported.append)
        await pane.reload()
        assert pane.model.rowCount() == 7 and "共 7 个脚本" in pane.count.text()
        assert pane.import_button.isVisible()
        row = next(
            r
            for r in range(pane.model.rowCount())
            if pane.model.info_at(r).walkthrough_id == "rs-sbk-bh"  # type: ignore[union-attr]
        )
        pane.table.selectRow(row)
        await wait_until(lambda: "话术" in pane.reader.toPlainText(), message="script shown")
        assert "社会保障卡补换" in pane.reader.toPlainText()

        # A script with an error is refused here, with its line, and not uploaded.
        chosen.append(str(broken))
        qtbot.mouseClick(pane.import_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "未上传" in pane.result.toPlainText(), message="issues shown")
        assert "第 6 行" in pane.result.toPlainText() and "nowhere" in pane.result.toPlainText()
        # The same version again is refused before any upload.
        same = tmp_path / "same.yaml"
        same.write_text(sample("rs-sbk-bh.yaml"), encoding="utf-8")
        chosen.append(str(same))
        qtbot.mouseClick(pane.import_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "须大于 1" in pane.result.toPlainText(), message="version refused")

        # A valid one is published by the server and arrives by sync.
        chosen.append(str(good))
        qtbot.mouseClick(pane.import_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: imported, message="published")
        assert imported == ["rs-sbk-bh@2"] and "已发布" in pane.result.toPlainText()
        await workers.on_net(admin.sync)
        await pane.reload()
        info = pane.model.info_at(pane.model.row_of("rs-sbk-bh@2"))
        assert info is not None and info.version == 2

        # The server checks against its own knowledge: an entry deleted there since the
        # last sync makes it refuse, and its message names the line.
        with live_server.db() as db:
            assert catalog.delete_knowledge(db, "kb-rs-001")
            db.commit()
        cites = tmp_path / "sbk-v3.yaml"
        cites.write_text(with_version(sample("rs-sbk-bh.yaml"), 3), encoding="utf-8")
        chosen.append(str(cites))
        qtbot.mouseClick(pane.import_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "服务器未接受" in pane.result.toPlainText(), message="refused")
        assert "kb-rs-001" in pane.result.toPlainText() and "行" in pane.result.toPlainText()
        save_shot(pane, "walkthroughs-pane.png")

    qloop.run_until_complete(scenario())
    with live_server.db() as db:
        versions = db.scalars(
            select(m.Walkthrough.version).where(m.Walkthrough.walkthrough_id == "rs-sbk-bh")
        ).all()
    assert sorted(versions) == [1, 2]


def test_agents_read_scripts_but_cannot_import(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    agent = make_client(live_server.url, "agent", tmp_path / "agent.sqlite3")
    agent.sync()

    async def scenario() -> None:
        pane = make_pane(qtbot, workers, agent, is_admin=False)
        await pane.reload()
        assert pane.model.rowCount() == 7
        assert not pane.import_button.isVisible() and not pane.review_button.isVisible()

    try:
        qloop.run_until_complete(scenario())
    finally:
        agent.close()
