"""The knowledge pane against a real server and a real cache, driven by keyboard and
mouse: search as you type, filters, highlighted results, the entry view, copying the
answer, 纠错 reaching the admins' review list, pinyin initials, 办事指南, and the pane
beside a session."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QUrl
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from core.localstore.db import open_cache
from core.localstore.store import LocalStore
from core.search import KnowledgeSearch, SearchFilters
from core.settings import ClientSettings
from sync.account import Account, open_account_cache
from sync.client import ApiClient
from tests.support import DEMO_PASSWORD, LiveServer, wait_until
from tests.ui.keyboard import type_text
from ui.dialogs.knowledge_dialogs import KnowledgeFeedbackDialog
from ui.knowledge_backend import KnowledgeBackend
from ui.main_window import MainWindow
from ui.models.knowledge import KnowledgeResultsModel, MatterFilterModel, MatterListModel
from ui.panes.knowledge import KnowledgePane
from ui.worker import Workers

SHOTS = Path(__file__).resolve().parents[2] / "shots"


def click_row(qtbot: QtBot, view: Any, row: int) -> None:
    index = view.model().index(row, 0)
    view.scrollTo(index)
    rect = view.visualRect(index)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


async def signed_in(workers: Workers, url: str, username: str = "agent") -> Account:
    api = ApiClient(url)
    result = await workers.on_net(api.login, username, DEMO_PASSWORD)
    cache, store, notices = await workers.on_db(open_account_cache, url, result.user, DEMO_PASSWORD)
    return Account(url, result.user, api, cache, store, notices=notices)


async def open_knowledge(qtbot: QtBot, workers: Workers, url: str) -> tuple[MainWindow, Account]:
    account = await signed_in(workers, url)
    window = MainWindow(account, workers, ClientSettings())
    qtbot.addWidget(window)
    window.resize(1400, 880)
    window.show()
    window.start()
    pane = window.knowledge_pane
    await wait_until(lambda: pane.model.rowCount() > 0, 20, "entries listed after the sync")
    await wait_until(lambda: pane.department_combo.count() > 1, 10, "filters filled")
    item = window.nav.item(1)
    qtbot.mouseClick(
        window.nav.viewport(),
        Qt.MouseButton.LeftButton,
        pos=window.nav.visualItemRect(item).center(),
    )
    assert window.stack.currentWidget() is pane
    return window, account


async def close(window: MainWindow, account: Account) -> None:
    window.close()
    await window.sync.wait_idle()
    account.close()


def shown_text(pane: KnowledgePane) -> str | None:
    return pane.model.result.text if pane.model.result is not None else None


def feedback_review_list(url: str) -> list[dict[str, Any]]:
    admin = ApiClient(url)
    try:
        admin.login("admin", DEMO_PASSWORD)
        return list(admin.get("/admin/knowledge-feedback"))
    finally:
        admin.close()


# -- models -------------------------------------------------------------------------------


def test_models_pass_the_qt_model_tester(qtmodeltester: Any, tmp_path: Path) -> None:
    from server.seed import knowledge_records

    cache = open_cache(tmp_path / "cache.sqlite3")
    try:
        store = LocalStore(cache.sessions)
        records = knowledge_records()
        store.apply_page(
            [
                {"kind": "knowledge_entry", "id": r["id"], "deleted": False, "data": r}
                for r in records
            ],
            1,
        )
        result = KnowledgeSearch(cache.sessions).search("社保")
        model = KnowledgeResultsModel()
        model.set_result(result)
        assert model.rowCount() == len(result.hits) > 3
        assert "社保" in model.index(0).data(KnowledgeResultsModel.TitleHtmlRole)
        qtmodeltester.check(model)
        model.set_result(None)
        qtmodeltester.check(model)
    finally:
        cache.engine.dispose()

    from core.entities import MatterGuide

    matters = MatterListModel()
    matters.set_matters(
        [
            MatterGuide("B-1", "住房公积金提取", "住房公积金管理中心"),
            MatterGuide("A-1", "居住证申领", "公安局"),
        ]
    )
    assert matters.index(0).data() == "居住证申领"  # by department, then name
    qtmodeltester.check(matters)
    proxy = MatterFilterModel()
    proxy.setSourceModel(matters)
    proxy.set_text("公积金")
    assert proxy.rowCount() == 1
    qtmodeltester.check(proxy)


# -- the pane in the main window ------------------------------------------------------------


def test_search_filter_open_copy_and_report_a_correction(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        window, account = await open_knowledge(qtbot, workers, live_server.url)
        pane = window.knowledge_pane

        # A two-character query: results as you type, the words marked.
        type_text(qtbot, pane.search, "社保")
        await wait_until(lambda: shown_text(pane) == "社保", 10, "results for 社保")
        assert pane.model.rowCount() > 3
        titles = [pane.model.index(r).data(KnowledgeResultsModel.TitleHtmlRole) for r in range(3)]
        assert all("社保</b>" in t for t in titles)
        expired = [pane.model.hit_at(r).expired for r in range(pane.model.rowCount())]
        assert expired == sorted(expired), "expired entries come last"
        assert "共" in pane.status.text()

        # Filter by department with the keyboard.
        combo = pane.department_combo
        combo.setFocus()
        while combo.currentData() != "医疗保障局":
            before = combo.currentIndex()
            qtbot.keyClick(combo, Qt.Key.Key_Down)
            assert combo.currentIndex() != before, "医疗保障局 not among the departments"
        await wait_until(
            lambda: (
                pane.model.result is not None
                and pane.model.result.filters.department == "医疗保障局"
            ),
            10,
            "filtered",
        )
        assert all(
            pane.model.entry_at(r).department == "医疗保障局" for r in range(pane.model.rowCount())
        )
        qtbot.mouseClick(pane.clear_filters_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: pane.model.result.filters == SearchFilters(), 10, "unfiltered")

        # Open an entry with the mouse: answer, source, version and dates.
        click_row(qtbot, pane.results, 0)
        entry = pane.model.entry_at(0)
        await wait_until(lambda: pane.current_entry == entry, 5, "entry shown")
        text = pane.view.toPlainText()
        assert entry.title in text and "发文单位" in text and "版本" in text
        assert "失效日期" in text and entry.issuing_unit in text

        # Copy the answer as plain text.
        qtbot.mouseClick(pane.copy_button, Qt.MouseButton.LeftButton)
        copied = QGuiApplication.clipboard().text()
        assert copied.startswith(entry.answer.strip()[:20]) and "<" not in copied
        assert "已复制" in pane.message.text()

        # 纠错: the dialog refuses an empty report, then sends one through the outbox.
        qtbot.mouseClick(pane.correction_button, Qt.MouseButton.LeftButton)
        dialog = await wait_until(
            lambda: pane.findChild(KnowledgeFeedbackDialog), 5, "feedback dialog"
        )
        assert dialog.correction.isChecked() and entry.title in dialog.entry_label.text()
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        assert dialog.isVisible() and "请填写内容" in dialog.error.text()
        report = "办理地点已搬迁到市民中心三楼，请更新"
        type_text(qtbot, dialog.text_edit, report)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "纠错已提交" in pane.message.text(), 5, "confirmation")
        await wait_until(lambda: account.store.outbox_size() == 0, 20, "pushed by the sync")
        listed = await workers.on_net(feedback_review_list, live_server.url)
        mine = [f for f in listed if f["text"] == report]
        assert len(mine) == 1
        assert mine[0]["kind"] == "correction" and mine[0]["entry_id"] == entry.id

        SHOTS.mkdir(exist_ok=True)
        window.grab().save(str(SHOTS / "knowledge-pane.png"))
        await close(window, account)

    qloop.run_until_complete(scenario())


def test_pinyin_initials_new_question_and_matter_guides(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        window, account = await open_knowledge(qtbot, workers, live_server.url)
        pane = window.knowledge_pane

        qtbot.keyClicks(pane.search, "gjj")
        await wait_until(lambda: shown_text(pane) == "gjj", 10, "results for gjj")
        first = pane.model.hit_at(0)
        assert "公积金" in first.entry.title
        assert {first.entry.title[s:e] for s, e in first.title_spans} == {"公积金"}
        # Down from the search box goes to the results, Up comes back.
        qtbot.keyClick(pane.search, Qt.Key.Key_Down)
        assert pane.results.hasFocus() and pane.current_entry == first.entry
        qtbot.keyClick(pane.results, Qt.Key.Key_Up)
        assert pane.search.hasFocus()

        # Nothing found: the pane offers 新问题.
        pane.search.clear()
        type_text(qtbot, pane.search, "无人机驾驶执照考试")
        await wait_until(lambda: shown_text(pane) == "无人机驾驶执照考试", 10, "no results")
        assert pane.model.rowCount() == 0 and "提交新问题" in pane.status.text()
        qtbot.mouseClick(pane.new_question_button, Qt.MouseButton.LeftButton)
        dialog = await wait_until(
            lambda: pane.findChild(KnowledgeFeedbackDialog), 5, "feedback dialog"
        )
        assert dialog.new_question.isChecked()
        type_text(qtbot, dialog.text_edit, "群众问：无人机驾驶执照在哪里考？")
        qtbot.keyClick(dialog.text_edit, Qt.Key.Key_Tab)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "新问题已提交" in pane.message.text(), 5, "confirmation")

        # 办事指南: filter the matters, open one, follow a link to one of its entries.
        pane.tabs.setCurrentIndex(pane.TAB_GUIDES)
        type_text(qtbot, pane.matter_filter, "公积金")
        await wait_until(lambda: pane.matter_proxy.rowCount() >= 2, 5, "matters filtered")
        click_row(qtbot, pane.matter_list, 0)
        await wait_until(lambda: "申请材料" in pane.guide_view.toPlainText(), 10, "guide shown")
        guide = pane.guide_view.toPlainText()
        for part in ("受理条件", "办理流程", "办理时限", "收费", "网上办理", "相关问答"):
            assert part in guide
        code = pane.matter_list.currentIndex().data(MatterListModel.CodeRole)
        entries = await workers.on_db(
            KnowledgeSearch(account.cache.sessions).entries_of_matter, code
        )
        assert entries and entries[0].title in guide
        pane.guide_view.anchorClicked.emit(QUrl(f"kb:{entries[0].id}"))
        await wait_until(lambda: pane.current_entry == entries[0], 5, "entry opened")
        assert pane.tabs.currentIndex() == pane.TAB_SEARCH

        await wait_until(lambda: account.store.outbox_size() == 0, 20, "pushed")
        listed = await workers.on_net(feedback_review_list, live_server.url)
        assert any(
            f["kind"] == "new_question" and f["entry_id"] is None and "无人机" in f["text"]
            for f in listed
        )
        await close(window, account)

    qloop.run_until_complete(scenario())


def test_the_pane_beside_a_session_puts_an_answer_into_the_note(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        account = await signed_in(workers, live_server.url)
        window = MainWindow(account, workers, ClientSettings())
        qtbot.addWidget(window)
        window.resize(1400, 880)
        window.show()
        window.start()
        sessions = window.sessions_pane
        # Interact once the first sync has settled, as a person would see it.
        await wait_until(lambda: "上次同步" in window.last_sync_label.text(), 20, "synced")
        mine = await wait_until(
            lambda: next(
                (s.id for s in sessions._sessions.values() if s.assignee_id == account.user.id),
                None,
            ),
            20,
            "my sessions",
        )
        await wait_until(lambda: sessions.select_session(mine), 10, "session selected")
        tool = window.session_knowledge
        sessions.show_tool(tool)
        assert tool.insert_button.isVisible()
        type_text(qtbot, tool.search, "居住证")
        await wait_until(lambda: shown_text(tool) == "居住证", 10, "results")
        click_row(qtbot, tool.results, 0)
        entry = tool.model.entry_at(0)
        await wait_until(lambda: tool.current_entry == entry, 5, "entry shown")
        qtbot.mouseClick(tool.insert_button, Qt.MouseButton.LeftButton)
        note = await wait_until(
            lambda: entry.title in (text := sessions.view.note_edit.toPlainText()) and text,
            5,
            "answer in the note",
        )
        assert "来源" in note
        await close(window, account)

    qloop.run_until_complete(scenario())


# -- typing never waits, stale results are dropped ------------------------------------------


class SlowBackend(KnowledgeBackend):
    """A real backend whose searches wait until the test lets them go."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.asked: list[str] = []

    async def search(self, text: str, filters: SearchFilters, limit: int = 50) -> Any:
        self.asked.append(text)
        await self.gate.wait()
        return await super().search(text, filters, limit)


