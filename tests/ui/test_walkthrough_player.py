"""The walkthrough player driven by keyboard against a real server and a real cache."""

from __future__ import annotations

import asyncio
import unicodedata
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtPdf import QPdfDocument
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from core.localstore.walkthroughs import run_id_for
from server import models as m
from server.services import catalog
from tests.support import LiveServer, wait_until
from tests.ui.dialog_driver import answered
from tests.walkthrough_support import (
    AGENT_SESSION,
    Client,
    make_client,
    sample,
    save_shot,
    with_version,
)
from ui.notice_page import pdf_printer
from ui.walkthrough_player import WalkthroughPlayer
from ui.worker import Workers

OFFICE = "江宁市政务服务中心"


@pytest.fixture
def agent(live_server: LiveServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    client = make_client(live_server.url, "agent", tmp_path / "agent.sqlite3")
    client.sync()
    yield client
    client.close()


def make_player(qtbot: QtBot, workers: Workers, client: Client) -> WalkthroughPlayer:
    player = WalkthroughPlayer(workers, client.store, client.scripts, client.user, office=OFFICE)
    qtbot.addWidget(player)
    player.resize(760, 900)
    player.show()
    player.activateWindow()
    player.setFocus()
    return player


def press(
    qtbot: QtBot, player: WalkthroughPlayer, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier
) -> None:  # type: ignore[no-untyped-def]
    """Press a key where the keyboard focus is, as a person would."""
    target = QApplication.focusWidget()
    assert target is not None and (target is player or player.isAncestorOf(target)), (
        f"focus left the player: {target!r}"
    )
    qtbot.keyClick(target, key, modifier)


def checked(player: WalkthroughPlayer) -> dict[str, bool]:
    return {
        player.checklist.item(i).data(Qt.ItemDataRole.UserRole): player.checklist.item(
            i
        ).checkState()
        == Qt.CheckState.Checked
        for i in range(player.checklist.count())
    }


def test_follow_a_walkthrough_by_keyboard_to_the_notice_and_pdf(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    agent: Client,
    live_server: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pdf_path = tmp_path / "notice.pdf"
    monkeypatch.setattr(
        WalkthroughPlayer,
        "ask_pdf_path",
        classmethod(lambda cls, parent, suggested: answered(str(pdf_path))),
    )
    printed = tmp_path / "printed.pdf"
    monkeypatch.setattr(
        WalkthroughPlayer,
        "ask_printer",
        classmethod(lambda cls, parent: answered(pdf_printer(printed))),
    )
    saves: list[str] = []

    async def scenario() -> None:
        player = make_player(qtbot, workers, agent)
        player.run_saved.connect(saves.append)
        await wait_until(player.isActiveWindow, message="player active")
        await player.show_session(AGENT_SESSION)
        assert player.pages.currentIndex() == player.PAGE_PICK
        [start_button] = player.start_buttons
        assert "灵活就业人员参保登记导办（第 1 版）" in start_button.text()

        press(qtbot, player, Qt.Key.Key_Return)  # start
        assert player.step_title.text() == "确认参保状态"
        assert "没有单位的自由职业者" in player.say_box.text.text()
        assert "办事指南" in player.do_box.text.text()
        assert player.progress_label.text().startswith("第 1 步，共 ")
        assert player.option_buttons[0].text().startswith("1")
        press(qtbot, player, Qt.Key.Key_1)  # 没有在单位参保
        press(qtbot, player, Qt.Key.Key_1)  # 年龄符合
        assert player.step_title.text() == "是否本市户籍"
        press(qtbot, player, Qt.Key.Key_2)  # 外地户籍
        assert player.step_title.text() == "外地户籍的材料"
        assert checked(player) == {"id_card": False, "residence_permit": False}
        press(qtbot, player, Qt.Key.Key_Space)  # tick the first material
        assert checked(player) == {"id_card": True, "residence_permit": False}
        press(qtbot, player, Qt.Key.Key_Down)
        press(qtbot, player, Qt.Key.Key_Space)  # tick and untick the second
        press(qtbot, player, Qt.Key.Key_Space)
        assert checked(player) == {"id_card": True, "residence_permit": False}
        press(qtbot, player, Qt.Key.Key_1)  # 原参保地没有缴费
        assert player.step_title.text() == "就业困难人员补贴"
        assert player.progress_label.text().startswith("第 5 步")
        press(qtbot, player, Qt.Key.Key_Backspace)  # back: the ticks stay
        assert player.step_title.text() == "外地户籍的材料"
        assert checked(player) == {"id_card": True, "residence_permit": False}
        press(qtbot, player, Qt.Key.Key_1)
        press(qtbot, player, Qt.Key.Key_2)  # 已认定就业困难
        assert player.step_title.text() == "社保补贴提示"
        press(qtbot, player, Qt.Key.Key_Return)  # linear step: continue
        assert player.step_title.text() == "缴费档次说明"
        assert "缴费基数" in player.hints.text()
        assert not player.knowledge_title.isHidden()
        press(qtbot, player, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)  # back again
        assert player.step_title.text() == "社保补贴提示"
        press(qtbot, player, Qt.Key.Key_Return)
        press(qtbot, player, Qt.Key.Key_2)  # 窗口办理
        assert player.step_title.text() == "窗口登记"
        assert player.progress_label.text() == "第 8 步，共 8 步"
        assert not player.end_panel.isHidden()

        # The notice: what the caller has, what is missing, next steps, where to go.
        text = player.notice_view.toPlainText()
        assert text.startswith("【一次性告知】")
        assert "韩先生，您好！" in text
        have = text.split("一、您已备齐的材料")[1].split("二、")[0]
        missing = text.split("二、还需补充的材料")[1].split("三、")[0]
        assert "本人居民身份证" in have and "江宁市居住证" in missing
        assert "就业困难人员认定证明" in text.split("可选材料")[1]
        assert "江宁市政务服务中心三楼人社综合窗口" in text
        assert "材料尚不齐全" in player.outcome.text()

        press(qtbot, player, Qt.Key.Key_Return)  # finish
        assert player.state is not None and player.state.completed
        assert "已完成" in player.outcome.text()
        press(qtbot, player, Qt.Key.Key_1)  # a finished run is read-only
        assert player.state.completed and player.step_title.text() == "窗口登记"

        qtbot.mouseClick(player.copy_button, Qt.MouseButton.LeftButton)
        assert QGuiApplication.clipboard().text() == text
        qtbot.mouseClick(player.pdf_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "已导出" in player.status.text(), message="exported")
        qtbot.mouseClick(player.print_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "打印机" in player.status.text(), message="printed")
        await wait_until(lambda: len(saves) >= 14, message="every change saved")
        save_shot(player, "walkthrough-end.png")

    qloop.run_until_complete(scenario())

    for path in (pdf_path, printed):
        data = path.read_bytes()
        assert data.startswith(b"%PDF")
        document = QPdfDocument()
        assert document.load(str(path)) == QPdfDocument.Error.None_
        assert document.pageCount() >= 1
        # Qt's PDF writer maps a few shared CJK glyphs back to Kangxi radicals (⼀ for 一)
        # in the text layer; NFKC folds them, the printed page itself is right.
        page_text = unicodedata.normalize(
            "NFKC",
            "".join(document.getAllText(i).text() for i in range(document.pageCount())),
        )
        assert "一次性告知书" in page_text and "江宁市居住证" in page_text
        assert "李晓雯" in page_text and "JN-0107" in page_text
        document.close()

    # Every change went through the outbox; one sync brings the server level.
    pending = agent.store.pending_mutations(500)
    assert {p.kind for p in pending} == {"walkthrough_run"}
    assert [p.payload["rev"] for p in pending] == list(range(1, len(pending) + 1))
    agent.sync()
    assert agent.store.outbox_size() == 0
    with live_server.db() as db:
        run = db.get(m.WalkthroughRun, run_id_for(AGENT_SESSION, "rs-lhjy-cb"))
        assert run is not None and run.state["completed"] and run.state["position"] == "end_window"
        assert run.state["ticks"] == {"id_card": True, "residence_permit": False}
        kinds = db.scalars(
            select(m.SessionEvent.kind).where(m.SessionEvent.session_id == AGENT_SESSION)
        ).all()
    assert kinds.count("walkthrough_started") == 1 and kinds.count("walkthrough_finished") == 1


def test_a_session_keeps_its_version_after_a_newer_one_is_published(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    agent: Client,
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    admin = make_client(live_server.url, "admin", tmp_path / "admin.sqlite3")

    async def scenario() -> None:
        player = make_player(qtbot, workers, agent)
        await wait_until(player.isActiveWindow, message="player active")
        await player.show_session(AGENT_SESSION)
        press(qtbot, player, Qt.Key.Key_Return)
        press(qtbot, player, Qt.Key.Key_1)
        assert player.step_title.text() == "确认年龄"
        await wait_until(lambda: agent.store.outbox_size() == 2, message="saved")
        await workers.on_net(agent.sync)

        # v2 changes the 话术 of the first step; it is published and pulled.
        v2 = with_version(sample("rs-lhjy-cb.yaml"), 2, say_suffix="（第二版话术）")
        await workers.on_net(
            admin.api.post, "/admin/walkthroughs", {"source": v2, "filename": "v2.yaml"}
        )
        await workers.on_net(agent.sync)
        assert agent.scripts.latest_for_matter("RS-LHJY-CB")[0].version == 2
        await player.show_session(AGENT_SESSION)
        assert "第 1 版" in player.script_label.text()
        assert "已发布第 2 版" in player.notes_label.text()
        press(qtbot, player, Qt.Key.Key_Backspace)
        assert "（第二版话术）" not in player.say_box.text.text()
        press(qtbot, player, Qt.Key.Key_1)
        press(qtbot, player, Qt.Key.Key_1)
        assert player.step_title.text() == "是否本市户籍"
        assert player.state is not None and player.state.version == 1
        await wait_until(lambda: agent.store.outbox_size() == 3, message="saved")
        await workers.on_net(agent.sync)
        assert agent.store.outbox_size() == 0 and not agent.store.open_problems()

    try:
        qloop.run_until_complete(scenario())
    finally:
        admin.close()
    with live_server.db() as db:
        run = db.get(m.WalkthroughRun, run_id_for(AGENT_SESSION, "rs-lhjy-cb"))
        assert run is not None and run.version == 1 and run.state["position"] == "hukou"


def test_someone_elses_session_is_read_only(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    lead = make_client(live_server.url, "lead", tmp_path / "lead.sqlite3")
    lead.sync()

    async def scenario() -> None:
        player = make_player(qtbot, workers, lead)
        await wait_until(player.isActiveWindow, message="player active")
        await player.show_session(AGENT_SESSION)
        assert player.pages.currentIndex() == player.PAGE_PICK
        assert "承办人" in player.pick_hint.text()
        assert not player.start_buttons[0].isEnabled()
        press(qtbot, player, Qt.Key.Key_Return)
        assert player.state is None and lead.store.outbox_size() == 0

    try:
        qloop.run_until_complete(scenario())
    finally:
        lead.close()


def test_a_script_needing_review_shows_a_badge_but_can_be_used(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    workers: Workers,
    agent: Client,
    live_server: LiveServer,
) -> None:
    with live_server.db() as db:
        entry = db.get(m.KnowledgeEntry, "kb-rs-006")
        assert entry is not None
        catalog.upsert_knowledge(
            db,
            {"id": entry.id, "title": entry.title, "answer": entry.answer + "（已修订）"},
            bump_version=True,
        )
        db.commit()
    agent.sync()

    async def scenario() -> None:
        player = make_player(qtbot, workers, agent)
        await wait_until(player.isActiveWindow, message="player active")
        await player.show_session(AGENT_SESSION)
        [button] = player.start_buttons
        assert "需复核" in button.text() and "kb-rs-006" in button.toolTip()
        press(qtbot, player, Qt.Key.Key_Return)
        assert player.step_title.text() == "确认参保状态"
        assert player.review_badge.isVisible()
        assert "kb-rs-006" in player.notes_label.text()
        # The cited entry's link says that it changed since the script was written.
        assert "现为第 3 版" in player.knowledge_links.text()

    qloop.run_until_complete(scenario())
