"""Time an import of N generated knowledge rows (XLSX) through the real route.

``python bench/knowledge_import_bench.py --rows 10000 [--database-url URL]`` starts the
server in-process on a fresh seeded SQLite file (or the given database), signs in as
the demo admin, and times the dry run and the import (drafts, then ``publish=true``).
A figure is printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def sheet(rows: int, tag: str) -> bytes:
    import openpyxl

    from core.knowledge_io import template_header

    book = openpyxl.Workbook(write_only=True)
    ws = book.create_sheet("导入")
    ws.append(template_header())
    for i in range(rows):
        ws.append(
            [
                f"批量导入条目{tag}{i:05d}：社保卡补办需要什么材料",
                "携带本人身份证到任一社保卡服务网点补办，也可在“江宁办事”App 线上申请。" * 3,
                "社会保障/社保卡/补换",
                "江宁市人力资源和社会保障局",
                "日常咨询",
                "社保卡，补卡，挂失",
                "市",
                "江宁市",
                "",
                "人社局",
                "consult",
                "2026-01-01",
                "",
                "江宁市社会保障卡管理办法",
            ]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def main() -> None:
    import requests

    from server.db import make_engine, migrate, session_factory
    from server.seed import DEMO_PASSWORD, seed_demo
    from tests.support import start_live_server

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/server.sqlite3"
        engine = make_engine(url)
        migrate(engine)
        with session_factory(engine)() as db:
            seed_demo(db)
        engine.dispose()
        server = start_live_server(url)
        try:
            base = server.url.rstrip("/") + "/api/v1"
            s = requests.Session()
            token = s.post(
                base + "/auth/login", json={"username": "admin", "password": DEMO_PASSWORD}
            ).json()["access_token"]
            s.headers["Authorization"] = f"Bearer {token}"
            for label, params, tag in (
                ("dry run", {"dry_run": "true"}, "a"),
                ("import as drafts", {"dry_run": "false"}, "a"),
                ("import and publish", {"dry_run": "false", "publish": "true"}, "b"),
            ):
                data = sheet(args.rows, tag)
                started = time.perf_counter()
                r = s.post(
                    base + "/knowledge/import",
                    params=params,
                    files={"file": ("bench.xlsx", data, "application/octet-stream")},
                    timeout=600,
                )
                took = time.perf_counter() - started
                body = r.json()
                print(
                    f"{label:<20} {args.rows} rows ({len(data) / 1e6:.1f} MB): {took:6.1f} s  "
                    f"status {r.status_code} good {body.get('good')} drafts {body.get('drafts')} "
                    f"published {body.get('published')}"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