def test_typing_never_waits_and_stale_results_are_dropped(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, tmp_path: Path
) -> None:
    from server.seed import knowledge_records

    cache = open_cache(tmp_path / "cache.sqlite3")
    store = LocalStore(cache.sessions)
    store.apply_page(
        [
            {"kind": "knowledge_entry", "id": r["id"], "deleted": False, "data": r}
            for r in knowledge_records()
        ],
        1,
    )
    backend = SlowBackend(workers, store, KnowledgeSearch(cache.sessions))
    pane = KnowledgePane(backend)
    qtbot.addWidget(pane)
    pane.resize(900, 600)
    pane.show()

    async def scenario() -> None:
        type_text(qtbot, pane.search, "社")
        await wait_until(lambda: backend.asked == ["社"], 5, "first search asked")
        # The first search is held; typing goes on and asks again when it can.
        type_text(qtbot, pane.search, "保")
        assert pane.search.text() == "社保"
        await asyncio.sleep(0.3)  # let the debounce timer fire while the search is held
        assert backend.asked == ["社"], "one search at a time"
        backend.gate.set()
        await wait_until(lambda: shown_text(pane) == "社保", 10, "newest result shown")
        assert backend.asked == ["社", "社保"]
        assert all("社保" in h.entry.title + h.entry.answer for h in pane.model.result.hits)

    try:
        qloop.run_until_complete(scenario())
    finally:
        cache.engine.dispose()


