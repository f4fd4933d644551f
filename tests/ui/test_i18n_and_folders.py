"""Qt's own texts in Chinese, save dialogs that start in the person's folders, and a
notice that names the matter without internal ids."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from core.settings import data_dir
from core.walkthrough import build_notice, load_text
from core.walkthrough.engine import start
from tests.support import wait_until
from ui.asking import ask_save_file
from ui.folders import NOTICE_PDF, documents_folder, remember_folder, start_folder
from ui.notice_page import NoticeMeta, notice_html

ROOT = Path(__file__).resolve().parents[2]


def test_the_file_dialog_speaks_chinese(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()

    async def scenario() -> None:
        answer = ask_save_file(parent, "导出", tmp_path / "班组统计.xlsx", "Excel 工作簿 (*.xlsx)")
        dialog = await wait_until(lambda: parent.findChild(QFileDialog), 5, "dialog open")
        await wait_until(dialog.isVisible, 5, "dialog shown")
        labels = {label.text() for label in dialog.findChildren(QLabel)}
        buttons = {button.text() for button in dialog.findChildren(QPushButton)}
        # ui.asking.file_dialog names the two labels Qt's catalogue leaves in English.
        assert {"位置：", "文件名称(&N)：", "文件类型："} <= labels, labels
        assert not [text for text in labels if text.isascii()], labels
        assert "取消" in buttons, buttons
        dialog.reject()
        assert await answer is None

    qloop.run_until_complete(scenario())


def test_save_dialogs_start_in_documents_then_where_the_person_saved(
    qapp: QApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = start_folder(NOTICE_PDF)
    assert first == documents_folder()
    assert first != data_dir() and data_dir() not in first.parents
    chosen = tmp_path / "告知书"
    chosen.mkdir()
    remember_folder(NOTICE_PDF, chosen / "一次性告知书-韩先生.pdf")
    assert start_folder(NOTICE_PDF) == chosen
    chosen.rmdir()  # gone (a USB stick pulled out): back to Documents
    assert start_folder(NOTICE_PDF) == documents_folder()


def test_the_printed_notice_names_the_matter_and_no_script_id() -> None:
    source = (ROOT / "resources" / "walkthroughs" / "rs-sbk-bh.yaml").read_text(encoding="utf-8")
    wt = load_text(source, "rs-sbk-bh.yaml")
    notice = build_notice(wt, start(wt), caller_name="张女士")
    page = notice_html(notice, NoticeMeta("张女士", "李晓雯", "JN-0107", day=date(2026, 11, 3)))
    assert notice.matter_name == "社会保障卡补换"
    assert "补换导办" not in page and wt.id not in page
    assert "“社会保障卡补换”" in page
