"""Bangban Desk (帮办工作台): start the desktop client.

``python main.py`` starts an embedded demo server with demo data and connects to it;
``python main.py --server URL`` connects to a real central server.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import logging.handlers
import sys

from core.masking import mask_text
from core.settings import ClientSettings, data_dir


class MaskingFilter(logging.Filter):
    """Masks phone and ID numbers in every log line, whatever logged them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        return True


def setup_logging(verbose: bool) -> None:
    handler = logging.handlers.RotatingFileHandler(
        data_dir() / "bangban-desk.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.addFilter(MaskingFilter())
    console = logging.StreamHandler()
    console.addFilter(MaskingFilter())
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[handler, console],
    )
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="main.py", description="帮办工作台")
    parser.add_argument("--server", help="中心服务器地址；不填则启动本机演示服务器")
    parser.add_argument("--user", help="预填的用户名")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def make_application(argv: list[str]):  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("bangban-desk")
    app.setOrganizationName("bangban")
    app.setApplicationDisplayName("帮办工作台")
    # The login dialog closes before the main window opens; the loop ends when we say.
    app.setQuitOnLastWindowClosed(False)
    font = QFont(app.font())
    font.setFamilies(["Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", font.family()])
    font.setPointSize(max(font.pointSize(), 10))
    app.setFont(font)
    from ui.i18n import install_qt_translations

    install_qt_translations(app)
    return app


async def run_client(args: argparse.Namespace, settings: ClientSettings) -> int:
    """Login, then the main window until it closes."""
    from sync.embedded import EmbeddedServer
    from sync.errors import SyncError
    from ui.login_dialog import LoginDialog
    from ui.main_window import MainWindow
    from ui.worker import Workers

    workers = Workers()
    server_url = args.server or settings.server_url
    embedded: EmbeddedServer | None = None
    loop = asyncio.get_running_loop()
    dialog = LoginDialog(
        workers, server_url, args.user or settings.last_username or ("" if server_url else "agent")
    )
    done: asyncio.Future[bool] = loop.create_future()
    dialog.finished.connect(lambda result: done.done() or done.set_result(bool(result)))
    dialog.show()
    if not server_url:
        embedded = EmbeddedServer(data_dir() / "demo-server" / "bangban-demo.sqlite3")
        embedded.start()
        try:
            await workers.on_net(embedded.wait_ready)
            dialog.set_server_ready(embedded.url)
        except SyncError as exc:
            dialog.set_server_failed(exc.message)
    try:
        if not await done or dialog.account is None:
            return 0
        account = dialog.account
        settings.last_username = account.user.username
        if args.server:
            settings.server_url = args.server
        settings.save()
        window = MainWindow(account, workers, settings)
        closed: asyncio.Future[None] = loop.create_future()
        window.closed.connect(lambda: closed.done() or closed.set_result(None))
        window.show()
        window.start()
        # Everything made so far lives as long as the window: keep it out of the
        # garbage collector's full passes, which otherwise walk it again and again
        # while a sync allocates, and stall the GUI thread (bench/sync_bench.py).
        gc.freeze()
        await closed
        await window.sync.wait_idle()
        account.close()
        return 0
    finally:
        if embedded is not None:
            embedded.stop()
        workers.shutdown()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.verbose)
    import qasync

    app = make_application(sys.argv[:1])
    settings = ClientSettings.load()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        return loop.run_until_complete(run_client(args, settings))


if __name__ == "__main__":
    sys.exit(main())