def test_an_unknown_matter_and_an_entry_not_in_the_cache_say_so(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, tmp_path: Path
) -> None:
    cache = open_cache(tmp_path / "cache.sqlite3")
    store = LocalStore(cache.sessions)
    pane = KnowledgePane(KnowledgeBackend(workers, store, KnowledgeSearch(cache.sessions)))
    qtbot.addWidget(pane)
    pane.show()

    async def scenario() -> None:
        await pane.reload()
        await wait_until(lambda: "本机共 0 条" in pane.status.text(), 5, "empty cache said")
        await pane.show_matter("NO-SUCH")
        assert "本机暂无事项" in pane.guide_view.toPlainText()
        await pane.open_entry("kb-none")
        assert "本机暂无该条问答" in pane.message.text()
        assert not pane.copy_button.isEnabled() and not pane.correction_button.isEnabled()
        assert pane.results.currentIndex() == QModelIndex()

    try:
        qloop.run_until_complete(scenario())
    finally:
        cache.engine.dispose()


def test_a_synonym_expansion_is_said_in_the_status_line(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, workers: Workers, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        window, _account = await open_knowledge(qtbot, workers, live_server.url)
        pane = window.knowledge_pane
        type_text(qtbot, pane.search, "上户口")
        await wait_until(lambda: shown_text(pane) == "上户口", 10, "results for 上户口")
        await wait_until(lambda: "同义词" in pane.status.text(), 10, "the expansion named")
        assert "上户口 → 落户" in pane.status.text()
        assert any("落户" in pane.model.entry_at(r).title for r in range(pane.model.rowCount()))
        shots = os.environ.get("BANGBAN_SHOTS")
        if shots:
            window.grab().save(str(Path(shots) / "knowledge-synonyms.png"))

    qloop.run_until_complete(scenario())
