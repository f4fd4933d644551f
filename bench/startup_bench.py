"""Cold start to a usable console with a large local cache.

Starts a fresh interpreter per run that opens an existing cache (for example the
100,000-entry cache ``bench/sync_bench.py`` leaves in ``/tmp/bangban-bench/client``),
builds the main window as the app does after an offline sign-in (the server address
points nowhere, as in an office whose link is down) and waits until the session
queues and the knowledge list are filled. Prints the time from process start to
that moment, and the client's RSS then.

    python bench/startup_bench.py --cache /tmp/bangban-bench/client/cache.sqlite3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import asyncio, json, os, resource, sys, time
sys.path.insert(0, os.environ["BANGBAN_ROOT"])
started = float(os.environ["BANGBAN_SPAWNED_AT"])
import main as appmain
import qasync
from core.localstore.db import open_cache
from core.localstore.store import LocalStore
from core.settings import ClientSettings
from sync.account import Account
from sync.client import ApiClient, UserInfo
from ui.main_window import MainWindow
from ui.worker import Workers

app = appmain.make_application(["bench"])
loop = qasync.QEventLoop(app)
asyncio.set_event_loop(loop)


async def run():
    workers = Workers()
    cache = await workers.on_db(open_cache, __import__("pathlib").Path(os.environ["BANGBAN_CACHE"]))
    store = LocalStore(cache.sessions)
    user = UserInfo(id=2, username="agent", display_name="李晓雯", role="agent", team_id="team-zx")
    api = ApiClient("http://127.0.0.1:9", timeout=(0.5, 0.5))
    account = Account("http://127.0.0.1:9", user, api, cache, store, offline=True)
    window = MainWindow(account, workers, ClientSettings())
    window.resize(1280, 800)
    window.show()
    window.start()
    while True:
        sessions = sum(window.sessions_pane.counts())
        if sessions > 0 and window.knowledge_pane.model.rowCount() > 0:
            break
        await asyncio.sleep(0.005)
    ready = time.time() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ready_s": ready, "rss_mb": rss, "sessions": sessions}), flush=True)
    window.close()
    os._exit(0)


with loop:
    loop.run_until_complete(run())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description="冷启动到可用工作台的耗时")
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/bangban-bench/client/cache.sqlite3")
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not args.cache.exists():
        print(f"没有缓存文件 {args.cache}；先运行 bench/sync_bench.py", file=sys.stderr)
        return 2
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            # A private copy: the window's background sync may write to the cache.
            cache = Path(tmp) / "cache.sqlite3"
            shutil.copy(args.cache, cache)
            env = dict(
                os.environ,
                QT_QPA_PLATFORM="offscreen",
                BANGBAN_HOME=tmp,
                BANGBAN_ROOT=str(ROOT),
                BANGBAN_CACHE=str(cache),
            )
            env["BANGBAN_SPAWNED_AT"] = repr(time.time())
            out = subprocess.run(
                [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120
            )
        line = next((x for x in out.stdout.splitlines() if x.startswith("{")), None)
        if line is None:
            print(out.stdout[-2000:], out.stderr[-2000:], file=sys.stderr)
            return 1
        results.append(json.loads(line))
    ready = sorted(r["ready_s"] for r in results)
    print(f"cache                      {args.cache} ({args.cache.stat().st_size / 2**20:.0f} MB)")
    print(f"cold start to usable, runs {', '.join(f'{x:.2f}' for x in ready)} s")
    print(f"median / max               {statistics.median(ready):.2f} / {max(ready):.2f} s")
    print(f"client RSS when usable     {max(r['rss_mb'] for r in results):.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
