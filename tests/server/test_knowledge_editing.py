"""Keeping the knowledge base (issue 15) against a live server, on SQLite and PostgreSQL:
drafts, review and publish with history, what an agent's real cache receives, stale
edits, two approvals at once, import with bad rows, retirement, feedback and synonyms."""

from __future__ import annotations

import io
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import requests
from sqlalchemy import func, select

from core.search.engine import KnowledgeSearch
from server import models as m
from tests.support import DEMO_PASSWORD, LiveServer
from tests.sync.conftest import make_client

API = "/api/v1"


class Http:
    """A signed-in ``requests`` session (editor routes take PUT and multipart)."""

    def __init__(self, server: LiveServer, username: str) -> None:
        self.base = server.url.rstrip("/") + API
        self.s = requests.Session()
        r = self.s.post(
            self.base + "/auth/login", json={"username": username, "password": DEMO_PASSWORD}
        )
        r.raise_for_status()
        self.s.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def __getattr__(self, method: str) -> Any:
        def call(path: str, **kw: Any) -> requests.Response:
            return self.s.request(method.upper(), self.base + path, timeout=60, **kw)

        return call


def add_editor(server: LiveServer, username: str) -> None:
    """A second editor (the demo seed has one), with the demo password."""
    with server.db() as db:
        first = db.scalar(select(m.User).where(m.User.username == "editor"))
        db.add(
            m.User(
                username=username,
                display_name="第二编辑",
                password_hash=first.password_hash,
                role="editor",
                team_id=None,
                staff_number="",
                capacity=0,
                skills=[],
            )
        )
        db.commit()


ENTRY = {
    "title": "刚出生的宝宝去哪里登记户口（测试）",
    "answer": "新生儿落户须在出生后一个月内，携带出生医学证明、父母户口簿和身份证到派出所办理。",
    "category": "户籍管理/落户/新生儿",
    "kind": "日常咨询",
    "keywords": ["新生儿", "出生登记"],
    "department": "公安局",
    "service_type": "consult",
}


def test_draft_review_publish_edit_publish_history_and_agent_cache(
    live_server: LiveServer, tmp_path: Path
) -> None:
    add_editor(live_server, "editor2")
    ed, ed2, agent = (Http(live_server, u) for u in ("editor", "editor2", "agent"))
    assert agent.post("/knowledge", json=ENTRY).status_code == 403

    client = make_client(live_server.url, tmp_path / "agent.sqlite3")
    try:
        client.engine.sync_blocking()
        # Demo entries never approved are drafts under review, not in the agent's cache.
        queued = ed.get("/knowledge/drafts", params={"state": "review"}).json()
        assert len(queued) == 15
        assert all(client.store.knowledge(d["entry_id"]) is None for d in queued)

        made = ed.post("/knowledge", json=ENTRY | {"id": "kb-test-1", "reason": "新增"})
        assert made.status_code == 201, made.text
        draft = made.json()
        assert draft["state"] == "draft" and draft["base_version"] == 0
        client.engine.sync_blocking()
        assert client.store.knowledge("kb-test-1") is None  # a draft stays on the server

        assert ed.post("/knowledge/kb-test-1/submit").json()["state"] == "review"
        own = ed.post("/knowledge/kb-test-1/approve")
        assert own.status_code == 403 and own.json()["code"] == "own_edit"
        published = ed2.post("/knowledge/kb-test-1/approve").json()
        assert published["version"] == 1
        client.engine.sync_blocking()
        cached = client.store.knowledge("kb-test-1")
        assert cached is not None and cached.version == 1 and "一个月内" in cached.answer

        # An edit: the agent keeps seeing version 1 until the edit is approved.
        changed = ENTRY | {"answer": ENTRY["answer"] + "也可在网上申请。", "reason": "增加网办"}
        edit = ed2.put("/knowledge/kb-test-1", json=changed | {"base_version": 1})
        assert edit.status_code == 200, edit.text
        ed2.post("/knowledge/kb-test-1/submit")
        client.engine.sync_blocking()
        assert "网上" not in client.store.knowledge("kb-test-1").answer  # type: ignore[union-attr]
        back = ed.post("/knowledge/kb-test-1/return", json={"reason": "请写明网址"})
        assert back.json()["state"] == "returned"
        again = ed2.put(
            "/knowledge/kb-test-1",
            json=changed | {"base_version": 1, "draft_rev": back.json()["rev"]},
        )
        assert again.status_code == 200, again.text
        ed2.post("/knowledge/kb-test-1/submit")
        assert ed.post("/knowledge/kb-test-1/approve").json()["version"] == 2
        client.engine.sync_blocking()
        cached = client.store.knowledge("kb-test-1")
        assert cached is not None and cached.version == 2 and "网上" in cached.answer

        history = agent.get("/knowledge/kb-test-1/history").json()
        assert [(h["version"], h["reason"], h["published_by"]) for h in history] == [
            (2, "增加网办", "周敏"),
            (1, "新增", "第二编辑"),
        ]
        old = agent.get("/knowledge/kb-test-1/history/1").json()
        assert "网上" not in old["data"]["answer"] and old["data"]["title"] == ENTRY["title"]
    finally:
        client.close()


