"""The app as a person meets it: ``main.py`` started as a process on a real X display
(Xvfb through ``xvfb-run``, Qt's xcb platform), driven with real X input (xdotool),
checked through the embedded demo server's own database (issue 10).

Each test starts ``python3 main.py`` with a fresh ``BANGBAN_HOME`` and no server given,
so the embedded demo server starts; it signs in as ``agent`` with the demo password by
typing, acts by keyboard shortcuts (dialogs left open for seconds, then answered),
closes the app, and asserts that the app and its demo server are gone and that the
app's log has no traceback and no "Cannot enter into task".

``BANGBAN_SHOTS=<dir>`` keeps screenshots of the whole screen (``import -window root``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sync.client import ApiClient

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("xvfb-run", "xdotool", "import")

pytestmark = [
    pytest.mark.realdisplay,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 tests run on Linux"),
    pytest.mark.timeout(600),
]


@pytest.fixture(autouse=True)
def _x_tools() -> None:
    """On Linux these tests run: a missing tool is a failure that says what to install."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run bash .ci/install-deps", pytrace=False)


LOGIN_TITLE = "登录 - 帮办工作台"
MAIN_TITLE = "帮办工作台 - "
WAIT = float(os.environ.get("BANGBAN_TEST_WAIT_SCALE", "3"))


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout * WAIT
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def process_gone(pid: int) -> bool:
    """Not running (gone, or a zombie nobody has reaped yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    match = re.search(r"^State:\s+(\S)", status, re.MULTILINE)
    return match is not None and match.group(1) in {"Z", "X"}


class App:
    """``main.py`` under ``xvfb-run``, and the X tools pointed at its display."""

    def __init__(
        self, home: Path, shots: Path | None, name: str, args: tuple[str, ...] = ()
    ) -> None:
        self.home = home
        self.args = args
        self.shots = shots
        self.name = name
        self.shot_no = 0
        self.info = home / "display.txt"
        self.output = home / "app-output.txt"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}
        self.pid = 0

    # -- the process --------------------------------------------------------------------

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.info.unlink(missing_ok=True)
        env = dict(os.environ)
        env.update(
            BANGBAN_HOME=str(self.home),
            QT_QPA_PLATFORM="xcb",
            PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
            PYTHONUNBUFFERED="1",
        )
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        extra = " ".join(shlex.quote(a) for a in self.args)
        script = f'echo "$DISPLAY $XAUTHORITY $$" > "{self.info}"; exec python3 main.py {extra}'
        out = self.output.open("ab")
        self.proc = subprocess.Popen(
            ["xvfb-run", "-a", "-s", "-screen 0 1366x768x24", "bash", "-c", script],
            cwd=str(ROOT),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        text = wait_for(
            lambda: self.info.exists() and self.info.read_text().strip(), 30, "the X display"
        )
        display, xauthority, pid = text.split()
        self.pid = int(pid)
        self.env = dict(env, DISPLAY=display, XAUTHORITY=xauthority)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        wait_for(lambda: process_gone(self.pid), timeout, "the app to exit")
        return self.proc.wait(timeout=timeout * WAIT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        server = self.server_pid()
        if server and not process_gone(server):
            with contextlib.suppress(ProcessLookupError):
                os.kill(server, signal.SIGKILL)

    # -- what the app left behind -----------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.home / "data" / "bangban-desk.log"

    def log(self) -> str:
        return self.log_path.read_text("utf-8") if self.log_path.exists() else ""

    def server_pid(self) -> int | None:
        found = re.findall(r"embedded demo server pid (\d+)", self.log())
        return int(found[-1]) if found else None

    @property
    def server_db(self) -> Path:
        return self.home / "data" / "demo-server" / "bangban-demo.sqlite3"

    def server_url(self) -> str:
        state = self.server_db.with_suffix(".port.json")
        port = json.loads(state.read_text("utf-8"))["port"]
        return f"http://127.0.0.1:{port}"

    def server_ready(self) -> bool:
        try:
            return requests.get(f"{self.server_url()}/api/v1/health", timeout=2).ok
        except (OSError, ValueError, KeyError, requests.RequestException):
            return False

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.server_db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def assert_clean_log(self) -> None:
        text = self.log()
        for bad in ("Traceback", "Cannot enter into task", "CRITICAL"):
            assert bad not in text, f"{bad!r} in the app's log:\n{text[-4000:]}"

    # -- X input and screenshots ----------------------------------------------------------------

    def x(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=30
        )
        if check and done.returncode != 0:
            raise AssertionError(f"xdotool {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def windows(self, title: str) -> list[str]:
        out = self.x("search", "--onlyvisible", "--name", re.escape(title), check=False)
        return out.split()

    def wait_window(self, title: str, timeout: float = 30) -> str:
        return wait_for(lambda: (self.windows(title) or [None])[-1], timeout, f"window {title!r}")

    def focus(self, window: str) -> None:
        """Give ``window`` the keyboard (there is no window manager on this display)."""
        self.x("windowactivate", window, check=False)
        self.x("windowfocus", "--sync", window)
        time.sleep(0.5)

    def key(self, *keys: str) -> None:
        for k in keys:
            self.x("key", "--clearmodifiers", k)
            time.sleep(0.25)

    def type(self, text: str) -> None:
        self.x("type", "--delay", "40", text)
        time.sleep(0.3)

    def shot(self, label: str) -> None:
        if self.shots is None:
            return
        self.shots.mkdir(parents=True, exist_ok=True)
        self.shot_no += 1
        target = self.shots / f"{self.name}-{self.shot_no:02d}-{label}.png"
        subprocess.run(
            ["import", "-window", "root", str(target)], env=self.env, timeout=30, check=False
        )

    # -- steps a person takes -----------------------------------------------------------------

    def sign_in(self, password: str = "bangban-demo") -> str:
        """Type the password into the login dialog (username prefilled) and press Enter."""
        wait_for(self.server_ready, 60, "the embedded demo server")
        login = self.wait_window(LOGIN_TITLE)
        time.sleep(1.0)  # the dialog enables 登录 when it hears the server is ready
        self.focus(login)
        self.type(password)
        self.shot("login")
        self.key("Return")
        main = self.wait_window(MAIN_TITLE, 40)
        self.focus(main)
        return main

    def quit_by_menu(self, main: str) -> None:
        """账户 → 退出 from the keyboard (Ctrl+Q is its shortcut)."""
        self.focus(main)
        self.key("ctrl+q")


def send_wm_delete(env: dict[str, str], window: int) -> None:
    """Ask ``window`` to close as a window manager's close button does: a
    ``WM_DELETE_WINDOW`` client message (libX11 through ctypes; there is no window
    manager on the test display)."""
    import ctypes
    import ctypes.util

    class ClientMessage(ctypes.Structure):
        _fields_ = [
            ("type", ctypes.c_int),
            ("serial", ctypes.c_ulong),
            ("send_event", ctypes.c_int),
            ("display", ctypes.c_void_p),
            ("window", ctypes.c_ulong),
            ("message_type", ctypes.c_ulong),
            ("format", ctypes.c_int),
            ("data", ctypes.c_long * 5),
        ]

    class Event(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    name = ctypes.util.find_library("X11") or "libX11.so.6"
    x11 = ctypes.CDLL(name)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_int,
        ctypes.c_long,
        ctypes.POINTER(Event),
    ]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    old = {k: os.environ.get(k) for k in ("DISPLAY", "XAUTHORITY")}
    os.environ.update(DISPLAY=env["DISPLAY"], XAUTHORITY=env["XAUTHORITY"])
    try:
        display = x11.XOpenDisplay(None)
        assert display, "cannot open the test display"
        event = Event()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = window
        event.xclient.message_type = x11.XInternAtom(display, b"WM_PROTOCOLS", 0)
        event.xclient.format = 32
        event.xclient.data[0] = x11.XInternAtom(display, b"WM_DELETE_WINDOW", 0)
        event.xclient.data[1] = 0  # CurrentTime
        assert x11.XSendEvent(display, window, 0, 0, ctypes.byref(event))
        x11.XFlush(display)
        x11.XCloseDisplay(display)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def shots() -> Path | None:
    value = os.environ.get("BANGBAN_SHOTS")
    return Path(value) if value else None


@pytest.fixture
def app_home(tmp_path: Path) -> Path:
    return tmp_path / "desk-home"


@pytest.fixture
def make_app(app_home: Path, shots: Path | None) -> Iterator[Callable[..., App]]:
    made: list[App] = []

    def make(name: str, *args: str) -> App:
        app = App(app_home, shots, name, args)
        made.append(app)
        app.start()
        return app

    yield make
    for app in made:
        app.kill()


def agent_sessions(app: App, state: str) -> set[str]:
    rows = app.query(
        "SELECT s.id FROM sessions s JOIN users u ON u.id = s.assignee_id "
        "WHERE u.username = 'agent' AND s.state = ?",
        state,
    )
    return {r[0] for r in rows}


def close_the_app(app: App, main: str) -> None:
    server = app.server_pid()
    assert server is not None and not process_gone(server), "the embedded server runs"
    app.quit_by_menu(main)
    assert app.wait_exit(40) == 0
    wait_for(lambda: process_gone(server), 20, "the embedded server to end")
    app.assert_clean_log()


def test_sign_in_act_by_keyboard_and_quit(make_app: Callable[[str], App]) -> None:
    app = make_app("keyboard")
    main = app.sign_in()
    active_before = agent_sessions(app, "active")
    assert active_before
    # The demo's waiting sessions are dispatched to the agent once signed in.
    wait_for(lambda: agent_sessions(app, "assigned"), 30, "sessions assigned to the agent")
    time.sleep(3)  # the first sync fills the lists
    app.shot("main")

    # Ctrl+2: my sessions, the first (the one in progress) selected; Ctrl+M: a note.
    note = f"xdotool note {uuid.uuid4().hex[:8]}"
    app.key("ctrl+2", "Home", "Down")  # past the group's heading: the session in progress
    time.sleep(1)
    app.shot("selected")
    app.key("ctrl+m")
    app.type(note)
    app.key("ctrl+Return")
    noted = wait_for(
        lambda: app.query("SELECT session_id FROM session_notes WHERE text = ?", note),
        30,
        "the note on the server",
    )
    session_id = noted[0][0]
    assert session_id in active_before
    assert app.query("SELECT channel FROM sessions WHERE id = ?", session_id) == [("web_chat",)]

    # F9 办结: the dialog stays open for seconds while sync and events run, then is
    # answered from the keyboard: an outcome, a summary, 办结. (The session is a chat:
    # its caller rates on their own page, so no rating link follows.)
    summary = f"closed by keyboard {uuid.uuid4().hex[:8]}"
    app.key("F9")
    dialog = app.wait_window("办结会话")
    time.sleep(4)
    app.shot("close-dialog-open")
    app.focus(dialog)
    # The dialog opens on its default button (办结): Tab past 取消 to the outcome; End
    # picks the last outcome without opening the list (a popup would take the keyboard
    # focus with it on a display without a window manager).
    app.key("Tab", "Tab", "End", "Tab")
    app.type(summary)
    app.key("Tab")  # on to 办结
    time.sleep(2)
    app.shot("close-dialog-filled")
    app.key("space")  # and press it
    wait_for(
        lambda: app.query(
            "SELECT id FROM sessions WHERE id = ? AND state = 'closed' AND close_summary = ?",
            session_id,
            summary,
        ),
        30,
        "the session closed on the server",
    )

    # F2 接入: a session assigned to me and not yet taken (in the 新分配 group).
    app.focus(main)
    active = agent_sessions(app, "active")
    assigned = agent_sessions(app, "assigned")
    app.key("ctrl+2", "Home")
    for _ in range(12):  # down to the first 新分配 row, whatever groups come first
        app.key("Down", "F2")
        with contextlib.suppress(AssertionError):
            wait_for(lambda: agent_sessions(app, "active") - active, 0.7, "")
            break
    taken = wait_for(lambda: agent_sessions(app, "active") - active, 30, "a session accepted")
    assert taken <= assigned
    app.shot("after-actions")
    close_the_app(app, main)


def test_offline_actions_survive_a_restart(make_app: Callable[[str], App]) -> None:
    """The server goes away (its process is stopped), a note is written offline, the
    app is closed (仍然退出), and at the next start the note goes out."""
    app = make_app("offline")
    main = app.sign_in()
    wait_for(lambda: agent_sessions(app, "active"), 30, "data")
    time.sleep(3)
    server = app.server_pid()
    assert server is not None
    offline_before = app.log().count("connectivity: offline")
    os.kill(server, signal.SIGSTOP)  # unreachable: connections hang, nothing answers
    stopped_at = time.monotonic()
    try:
        # The heartbeat notices within 10 s (a little slack for a loaded machine).
        wait_for(
            lambda: app.log().count("connectivity: offline") > offline_before,
            15 / WAIT,
            "离线 in the status bar",
        )
        assert time.monotonic() - stopped_at < 15
        app.focus(main)
        note = f"offline note {uuid.uuid4().hex[:8]}"
        app.key("ctrl+2", "Home", "Down", "ctrl+m")
        app.type(note)
        app.key("ctrl+Return")
        time.sleep(2)
        app.shot("offline")
        # Closing asks about the unsent note: 仍然退出 (Alt+Q).
        app.focus(main)
        app.key("ctrl+q")
        box = app.wait_window("还有操作未上传")
        time.sleep(3)
        app.shot("unsent-question")
        app.focus(box)
        app.key("alt+q")
        assert app.wait_exit(60) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server, signal.SIGCONT)
    wait_for(lambda: process_gone(server), 20, "the embedded server to end")
    assert not app.query("SELECT id FROM session_notes WHERE text = ?", note)
    app.assert_clean_log()

    # The demo server's port is taken meanwhile: it starts on another one, and the
    # app still finds its cache (by the server's id) and sends what waited there.
    old_url = app.server_url()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", int(old_url.rsplit(":", 1)[1])))
        squatter.listen()
        again = make_app("restart")
        main = again.sign_in()
        assert again.server_url() != old_url
        wait_for(
            lambda: again.query("SELECT id FROM session_notes WHERE text = ?", note),
            40,
            "the offline note sent after the restart",
        )
        again.shot("restarted")
        close_the_app(again, main)


def test_log_out_and_sign_in_again_in_the_same_process(make_app: Callable[[str], App]) -> None:
    app = make_app("logout")
    main = app.sign_in()
    first_pid = app.pid
    time.sleep(2)
    app.key("ctrl+shift+l")  # 账户 → 注销
    login = app.wait_window(LOGIN_TITLE)
    wait_for(lambda: not app.windows(MAIN_TITLE), 20, "the main window closed")
    wait_for(lambda: "signed out (logout)" in app.log(), 20, "signed out")
    app.focus(login)
    app.type("bangban-demo")  # the username is kept after 注销
    app.key("Return")
    main = app.wait_window(MAIN_TITLE, 40)
    app.shot("signed-in-again")
    assert not process_gone(first_pid)  # the same process all along
    close_the_app(app, main)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_app_and_its_server(
    make_app: Callable[[str], App], signum: signal.Signals
) -> None:
    app = make_app(f"signal-{signum.name}")
    app.sign_in()
    server = app.server_pid()
    assert server is not None and not process_gone(server)
    os.kill(app.pid, signum)
    assert app.wait_exit(40) == 0
    wait_for(lambda: process_gone(server), 20, "the embedded server to end")
    assert f"signal {int(signum)}: quitting" in app.log()
    app.assert_clean_log()


def test_the_close_button_ends_the_app_and_its_server(make_app: Callable[[str], App]) -> None:
    app = make_app("close-button")
    main = app.sign_in()
    server = app.server_pid()
    assert server is not None and not process_gone(server)
    time.sleep(2)
    send_wm_delete(app.env, int(main))
    assert app.wait_exit(40) == 0
    wait_for(lambda: process_gone(server), 20, "the embedded server to end")
    assert "signed out (quit)" in app.log()
    app.assert_clean_log()


def test_a_lead_reassigns_through_the_dialog_while_sync_runs(
    make_app: Callable[..., App],
) -> None:
    """The team lead signs in (``--user lead``), opens 班组在办 (Ctrl+4), and moves a
    session with 改派 (Ctrl+R): the dialog stays open for seconds while sync and live
    events run, is answered from the keyboard, and the move reaches the server."""
    app = make_app("lead", "--user", "lead")
    main = app.sign_in()
    wait_for(lambda: app.query("SELECT 1 FROM sessions WHERE state = 'active'"), 30, "demo data")
    time.sleep(3)  # the first sync fills the lists
    before = dict(app.query("SELECT id, assignee_id FROM sessions"))
    reason = f"xdotool reassign {uuid.uuid4().hex[:8]}"
    app.key("ctrl+4", "Home", "Down")  # 班组在办: past the group's heading
    time.sleep(1)
    app.key("ctrl+r")
    dialog = app.wait_window("改派会话")
    time.sleep(4)  # open while sync rounds and the event stream run
    app.shot("reassign-dialog-open")
    app.focus(dialog)
    # Opened on its default button (改派): Tab past 取消 to the agent; End picks the last
    # one without opening the list; Tab to the reason; Enter presses 改派.
    app.key("Tab", "Tab", "End", "Tab")
    app.type(reason)
    app.shot("reassign-dialog-filled")
    app.key("Return")
    moved = wait_for(
        lambda: app.query(
            "SELECT session_id FROM session_events WHERE kind = 'reassigned' AND detail LIKE ?",
            f"%{reason}%",
        ),
        30,
        "the reassignment on the server",
    )
    session_id = moved[0][0]
    now = dict(app.query("SELECT id, assignee_id FROM sessions"))
    assert now[session_id] != before[session_id]
    app.shot("after-reassign")
    close_the_app(app, main)


def report_a_mistake(app: App, text: str) -> str:
    """An agent sends a 纠错 about the first knowledge entry, as the knowledge pane does."""
    (entry_id,) = app.query("SELECT id FROM knowledge_entries ORDER BY id LIMIT 1")[0]
    api = ApiClient(app.server_url())
    api.login("agent", "bangban-demo")
    feedback_id = str(uuid.uuid4())
    (answer,) = api.push(
        [
            {
                "mutation_id": str(uuid.uuid4()),
                "kind": "knowledge_feedback",
                "op": "create",
                "target_id": feedback_id,
                "base_seq": None,
                "payload": {
                    "feedback_id": feedback_id,
                    "entry_id": entry_id,
                    "kind": "correction",
                    "text": text,
                },
            }
        ]
    )
    assert answer["status"] == "applied", answer
    return feedback_id


def test_an_admin_resolves_a_report_through_the_dialog_while_sync_runs(
    make_app: Callable[..., App],
) -> None:
    """The admin signs in (``--user admin``), opens 管理 (Alt+5: 会话, 知识库, 导办脚本,
    班组, 管理), where the keyboard lands in the 纠错/新问题 list; Home selects the report an
    agent just sent, Enter opens 处理反馈, which stays open for seconds while sync and
    live events run, and Enter again submits 采纳."""
    app = make_app("admin", "--user", "admin")
    main = app.sign_in()
    report = report_a_mistake(app, f"材料清单少了复印件 {uuid.uuid4().hex[:6]}")
    time.sleep(2)
    app.focus(main)
    app.key("alt+5")
    time.sleep(2)  # the page loads its lists from the server when first shown
    app.shot("admin-page")
    app.key("Home", "Return")
    dialog = app.wait_window("处理反馈")
    time.sleep(4)
    app.shot("resolve-dialog-open")
    app.focus(dialog)
    app.key("Return")  # the default button: 提交处理结果, with 采纳 chosen
    wait_for(
        lambda: app.query(
            "SELECT id FROM knowledge_feedback WHERE id = ? AND status = 'accepted'", report
        ),
        30,
        "the report accepted on the server",
    )
    wait_for(lambda: not app.windows("处理反馈"), 10, "the dialog closed")
    app.shot("after-resolve")
    close_the_app(app, main)
