"""GUI fixtures: a qasync loop over pytest-qt's QApplication, and the app's workers."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from ui.i18n import install_qt_translations
from ui.worker import Workers


@pytest.fixture(autouse=True)
def _qt_settings(tmp_path: Path) -> Iterator[Path]:
    """QSettings (window geometry, splitter state, export folders) under ``tmp_path``."""
    folder = tmp_path / "qsettings"
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture
def qapp(qapp: QApplication) -> QApplication:
    """pytest-qt's application with Qt's own texts in Chinese, as ``main.py`` makes it."""
    install_qt_translations(qapp)
    return qapp


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """An asyncio loop that runs inside Qt's, as in the app; tests drive it with
    ``qloop.run_until_complete(scenario())``."""
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            # Their done callbacks (``ui.tasks`` forgetting them) run on the next turn.
            loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        asyncio.set_event_loop(None)
        del loop, pending
        # qasync's loop owns Qt timers that must die on this (the GUI) thread: collect it
        # now, before a garbage collection on a server or worker thread can, which would
        # leave a dangling timer behind that crashes a later test.
        gc.collect()


@pytest.fixture
def workers() -> Iterator[Workers]:
    w = Workers()
    yield w
    w.shutdown()
