"""The presence people see of someone whose client is polling events: 在线 on every
board, including the lead's own row on the lead's own board, even while a poll stays
open longer than half the presence timeout. Someone who stopped polling goes offline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from server import models as m
from server.services import dispatch
from sync.client import ApiClient
from sync.errors import SyncError
from tests.support import DEMO_PASSWORD, LiveServer

TIMEOUT = 4
"""The presence timeout of these tests: 离开 after 2 s without a heartbeat, 离线 after 4 s."""
POLL_WAIT = 6.0
"""Longer than the whole timeout: a poll held open this long must not read as absence."""


def login(server: LiveServer, username: str) -> ApiClient:
    api = ApiClient(server.url)
    api.login(username, DEMO_PASSWORD)
    return api


class Poller:
    """A client's event loop: long polls one after another, as ``sync.events`` does."""

    def __init__(self, api: ApiClient, wait: float) -> None:
        self.api, self.wait = api, wait
        self.stopped = threading.Event()
        self.polls = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = -1
        while not self.stopped.is_set():
            try:
                answer = self.api.events(last, 0 if last < 0 else self.wait)
            except SyncError:
                time.sleep(0.2)
                continue
            last = int(answer["last"])
            self.polls += 1

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopped.set()


@pytest.fixture
def short_timeout(live_server: LiveServer) -> Iterator[LiveServer]:
    app = live_server.app
    app.state.settings.presence_timeout_seconds = TIMEOUT
    app.state.settings.auto_assign = False
    dispatch.install(app)  # a tracker with the short timeout
    yield live_server


def presences(api: ApiClient, team_id: str | None = None) -> dict[str, str]:
    board = api.get("/team/board", **({"team_id": team_id} if team_id else {}))
    return {a["display_name"]: a["presence"] for a in board["agents"]}


def test_a_polling_lead_and_agent_are_online_and_a_silent_one_goes_offline(
    short_timeout: LiveServer,
) -> None:
    server = short_timeout
    lead, agent, admin = login(server, "lead"), login(server, "agent"), login(server, "admin")
    quiet = login(server, "wangfang")
    quiet.events(-1, 0)  # one heartbeat, then the client goes away
    with Poller(lead, POLL_WAIT) as lead_poll, Poller(agent, POLL_WAIT):
        deadline = time.monotonic() + 20
        while lead_poll.polls < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        seen: list[dict[str, str]] = []
        started = time.monotonic()
        # Two whole polls: the heartbeat written as a poll opened is older than half
        # the timeout most of this time, and older than the timeout at the end of each.
        while time.monotonic() - started < 2 * POLL_WAIT + 1:
            seen.append(presences(lead))
            time.sleep(0.5)
        for board in seen:
            assert board["吴海燕"] == "online", seen  # the lead on their own board
            assert board["李晓雯"] == "online", seen
        # The one who stopped polling: away, then offline once the timeout has passed.
        assert seen[-1]["王芳"] == "offline", seen
        # An admin looking at the team's board sees the same.
        other = presences(admin, "team-zx")
        assert (other["吴海燕"], other["李晓雯"], other["王芳"]) == ("online", "online", "offline")
    # Once the polls stop, the lead is no longer on the line and goes offline too.
    deadline = time.monotonic() + POLL_WAIT + TIMEOUT + 10
    while presences(admin, "team-zx")["吴海燕"] != "offline":
        assert time.monotonic() < deadline, "the lead never went offline after leaving"
        time.sleep(0.5)


def test_the_sweep_leaves_a_connected_user_online(short_timeout: LiveServer) -> None:
    """A sweep that runs while someone's poll is open does not write them offline,
    even when their written heartbeat is older than the timeout."""
    server = short_timeout
    lead = login(server, "lead")
    tracker = server.app.state.presence
    with Poller(lead, 30.0) as poll:
        deadline = time.monotonic() + 20
        while poll.polls < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the long poll is open now
        assert lead.me().id in tracker.connected()
        assert tracker.sweep(datetime.now() + timedelta(seconds=TIMEOUT * 3)) == 0
        with server.db() as db:
            row = db.get(m.User, lead.me().id)
            assert row is not None and row.presence == "online"
        assert presences(lead)["吴海燕"] == "online"
