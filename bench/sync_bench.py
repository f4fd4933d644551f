"""Benchmark: first full sync, incremental sync and search over N knowledge entries.

``python bench/sync_bench.py --entries 100000`` builds (once, then reused) a server
database with N generated entries (``bench/gen_knowledge.py``), starts the real
server as a child process, and runs the client as the app does: the SyncController
with its database worker and network pool inside a real Qt event loop (qasync), with
a QTimer heartbeat that measures the longest stall of the GUI thread. It prints:

* first full sync: seconds and entries/s (data usable), then the index merge that
  makes it fully searchable;
* the longest GUI stall during the sync;
* an incremental sync of 100 entries changed on the server;
* search p50 / p95 / max over 200 mixed queries (1-4 characters, phrases, pinyin
  initials, some with filters), through the database worker and inside the engine;
* peak RSS of the client process and the cache's size on disk.

A figure is printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import resource
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gen_knowledge  # noqa: E402  (a sibling script)

DEMO_PASSWORD = "bangban-demo"


@dataclass
class GcWatch:
    """The longest pause of Python's cyclic garbage collector (it holds the GIL, so
    every thread, the GUI's included, waits for it)."""

    worst_ms: float = 0.0
    collections: int = 0
    _started: float = 0.0

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def reset(self) -> None:
        self.worst_ms = 0.0
        self.collections = 0

    def _callback(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.collections += 1
            self.worst_ms = max(self.worst_ms, (time.perf_counter() - self._started) * 1000)


@dataclass
class Heartbeat:
    """A QTimer ticking every ``interval_ms``; the longest gap between ticks, less the
    interval, is how long the GUI thread could not run."""

    interval_ms: int = 5
    worst_ms: float = 0.0
    _last: float = 0.0
    gaps: list[float] = field(default_factory=list)

    def start(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(self.interval_ms)
        self.timer.timeout.connect(self._tick)
        self._last = time.perf_counter()
        self.timer.start()

    def reset(self) -> None:
        self.worst_ms = 0.0
        self._last = time.perf_counter()

    def _tick(self) -> None:
        now = time.perf_counter()
        stall = (now - self._last) * 1000 - self.interval_ms
        self.worst_ms = max(self.worst_ms, stall)
        self._last = now

    def stop(self) -> None:
        self.timer.stop()


kinds_of: list[str] = []
"""The kind of each query of the last ``build_queries`` (for the breakdown)."""

QUERY_LABELS = {
    "one": "1 character",
    "two": "2 characters",
    "common": "very common pieces",
    "three": "3-4 characters",
    "phrase": "two words",
    "pinyin": "pinyin initials",
    "sentence": "typed sentences",
}


def build_queries(n: int = 200, seed: int = 7) -> list[tuple[str, dict[str, str]]]:
    """Mixed queries as staff type them: 1-4 characters, very common pieces,
    phrases of two words, pinyin initials, sentences, and some with a filter."""
    rng = random.Random(seed)
    subjects = [t.subject for t in gen_knowledge.TOPICS]
    actions = sorted({a for t in gen_knowledge.TOPICS for a in t.actions})
    singles = list("社保证卡费户医税婚残退办申金贷险")
    twos = ["社保", "户口", "医保", "低保", "退休", "补办", "发票", "签注", "到账", "结婚"]
    common = ["办理", "申请", "材料", "窗口", "工作", "需要"]
    pinyin = ["gjj", "sb", "sbk", "yyzz", "jzz", "ydjy", "db", "tx", "jhdj", "gs", "ylbx"]
    sentences = ["社保卡丢了怎么补办", "公积金提取需要什么材料", "灵活就业人员社保补缴怎么办理"]
    departments = sorted({t.department for t in gen_knowledge.TOPICS})
    out: list[tuple[str, dict[str, str]]] = []
    kinds_of.clear()
    kinds = ["one", "two", "common", "three", "phrase", "pinyin", "sentence"]
    weights = [15, 25, 10, 25, 10, 12, 3]
    for _ in range(n):
        kind = rng.choices(kinds, weights)[0]
        if kind == "one":
            text = rng.choice(singles)
        elif kind == "two":
            text = rng.choice(twos)
        elif kind == "common":
            text = rng.choice(common)
        elif kind == "three":
            word = rng.choice(subjects)
            size = rng.choice((3, 4))
            start = rng.randint(0, max(0, len(word) - size))
            text = word[start : start + size]
        elif kind == "phrase":
            text = f"{rng.choice(subjects)} {rng.choice(actions)}"
        elif kind == "pinyin":
            text = rng.choice(pinyin)
        else:
            text = rng.choice(sentences)
        filters: dict[str, str] = {}
        if rng.random() < 0.15:
            filters["department"] = rng.choice(departments)
        out.append((text, filters))
        kinds_of.append(kind)
    return out


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _cache_size(path: Path) -> tuple[float, list[tuple[str, float]]]:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            rows = conn.execute(
                "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8"
            ).fetchall()
        except sqlite3.Error:
            rows = []
    finally:
        conn.close()
    total = sum(
        Path(str(path) + suffix).stat().st_size
        for suffix in ("", "-wal", "-shm")
        if Path(str(path) + suffix).exists()
    )
    return total / 1e6, [(name, size / 1e6) for name, size in rows]


def _change_entries(database_url: str, count: int, seed: int) -> list[str]:
    """Edit ``count`` entries on the server, as an administrator would."""
    from sqlalchemy import func, select

    from server import models as m
    from server.db import make_engine, session_factory
    from server.serialize import knowledge_entry
    from server.services import catalog

    engine = make_engine(database_url)
    rng = random.Random(seed)
    changed: list[str] = []
    try:
        with session_factory(engine).begin() as db:
            total = db.scalar(select(func.count()).select_from(m.KnowledgeEntry)) or 0
            offsets = rng.sample(range(int(total)), count)
            for offset in offsets:
                row = db.scalars(
                    select(m.KnowledgeEntry).order_by(m.KnowledgeEntry.id).offset(offset).limit(1)
                ).one()
                data = knowledge_entry(row)
                data["answer"] = data["answer"] + f"\n（{time.strftime('%H:%M:%S')} 更新）"
                catalog.upsert_knowledge(db, data, bump_version=True)
                changed.append(row.id)
    finally:
        engine.dispose()
    return changed


def _change_entries_elsewhere(database_url: str, count: int, seed: int) -> list[str]:
    """``_change_entries`` in a child process: the server's modules must not load into
    the client's process, whose memory and garbage collections are measured."""
    import json
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--change", database_url, str(count), str(seed)],
        check=True,
        capture_output=True,
        text=True,
        cwd=str(ROOT),
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


async def run_client(args: argparse.Namespace, url: str, database_url: str) -> None:

    from core.localstore.db import open_cache
    from core.localstore.store import LocalStore
    from core.search import KnowledgeSearch
    from core.search import index as search_index
    from core.settings import ClientSettings
    from sync.account import Account
    from sync.client import ApiClient
    from sync.connectivity import ConnState
    from ui.sync_controller import SyncController
    from ui.worker import Workers

    workers = Workers()
    heartbeat = Heartbeat()
    heartbeat.start()
    collector = GcWatch()
    collector.start()
    cache_dir = args.workdir / "client"
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache_path = cache_dir / "cache.sqlite3"
    api = ApiClient(url)
    login = await workers.on_net(api.login, "agent", DEMO_PASSWORD)
    cache = await workers.on_db(open_cache, cache_path)
    store = LocalStore(cache.sessions)
    account = Account(url, login.user, api, cache, store)
    settings = ClientSettings()
    controller = SyncController(
        account,
        workers,
        interval_seconds=3600,
        page_limit=args.page_limit or settings.page_limit,
    )
    done: asyncio.Future[None] | None = None

    settled = (ConnState.ONLINE, ConnState.DEGRADED, ConnState.OFFLINE)

    def on_state(state: Any) -> None:
        if done is not None and not done.done() and state.state in settled:
            done.set_result(None)

    controller.connectivity_changed.connect(on_state)
    # Where the time of the first sync goes: waiting for pages (server, network and
    # JSON, on the network pool) and applying them (on the database worker). The two
    # overlap: the engine fetches the next page while it applies this one.
    spent = {"fetch": 0.0, "apply": 0.0}

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        def wrapper(*a, **k):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    api.changes = timed("fetch", api.changes)  # type: ignore[method-assign]
    store.apply_page = timed("apply", store.apply_page)  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()

    async def sync_round() -> float:
        nonlocal done
        done = loop.create_future()
        started = time.perf_counter()
        controller.request_sync()
        await done
        elapsed = time.perf_counter() - started
        if controller.state.state is not ConnState.ONLINE:
            raise SystemExit(f"sync failed: {controller.state.last_error}")
        return elapsed

    print("\n== first full sync ==")
    print(f"objects tracked by the GC before the sync: {len(gc.get_objects()):,}")
    if args.gc_freeze:
        # What main.py does once the window is up: the objects of start-up live as
        # long as the process, so full collections need not walk them again.
        gc.freeze()
    heartbeat.reset()
    collector.reset()
    controller.start()  # the first round, exactly as the main window starts it
    done = loop.create_future()
    started = time.perf_counter()
    await done
    first = time.perf_counter() - started
    if controller.state.state is not ConnState.ONLINE:
        raise SystemExit(f"sync failed: {controller.state.last_error}")
    stall_sync = heartbeat.worst_ms
    gc_sync = collector.worst_ms
    count = await workers.on_db(store.knowledge_count)
    heartbeat.reset()
    merge_started = time.perf_counter()

    def merge_step() -> bool:
        with cache.sessions.begin() as db:
            return search_index.maintain(db)

    async def maintain() -> int:
        # As the app does after a sync round (ui.knowledge_backend.maintain).
        steps = 0
        while await workers.on_db(merge_step):
            steps += 1
        return steps

    what = f"{await maintain()} merges"
    merged = time.perf_counter() - merge_started
    stall_merge = heartbeat.worst_ms
    print(f"entries in cache          {count:>10,}")
    print(f"first full sync           {first:>10.1f} s   ({count / first:,.0f} entries/s)")
    print(f"index {what:<9}           {merged:>10.1f} s   (searchable at {first + merged:.1f} s)")
    print(
        f"  of which fetching pages {spent['fetch']:>8.1f} s, applying them "
        f"{spent['apply']:.1f} s (overlapping)"
    )
    print(f"longest GUI stall, sync   {stall_sync:>10.1f} ms   (longest GC pause {gc_sync:.1f} ms)")
    print(f"longest GUI stall, merge  {stall_merge:>10.1f} ms")

    print("\n== incremental sync ==")
    changed = await workers.on_net(_change_entries_elsewhere, database_url, 100, args.seed + 99)
    heartbeat.reset()
    incremental = await sync_round()
    await maintain()
    stall = heartbeat.worst_ms
    print(f"100 changed entries       {incremental * 1000:>10.0f} ms   (GUI stall {stall:.1f} ms)")
    sample = await workers.on_db(store.knowledge, changed[0])
    assert sample is not None and "更新" in sample.answer, "the change did not arrive"

    print("\n== search ==")
    queries = build_queries(200)
    kinds = list(kinds_of)
    await _search_pass(
        workers, KnowledgeSearch(cache.sessions, synonyms=False), queries, kinds, collector
    )

    # The editors' synonyms (同义词与俗称) in the cache, as a sync brings them, and the
    # callers' sentences of bench/sentence_queries.py among the queries.
    from sentence_queries import SENTENCES

    from server.services.knowledge_edit import DEMO_SYNONYMS

    synonyms = {"id": "all", "groups": DEMO_SYNONYMS}
    change = {"kind": "synonyms", "id": "all", "deleted": False, "data": synonyms}
    await workers.on_db(lambda: store.apply_page([change], store.cursor()))
    with_synonyms = queries + [(s, {}) for s, _answers in SENTENCES]
    kinds = kinds + ["caller"] * len(SENTENCES)
    print("-- with synonyms on, and callers' sentences --")
    await _search_pass(workers, KnowledgeSearch(cache.sessions), with_synonyms, kinds, collector)

    controller.stop()
    heartbeat.stop()
    await controller.wait_idle()
    controller.deleteLater()
    heartbeat.timer.deleteLater()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    api.close()
    cache.engine.dispose()
    workers.shutdown()
    size, parts = _cache_size(cache_path)
    print("\n== footprint ==")
    print(f"peak RSS of the client    {rss:>10.0f} MB")
    print(f"cache on disk             {size:>10.0f} MB")
    for name, mb in parts:
        print(f"  {name:<28} {mb:8.1f} MB")


async def _search_pass(
    workers: Any,
    search: Any,
    queries: list[tuple[str, dict[str, str]]],
    kinds: list[str],
    collector: GcWatch,
) -> None:
    """Run every query through the database worker and print the percentiles."""
    from datetime import date

    from core.search.engine import SearchFilters

    today = date.today()
    for text, _f in queries[:20]:  # warm the page cache as a person's first searches do
        await workers.on_db(search.search, text)
    collector.reset()
    round_trips: list[float] = []
    inside: list[float] = []
    slowest: list[tuple[float, str]] = []
    for text, filters in queries:
        started = time.perf_counter()
        result = await workers.on_db(
            lambda t=text, f=filters: search.search(t, SearchFilters(**f), limit=50, today=today)
        )
        took = (time.perf_counter() - started) * 1000
        round_trips.append(took)
        inside.append(result.elapsed_ms)
        slowest.append((took, f"{text} {filters or ''} → {result.total}"))
    for label, values in (("via DB worker", round_trips), ("inside engine", inside)):
        print(
            f"search {label:<18} p50 {_percentile(values, 0.5):5.1f} ms   "
            f"p95 {_percentile(values, 0.95):5.1f} ms   max {max(values):5.1f} ms"
        )
    labels = QUERY_LABELS | {"caller": "callers' sentences"}
    for kind, label in labels.items():
        values = [t for t, k in zip(round_trips, kinds, strict=True) if k == kind]
        if values:
            print(
                f"  {label:<22} {len(values):>3} queries   p50 {_percentile(values, 0.5):5.1f}"
                f"   p95 {_percentile(values, 0.95):5.1f}   max {max(values):5.1f} ms"
            )
    filtered = [t for t, (_q, f) in zip(round_trips, queries, strict=True) if f]
    if filtered:
        print(
            f"  {'with a filter':<22} {len(filtered):>3} queries   "
            f"p50 {_percentile(filtered, 0.5):5.1f}   p95 {_percentile(filtered, 0.95):5.1f}"
            f"   max {max(filtered):5.1f} ms"
        )
    print(
        f"GC during the searches: {collector.collections} collections, "
        f"longest {collector.worst_ms:.1f} ms"
    )
    slowest.sort(reverse=True)
    print("slowest: " + "; ".join(f"{q} {t:.1f} ms" for t, q in slowest[:5]))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--change"]:
        import json

        url, count, seed = argv[1], int(argv[2]), int(argv[3])
        print(json.dumps(_change_entries(url, count, seed)))
        return 0
    parser = argparse.ArgumentParser(description="同步与检索性能测试")
    parser.add_argument("--entries", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bangban-bench"))
    parser.add_argument("--page-limit", type=int, default=0, help="默认取客户端设置")
    parser.add_argument("--fresh", action="store_true", help="重新生成服务器数据库")
    parser.add_argument(
        "--no-gc-freeze", dest="gc_freeze", action="store_false", help="不冻结启动时的对象"
    )
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    db_path = args.workdir / f"server-{args.entries}-{args.seed}.sqlite3"
    template = db_path.with_suffix(".template")
    if args.fresh or not template.exists():
        print(f"generating {args.entries:,} entries into a server database …")
        for stale in (template, db_path):
            stale.unlink(missing_ok=True)
        started = time.perf_counter()
        gen_knowledge.load_into_server(f"sqlite:///{template}", args.entries, args.seed)
        print(f"  generated in {time.perf_counter() - started:.1f} s")
    # Each run starts from the same server data (the incremental step edits it).
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    shutil.copy(template, db_path)
    database_url = f"sqlite:///{db_path}"

    import qasync
    from PySide6.QtWidgets import QApplication

    from sync.embedded import EmbeddedServer

    server = EmbeddedServer(db_path)
    server.start()
    try:
        server.wait_ready(timeout=120)
        pid = server.process.pid if server.process else "?"
        print(f"server on {server.url} (child process {pid})")
        app = QApplication.instance() or QApplication(sys.argv[:1])
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            loop.run_until_complete(run_client(args, server.url, database_url))
        # Let Qt delete its objects while the application still exists; collecting
        # them after it is gone crashes the interpreter on exit.
        app.processEvents()
        gc.collect()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
