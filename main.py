"""Bangban Desk (帮办工作台): start the desktop client.

``python main.py`` starts an embedded demo server with demo data and connects to it;
``python main.py --server URL`` connects to a real central server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import logging.handlers
import sys

from core.masking import mask_text
from core.settings import ClientSettings, data_dir

log = logging.getLogger("bangban")


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


class Lifecycle:
    """Sign in → main window → (log out → sign in again) … → quit, in one process.

    Whatever ends the app (the window's close button, 账户 → 退出, the login dialog's
    退出, SIGTERM or SIGINT) ends here, and the embedded demo server goes with it.
    """

    def __init__(self, args: argparse.Namespace, settings: ClientSettings) -> None:
        from ui.worker import Workers

        self.args = args
        self.settings = settings
        self.workers = Workers()
        self.server_url = args.server or settings.server_url
        self.embedded = None  # type: ignore[var-annotated]
        self.dialog = None  # type: ignore[var-annotated]
        self.window = None  # type: ignore[var-annotated]
        self.quitting = False
        self._ready: asyncio.Future[None] = asyncio.get_event_loop().create_future()

    def quit(self) -> None:
        """End the app now (a signal): close what is open; unsent actions stay cached."""
        log.info("quit requested")
        self.quitting = True
        if self.window is not None:
            self.window.close_now()
        if self.dialog is not None:
            self.dialog.reject()

    async def run(self) -> int:
        from sync.embedded import EmbeddedServer
        from ui.main_window import ExitReason

        try:
            if not self.server_url:
                self.embedded = EmbeddedServer(data_dir() / "demo-server" / "bangban-demo.sqlite3")
                self.embedded.start()
                self._ready = asyncio.ensure_future(self.workers.on_net(self.embedded.wait_ready))
                # Read by each login dialog; never "exception was never retrieved".
                self._ready.add_done_callback(lambda f: f.cancelled() or f.exception())
            username = self.args.user or self.settings.last_username
            if not username and not self.server_url:
                username = "agent"
            while not self.quitting:
                account = await self._sign_in(username)
                if account is None:
                    return 0
                reason = await self._work(account)
                if reason == ExitReason.QUIT or self.quitting:
                    return 0
                username = account.user.username if reason == ExitReason.LOGOUT else ""
            return 0
        finally:
            if self.embedded is not None:
                self.embedded.stop()
            self.workers.shutdown()

    async def _sign_in(self, username: str):  # type: ignore[no-untyped-def]
        """The login dialog until it is answered: an account, or None to quit."""
        from sync.errors import SyncError
        from ui.login_dialog import LoginDialog

        loop = asyncio.get_running_loop()
        dialog = LoginDialog(self.workers, self.server_url, username)
        done: asyncio.Future[bool] = loop.create_future()
        dialog.finished.connect(lambda result: done.done() or done.set_result(bool(result)))
        self.dialog = dialog
        dialog.show()
        if self.embedded is not None:
            await asyncio.wait({self._ready, done}, return_when=asyncio.FIRST_COMPLETED)
            if self._ready.done() and not done.done():
                try:
                    self._ready.result()
                    dialog.set_server_ready(self.embedded.url, self.embedded.old_cache_addresses)
                except SyncError as exc:
                    dialog.set_server_failed(exc.message)
        accepted = await done
        self.dialog = None
        account = dialog.account
        dialog.deleteLater()
        if not accepted or account is None or self.quitting:
            if account is not None:
                account.close()
            return None
        self.settings.last_username = account.user.username
        if self.args.server:
            self.settings.server_url = self.args.server
        self.settings.save()
        return account

    async def _work(self, account) -> str:  # type: ignore[no-untyped-def]
        from sync.errors import SyncError
        from sync.events import run_in_daemon
        from ui.main_window import ExitReason, MainWindow

        loop = asyncio.get_running_loop()
        window = MainWindow(account, self.workers, self.settings)
        self.window = window
        closed: asyncio.Future[None] = loop.create_future()
        window.closed.connect(lambda: closed.done() or closed.set_result(None))
        fit_to_screen(window)
        window.show()
        window.raise_()
        window.activateWindow()
        window.start()
        # Everything made so far lives as long as the window: keep it out of the
        # garbage collector's full passes, which otherwise walk it again and again
        # while a sync allocates, and stall the GUI thread (bench/sync_bench.py).
        gc.freeze()
        await closed
        self.window = None
        reason = window.exit_reason
        await window.sync.wait_idle()
        await window.live.wait_stopped()
        if reason != ExitReason.QUIT and not account.offline:
            try:  # revoke the token; a server without the route answers 404
                await asyncio.wait_for(run_in_daemon(account.api.logout), 8)
            except (SyncError, TimeoutError) as exc:
                log.info("logout not confirmed by the server: %s", exc)
        log.info("signed out (%s)", reason)
        account.close()
        window.deleteLater()
        return str(reason)


def fit_to_screen(window) -> None:  # type: ignore[no-untyped-def]
    """Keep the window within the screen (a 1366×768 laptop must see the status bar)."""
    screen = window.screen()
    if screen is None:
        return
    room = screen.availableGeometry()
    size = window.size().boundedTo(room.size())
    if size != window.size():
        window.resize(size)
    frame = window.frameGeometry()
    if not room.contains(frame):
        window.move(room.topLeft())


def install_signal_handlers(lifecycle: Lifecycle) -> None:
    """SIGTERM and SIGINT end the app cleanly (and the embedded server with it).

    Python runs its signal handlers only between bytecodes; while Qt waits in C++ it
    never does. The C-level handler writes to a wake-up socket, and a Qt notifier on
    that socket hands control to Python, which then runs the handler.
    """
    import signal
    import socket

    from PySide6.QtCore import QSocketNotifier

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        with contextlib.suppress(OSError):
            reader.recv(64)

    notifier.activated.connect(drain)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: quitting", signum)
        asyncio.get_event_loop().call_soon(lifecycle.quit)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Keep them alive as long as the app.
    lifecycle._signal_parts = (reader, writer, notifier)  # type: ignore[attr-defined]


async def run_client(args: argparse.Namespace, settings: ClientSettings) -> int:
    """Sign in, work, sign out … until the person quits."""
    lifecycle = Lifecycle(args, settings)
    install_signal_handlers(lifecycle)
    return await lifecycle.run()


def missing_qt_libraries() -> list[str]:
    """Shared libraries Qt's xcb platform plugin needs that this machine lacks (Linux;
    empty elsewhere or when ``ldd`` is missing)."""
    import shutil
    import subprocess
    from pathlib import Path

    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        return []
    import PySide6

    plugin = Path(PySide6.__file__).resolve().parent / "Qt" / "plugins" / "platforms"
    plugin = plugin / "libqxcb.so"
    if not plugin.exists():
        return []
    try:
        out = subprocess.run(
            ["ldd", str(plugin)], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line]


def preflight() -> str:
    """Why the window cannot open here, in words (empty when it can): Qt would otherwise
    exit with an English message about its xcb plugin."""
    import os

    if not sys.platform.startswith("linux"):
        return ""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return ""
    if not platform and os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"):
        return ""  # Qt takes Wayland
    if not os.environ.get("DISPLAY"):
        return (
            "没有可用的图形界面（未设置 DISPLAY）。请在桌面环境中运行，"
            "或在服务器上用虚拟显示运行：xvfb-run -a python3 main.py"
        )
    missing = missing_qt_libraries()
    if missing:
        return (
            "缺少图形界面所需的系统库：" + "、".join(missing) + "。"
            "请先运行 bash .ci/install-deps 安装（Debian/Ubuntu）。"
        )
    return ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.verbose)
    problem = preflight()
    if problem:
        log.error("cannot start: %s", problem)
        print(problem, file=sys.stderr)
        return 2
    import qasync

    app = make_application(sys.argv[:1])
    settings = ClientSettings.load()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    from ui.errors import install_error_handlers

    # Unexpected errors (a slot, a worker thread, a task) are logged and shown in words.
    install_error_handlers(app, loop)
    log.info("帮办工作台 starting (log: %s)", data_dir() / "bangban-desk.log")
    with loop:
        return loop.run_until_complete(run_client(args, settings))


if __name__ == "__main__":
    sys.exit(main())