def test_a_stale_base_version_is_refused_with_who_changed_it(live_server: LiveServer) -> None:
    add_editor(live_server, "editor2")
    ed, ed2, admin = (Http(live_server, u) for u in ("editor", "editor2", "admin"))
    entry = ed.get("/knowledge/kb-ga-001/history").json()[0]
    base = entry["version"]
    full = ed.get(f"/knowledge/kb-ga-001/history/{base}").json()["data"]
    ed.put("/knowledge/kb-ga-001", json=full | {"answer": "甲的修改", "base_version": base})
    ed.post("/knowledge/kb-ga-001/submit")
    admin.post("/knowledge/kb-ga-001/approve")
    stale = ed2.put(
        "/knowledge/kb-ga-001", json=full | {"answer": "乙的修改", "base_version": base}
    )
    assert stale.status_code == 409
    body = stale.json()
    assert body["code"] == "stale_version" and "许文博" in body["detail"]
    assert f"第 {base + 1} 版" in body["detail"]
    # Two editors on one draft: the second must have seen the first's save.
    first = ed.put(
        "/knowledge/kb-ga-001", json=full | {"answer": "甲再改", "base_version": base + 1}
    )
    clash = ed2.put(
        "/knowledge/kb-ga-001", json=full | {"answer": "乙再改", "base_version": base + 1}
    )
    assert clash.status_code == 409 and clash.json()["code"] == "stale_draft"
    assert "周敏" in clash.json()["detail"]
    ok = ed2.put(
        "/knowledge/kb-ga-001",
        json=full
        | {"answer": "乙再改", "base_version": base + 1, "draft_rev": first.json()["rev"]},
    )
    assert ok.status_code == 200 and ok.json()["rev"] == 2


