"""A client process for the crash tests: the real sync engine on a real cache file.

``python -m tests.sync.sync_child note-and-sync --url U --cache PATH --session ID``
writes a note (local commit), prints ``{"note_id", "mutation_id"}`` as one JSON line,
then syncs — the test kills it with SIGKILL while the push is in flight.

``python -m tests.sync.sync_child sync --url U --cache PATH`` syncs once and prints
the report as one JSON line.

The bearer token comes in ``BANGBAN_TEST_TOKEN`` (never on the command line).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from core.localstore.db import open_cache
from core.localstore.store import LocalStore
from sync.client import ApiClient
from sync.engine import SyncEngine
from sync.errors import SyncError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["note-and-sync", "sync"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--cache", required=True, type=Path)
    parser.add_argument("--session")
    parser.add_argument("--text", default="断网前写下的备注")
    args = parser.parse_args(argv)

    api = ApiClient(args.url, token=os.environ["BANGBAN_TEST_TOKEN"], timeout=(5.0, 60.0))
    cache = open_cache(args.cache)
    store = LocalStore(cache.sessions)
    engine = SyncEngine(api, store, page_limit=200)
    if args.mode == "note-and-sync":
        note_id, _ = store.add_note(args.session, args.text, None)
        (mutation,) = [m for m in store.pending_mutations() if m.target_id == note_id]
        print(json.dumps({"note_id": note_id, "mutation_id": mutation.mutation_id}), flush=True)
    try:
        report = engine.sync_blocking()
    except SyncError as exc:
        print(json.dumps({"error": exc.message}, ensure_ascii=False), flush=True)
        return 1
    print(
        json.dumps(
            {
                "pushed": report.pushed,
                "duplicates": report.duplicates,
                "rejected": report.rejected,
                "outbox": store.outbox_size(),
            },
            ensure_ascii=False,
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