def test_two_reviewers_approving_at_once_publish_once(live_server: LiveServer) -> None:
    for name in ("editor2", "editor3"):
        add_editor(live_server, name)
    ed = Http(live_server, "editor")
    reviewers = [Http(live_server, u) for u in ("editor2", "editor3", "admin")]
    for trial in range(5):
        entry_id = f"kb-race-{trial}"
        ed.post("/knowledge", json=ENTRY | {"id": entry_id, "title": f"并发审核{trial}"})
        ed.post(f"/knowledge/{entry_id}/submit")
        barrier = threading.Barrier(len(reviewers))
        codes: list[int] = []

        def approve(
            http: Http, entry_id: str = entry_id, barrier: Any = barrier, codes: Any = codes
        ) -> None:
            barrier.wait()
            codes.append(http.post(f"/knowledge/{entry_id}/approve").status_code)

        threads = [threading.Thread(target=approve, args=(r,)) for r in reviewers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # One publishes; the others find it under review no more (409) or no open draft (404).
        assert codes.count(200) == 1 and set(codes) <= {200, 404, 409}, codes
        with live_server.db() as db:
            versions = db.scalar(
                select(func.count())
                .select_from(m.KnowledgeVersion)
                .where(m.KnowledgeVersion.entry_id == entry_id)
            )
            assert versions == 1
            assert db.get(m.KnowledgeEntry, entry_id).version == 1


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_import_names_bad_rows_and_imports_only_good_rows_after_confirmation(
    live_server: LiveServer,
) -> None:
    ed = Http(live_server, "editor")
    template = ed.get("/knowledge/import-template", params={"format": "csv"})
    assert template.content.startswith(b"\xef\xbb\xbf")
    header = template.content.decode("utf-8-sig").splitlines()[0]
    lines = [
        header,
        "导入甲,答复甲,,,,,,,,,,2026-01-01,,",  # row 2: good
        ",没有标题的答复,,,,,,,,,,,,",  # row 3: missing title
        "导入乙,答复乙,,,,,,,,,,明年春天,,",  # row 4: not a date
        "导入甲,重复的标题,,,,,,,,,,,,",  # row 5: duplicate within the file
        "外地户口在江宁怎么办居住证？,与知识库重名,,,,,,,,,,,,",  # row 6: duplicate of the base
        "导入丙,答复丙，含“引号”,,,,社保，医保,,,,,,,",  # row 7: good
    ]
    gb = ("\r\n".join(lines) + "\r\n").encode("gb18030")
    files = {"file": ("旧系统导出.csv", gb, "text/csv")}
    dry = ed.post("/knowledge/import", params={"dry_run": "true"}, files=files).json()
    assert dry["total"] == 6 and dry["good"] == 2 and dry["bad_rows"] == [3, 4, 5, 6]
    where = {(p["row"], p["column"]) for p in dry["problems"]}
    assert where == {(3, "标题"), (4, "生效日期"), (5, "标题"), (6, "标题")}
    assert "第 2 行" in next(p["message"] for p in dry["problems"] if p["row"] == 5)
    with live_server.db() as db:
        assert db.scalar(select(func.count()).select_from(m.KnowledgeDraft)) == 15  # nothing yet

    done = ed.post("/knowledge/import", params={"dry_run": "false"}, files=files).json()
    assert done["drafts"] == 2 and done["bad_rows"] == [3, 4, 5, 6]
    titles = {d["data"]["title"] for d in ed.get("/knowledge/drafts").json()}
    assert {"导入甲", "导入丙"} <= titles and "导入乙" not in titles
    kw = next(d for d in ed.get("/knowledge/drafts").json() if d["data"]["title"] == "导入丙")
    assert kw["data"]["keywords"] == ["社保", "医保"]

    # XLSX and JSON Lines, by the same rules; only admins may publish at once.
    sheet = _xlsx([header.split(","), ["表格一", "答复", *[""] * 12], ["", "缺标题", *[""] * 12]])
    xfiles = {"file": ("k.xlsx", sheet, "application/octet-stream")}
    assert ed.post("/knowledge/import", params={"publish": "true"}, files=xfiles).status_code == 403
    admin = Http(live_server, "admin")
    res = admin.post(
        "/knowledge/import", params={"dry_run": "false", "publish": "true"}, files=xfiles
    ).json()
    assert res["published"] == 1 and res["bad_rows"] == [3]
    jsonl = "\n".join(
        json.dumps(x, ensure_ascii=False)
        for x in ({"标题": "行一", "答复内容": "甲"}, {"title": ""})
    )
    jres = ed.post(
        "/knowledge/import", files={"file": ("k.jsonl", jsonl.encode(), "application/json")}
    ).json()
    assert jres["good"] == 1 and jres["bad_rows"] == [2]
    exported = admin.get("/knowledge/export", params={"format": "xlsx", "q": "表格一"})
    book = openpyxl.load_workbook(io.BytesIO(exported.content), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:2] == ("编号", "标题") and rows[1][1] == "表格一" and len(rows) == 2


def test_a_retired_entry_leaves_the_agents_cache_and_search(
    live_server: LiveServer, tmp_path: Path
) -> None:
    client = make_client(live_server.url, tmp_path / "agent.sqlite3")
    try:
        client.engine.sync_blocking()
        search = KnowledgeSearch(client.cache.sessions)
        assert any(h.entry.id == "kb-ga-001" for h in search.search("居住证").hits)
        ed = Http(live_server, "editor")
        stale = ed.post("/knowledge/kb-ga-001/retire", json={"reason": "x", "base_version": 99})
        assert stale.status_code == 409
        gone = ed.post("/knowledge/kb-ga-001/retire", json={"reason": "政策已废止"})
        assert gone.status_code == 200, gone.text
        client.engine.sync_blocking()
        assert client.store.knowledge("kb-ga-001") is None
        assert not any(h.entry.id == "kb-ga-001" for h in search.search("居住证").hits)
        history = ed.get("/knowledge/kb-ga-001/history").json()
        assert history[0]["action"] == "retire" and history[0]["reason"] == "政策已废止"
        refused = ed.put("/knowledge/kb-ga-001", json=ENTRY | {"base_version": 0})
        assert refused.status_code == 409 and "停用" in refused.json()["detail"]
    finally:
        client.close()


def test_synonyms_reach_the_cache_and_expand_search(
    live_server: LiveServer, tmp_path: Path
) -> None:
    ed = Http(live_server, "editor")
    assert Http(live_server, "agent").get("/synonyms").status_code == 403
    groups = ed.get("/synonyms").json()["groups"]
    assert ["上户口", "落户", "户口登记", "报户口"] in groups
    put = ed.put("/synonyms", json={"groups": [*groups, ["迁户口", "户口迁移"], ["只有一个"]]})
    assert put.json()["groups"][-1] == ["迁户口", "户口迁移"]
    client = make_client(live_server.url, tmp_path / "agent.sqlite3")
    try:
        client.engine.sync_blocking()
        cached = client.store.records("synonyms")
        assert cached and ["迁户口", "户口迁移"] in cached[0]["groups"]
        result = KnowledgeSearch(client.cache.sessions).search("上户口", limit=50)
        # Found only through the synonym: 上户口 is nowhere in these entries.
        only_by_synonym = [
            h
            for h in result.hits
            if "落户" in h.entry.title
            and "上户口" not in h.entry.title + "".join(h.entry.keywords) + h.entry.answer
        ]
        assert only_by_synonym
        assert "落户" in result.expansions.get("上户口", ())
    finally:
        client.close()


def test_resolved_feedback_reaches_the_reporter(live_server: LiveServer, tmp_path: Path) -> None:
    client = make_client(live_server.url, tmp_path / "agent.sqlite3")
    try:
        feedback_id = str(uuid.uuid4())
        results = client.api.push(
            [
                {
                    "mutation_id": str(uuid.uuid4()),
                    "kind": "knowledge_feedback",
                    "op": "create",
                    "target_id": feedback_id,
                    "payload": {
                        "feedback_id": feedback_id,
                        "entry_id": "kb-ga-001",
                        "kind": "correction",
                        "text": "材料清单缺少照片要求",
                    },
                }
            ]
        )
        assert results[0]["status"] == "applied", results
        client.engine.sync_blocking()
        after = client.api.events(-1, 0)["last"]
        ed = Http(live_server, "editor")
        queue = ed.get("/knowledge/feedback").json()
        assert [f["id"] for f in queue] == [feedback_id]
        no_note = ed.post(
            f"/knowledge/feedback/{feedback_id}/resolve", json={"resolution": "rejected"}
        )
        assert no_note.status_code == 422
        done = ed.post(
            f"/knowledge/feedback/{feedback_id}/resolve",
            json={"resolution": "accepted", "entry_id": "kb-ga-001", "note": "已补充"},
        )
        assert done.status_code == 200 and done.json()["resolved_entry_id"] == "kb-ga-001"
        again = ed.post(
            f"/knowledge/feedback/{feedback_id}/resolve",
            json={"resolution": "rejected", "note": "重复"},
        )
        assert again.status_code == 409
        events = client.api.events(after, 5)["events"]
        told = [e for e in events if e["kind"] == "knowledge_feedback"]
        assert told and told[0]["payload"]["resolution"] == "accepted"
        client.engine.sync_blocking()
        mine = [r for r in client.store.records("knowledge_feedback") if r["id"] == feedback_id]
        assert (
            mine and mine[0]["resolution"] == "accepted" and mine[0]["resolution_note"] == "已补充"
        )
        # Another agent's cache does not get it.
        other = make_client(live_server.url, tmp_path / "other.sqlite3", username="wangfang")
        try:
            other.engine.sync_blocking()
            assert not other.store.records("knowledge_feedback")
        finally:
            other.close()
    finally:
        client.close()


@pytest.mark.parametrize("days", [30])
def test_expiry_lists_for_editors(live_server: LiveServer, days: int) -> None:
    ed = Http(live_server, "editor")
    soon, expired = (
        ed.get("/knowledge/expiring", params={"days": days}),
        ed.get("/knowledge/expired"),
    )
    assert soon.status_code == 200 and expired.status_code == 200
    with live_server.db() as db:
        from datetime import date

        past = db.scalar(
            select(func.count())
            .select_from(m.KnowledgeEntry)
            .where(m.KnowledgeEntry.expiry_date < date.today())
        )
    assert len(expired.json()) == past
    assert Http(live_server, "agent").get("/knowledge/expired").status_code == 403


def test_walkthroughs_citing_a_changed_or_retired_entry_are_flagged(
    live_server: LiveServer,
) -> None:
    with live_server.db() as db:
        rows = db.scalars(
            select(m.Walkthrough).where(m.Walkthrough.source.contains("kb-ga-009"))
        ).all()
        assert rows and not any(r.needs_review for r in rows)
    add_editor(live_server, "editor2")
    ed, ed2 = Http(live_server, "editor"), Http(live_server, "editor2")
    base = ed.get("/knowledge/kb-ga-009/history").json()[0]["version"]
    full = ed.get(f"/knowledge/kb-ga-009/history/{base}").json()["data"]
    saved = ed.put("/knowledge/kb-ga-009", json=full | {"answer": "新答复", "base_version": base})
    assert saved.status_code == 200, saved.text
    ed.post("/knowledge/kb-ga-009/submit")
    with live_server.db() as db:  # a draft changes nothing yet
        drafted = db.scalars(
            select(m.Walkthrough).where(m.Walkthrough.source.contains("kb-ga-009"))
        ).all()
        assert drafted and not any(r.needs_review for r in drafted)
    assert ed2.post("/knowledge/kb-ga-009/approve").status_code == 200
    with live_server.db() as db:
        cited = db.scalars(
            select(m.Walkthrough).where(m.Walkthrough.source.contains("kb-ga-009"))
        ).all()
        assert all(r.needs_review and f"第 {base + 1} 版" in r.review_note for r in cited)
        other = db.scalars(
            select(m.Walkthrough).where(m.Walkthrough.source.contains("kb-yb-005"))
        ).all()
        assert other
    assert ed.post("/knowledge/kb-yb-005/retire", json={"reason": "合并"}).status_code == 200
    with live_server.db() as db:
        gone = db.scalars(
            select(m.Walkthrough).where(m.Walkthrough.source.contains("kb-yb-005"))
        ).all()
        assert all(r.needs_review and "删除" in r.review_note for r in gone)


def test_a_matter_guide_goes_through_the_same_review(
    live_server: LiveServer, tmp_path: Path
) -> None:
    from server.serialize import matter_guide

    add_editor(live_server, "editor2")
    ed, ed2 = Http(live_server, "editor"), Http(live_server, "editor2")
    with live_server.db() as db:
        guide = matter_guide(db.get(m.MatterGuide, "GA-JZZ-SL"))
    base = guide.pop("version")
    guide.pop("code")
    client = make_client(live_server.url, tmp_path / "agent.sqlite3")
    try:
        client.engine.sync_blocking()
        saved = ed.put(
            "/matters/GA-JZZ-SL", json=guide | {"fee": "不收费（新）", "base_version": base}
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["record_kind"] == "matter_guide"
        stale = ed2.put("/matters/GA-JZZ-SL", json=guide | {"base_version": base - 1})
        assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
        ed.post("/matters/GA-JZZ-SL/submit")
        client.engine.sync_blocking()
        assert client.store.matter("GA-JZZ-SL").fee != "不收费（新）"  # type: ignore[union-attr]
        assert ed.post("/matters/GA-JZZ-SL/approve").status_code == 403  # own edit
        done = ed2.post("/matters/GA-JZZ-SL/approve")
        assert done.status_code == 200 and done.json()["version"] == base + 1
        client.engine.sync_blocking()
        cached = client.store.matter("GA-JZZ-SL")
        assert cached is not None and cached.fee == "不收费（新）" and cached.version == base + 1
        history = ed.get("/matters/GA-JZZ-SL/history").json()
        assert [(h["version"], h["published_by"]) for h in history] == [(base + 1, "第二编辑")]
        new = ed.post("/matters", json={"code": "TEST-NEW", "name": "测试新事项"})
        assert new.status_code == 201 and new.json()["base_version"] == 0
    finally:
        client.close()
