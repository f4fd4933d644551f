"""Walkthrough scripts on the server: seeding, the admin import route, the review flag,
and ``walkthrough_run`` / ``save`` (who may save, and that saves never go back)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.localstore.walkthroughs import run_id_for
from core.walkthrough import RunState, answer, finish, start, tick
from core.walkthrough import load_text as parse_walkthrough
from server import models as m
from server.services import catalog
from sync.errors import Forbidden, Refused
from tests.support import LiveServer
from tests.walkthrough_support import (
    AGENT_SESSION,
    Client,
    demo_session_id,
    make_client,
    sample,
    with_version,
)

LHJY = "rs-lhjy-cb"


@pytest.fixture
def clients(live_server: LiveServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[Client] = []

    def client(username: str, name: str | None = None) -> Client:
        c = make_client(live_server.url, username, tmp_path / f"{name or username}.sqlite3")
        made.append(c)
        return c

    yield client
    for c in made:
        c.close()


def upload(client: Client, source: str, filename: str = "script.yaml") -> dict[str, Any]:
    return client.api.post("/admin/walkthroughs", {"source": source, "filename": filename})


def save_mutation(
    session_id: str,
    state: RunState,
    rev: int,
    *,
    created_at: datetime | None = None,
    mutation_id: str | None = None,
) -> dict[str, Any]:
    run_id = run_id_for(session_id, state.walkthrough_id)
    return {
        "mutation_id": mutation_id or str(uuid.uuid4()),
        "kind": "walkthrough_run",
        "op": "save",
        "target_id": run_id,
        "base_seq": None,
        "payload": {
            "run_id": run_id,
            "session_id": session_id,
            "walkthrough_id": state.walkthrough_id,
            "version": state.version,
            "rev": rev,
            "state": state.to_dict(),
        },
        "created_at": (created_at or datetime.now()).isoformat(),
    }


def test_the_samples_are_seeded_and_every_client_pulls_them(clients, live_server) -> None:  # type: ignore[no-untyped-def]
    agent = clients("agent")
    agent.sync()
    keys = {info.key for info in agent.scripts.walkthroughs()}
    assert len(keys) == 7 and f"{LHJY}@1" in keys
    [info] = agent.scripts.latest_for_matter("RS-LHJY-CB")
    assert info.title == "灵活就业人员参保登记导办" and not info.needs_review
    assert parse_walkthrough(info.source).id == LHJY
    # Seeding again changes nothing.
    from server.seed import seed_demo

    with live_server.db() as db:
        assert seed_demo(db)["walkthroughs"] == 0


def test_only_admins_may_import(clients) -> None:  # type: ignore[no-untyped-def]
    for username in ("agent", "lead"):
        with pytest.raises(Forbidden) as refused:
            upload(clients(username), with_version(sample("rs-lhjy-cb.yaml"), 2))
        assert "管理员" in refused.value.message


def test_an_invalid_script_is_refused_with_line_numbers(clients, live_server) -> None:  # type: ignore[no-untyped-def]
    admin = clients("admin")
    broken = with_version(sample("rs-lhjy-cb.yaml"), 2).replace("next: end_app", "next: end_ap")
    # The issue points at the option that branches to the missing step.
    line = broken.splitlines().index("        - key: app") + 1
    with pytest.raises(Refused) as refused:
        upload(admin, broken, "lhjy-v2.yaml")
    assert refused.value.status == 422 and refused.value.code == "invalid_walkthrough"
    assert f"第 {line} 行" in refused.value.message and "end_ap" in refused.value.message
    # A citation of an entry this server does not have is an error as well.
    unknown = with_version(sample("rs-lhjy-cb.yaml"), 2).replace("kb-rs-010", "kb-rs-999")
    with pytest.raises(Refused) as refused:
        upload(admin, unknown)
    assert "kb-rs-999" in refused.value.message and "不存在" in refused.value.message
    # Not newer than what is published: refused, naming the version line.
    with pytest.raises(Refused) as refused:
        upload(admin, sample("rs-lhjy-cb.yaml"))
    assert refused.value.status == 409 and "第 5 行" in refused.value.message
    with live_server.db() as db:
        versions = db.scalars(
            select(m.Walkthrough.version).where(m.Walkthrough.walkthrough_id == LHJY)
        ).all()
    assert versions == [1]


def test_a_new_version_is_published_and_pulled_by_another_client(clients, live_server) -> None:  # type: ignore[no-untyped-def]
    agent = clients("agent")
    agent.sync()
    admin = clients("admin")
    result = upload(admin, with_version(sample("rs-lhjy-cb.yaml"), 2, say_suffix="（第二版）"))
    assert result["id"] == f"{LHJY}@2" and result["version"] == 2
    assert result["warnings"] == []
    agent.sync()
    [latest] = agent.scripts.latest_for_matter("RS-LHJY-CB")
    assert latest.version == 2 and "（第二版）" in latest.source
    assert agent.scripts.walkthrough(LHJY, 1) is not None, "old versions stay for running sessions"
    with live_server.db() as db:
        audit = db.scalar(select(m.AuditLog).where(m.AuditLog.target_id == f"{LHJY}@2"))
        assert audit is not None and audit.action == "walkthrough.publish"


def test_a_knowledge_change_flags_the_citing_scripts_for_review(clients, live_server) -> None:  # type: ignore[no-untyped-def]
    agent = clients("agent")
    agent.sync()
    with live_server.db() as db:
        entry = db.get(m.KnowledgeEntry, "kb-rs-010")
        assert entry is not None and entry.version == 1
        data = {
            "id": entry.id,
            "title": entry.title,
            "answer": entry.answer + "\n（补贴标准已调整）",
            "category": entry.category,
            "version": 1,
        }
        catalog.upsert_knowledge(db, data, bump_version=True)
        db.commit()
    agent.sync()
    flagged = {i.walkthrough_id: i for i in agent.scripts.walkthroughs() if i.needs_review}
    assert set(flagged) == {LHJY}, "only the script that cites kb-rs-010 is flagged"
    note = flagged[LHJY].review_note
    assert "kb-rs-010" in note and "第 2 版" in note and "hardship" in note
    # The same entry changing again with the same note does not add it twice; an
    # admin who checked the steps clears the flag.
    admin = clients("admin")
    admin.api.post(f"/admin/walkthroughs/{LHJY}@1/reviewed")
    agent.sync()
    assert not any(i.needs_review for i in agent.scripts.walkthroughs())
    # Deleting a cited entry flags it again, naming the deletion.
    with live_server.db() as db:
        assert catalog.delete_knowledge(db, "kb-rs-007")
        db.commit()
    agent.sync()
    [info] = [i for i in agent.scripts.walkthroughs() if i.needs_review]
    assert info.walkthrough_id == LHJY and "kb-rs-007" in info.review_note
    assert "已被删除" in info.review_note


def test_only_the_assignee_may_save_a_run(clients, live_server) -> None:  # type: ignore[no-untyped-def]
    wt = parse_walkthrough(sample("rs-lhjy-cb.yaml"))
    state = start(wt)
    for username in ("wangfang", "lead"):
        other = clients(username)
        [result] = other.api.push([save_mutation(AGENT_SESSION, state, 1)])
        assert result["status"] == "rejected" and "承办人" in result["reason"]
    agent = clients("agent")
    [result] = agent.api.push([save_mutation(AGENT_SESSION, state, 1)])
    assert result["status"] == "applied"
    # A closed session takes no more saves.
    closed = demo_session_id("S007")
    wt_sbk = parse_walkthrough(sample("rs-sbk-bh.yaml"))
    [result] = agent.api.push([save_mutation(closed, start(wt_sbk), 1)])
    assert result["status"] == "rejected" and "办结" in result["reason"]
    # A state the script does not allow is refused with the engine's words.
    bad = RunState(wt.id, wt.version, ("intro", "hukou"), ("no",), {"unit_insured": "no"})
    [result] = agent.api.push([save_mutation(AGENT_SESSION, bad, 2)])
    assert result["status"] == "rejected" and "不符合脚本" in result["reason"]
    with live_server.db() as db:
        session = db.get(m.Session, AGENT_SESSION)
        kinds = [e.kind for e in session.events]
    assert kinds.count("walkthrough_started") == 1


def test_saves_never_go_back_and_the_timeline_records_start_and_finish(
    clients, live_server
) -> None:  # type: ignore[no-untyped-def]
    agent = clients("agent")
    wt = parse_walkthrough(sample("rs-lhjy-cb.yaml"))
    s1 = start(wt)
    s2 = answer(wt, s1, "no")
    s3 = answer(wt, s2, "ok")
    t0 = datetime.now()
    first = save_mutation(AGENT_SESSION, s1, 1, created_at=t0)
    results = agent.api.push(
        [
            first,
            save_mutation(AGENT_SESSION, s2, 2, created_at=t0 + timedelta(seconds=1)),
            save_mutation(AGENT_SESSION, s3, 3, created_at=t0 + timedelta(seconds=2)),
        ]
    )
    assert [r["status"] for r in results] == ["applied"] * 3
    run_id = run_id_for(AGENT_SESSION, LHJY)
    # A stale save sent again under a new mutation id (an old outbox copy) is
    # refused with a reason; the answer brings the newer run, which stays where it was.
    [stale] = agent.api.push(
        [save_mutation(AGENT_SESSION, s2, 2, created_at=t0 + timedelta(seconds=1))]
    )
    assert stale["status"] == "rejected" and "第 3 次保存" in stale["reason"]
    [record] = [r for r in stale["records"] if r["kind"] == "walkthrough_run"]
    assert record["data"]["state"]["position"] == "hukou" and record["data"]["rev"] == 3
    # The exact resend of the first save is a duplicate, applied once.
    [dup] = agent.api.push([first])
    assert dup["status"] == "duplicate"
    # Finishing records the outcome in the timeline.
    s = answer(wt, s3, "local")
    s = tick(wt, s, "id_card")
    s = answer(wt, advance_to_hardship(wt, s), "no")
    s = answer(wt, s, "app")
    s = finish(wt, s)
    [done] = agent.api.push([save_mutation(AGENT_SESSION, s, 9)])
    assert done["status"] == "applied"
    with live_server.db() as db:
        run = db.get(m.WalkthroughRun, run_id)
        assert run is not None and run.state["completed"] and run.state["rev"] == 9
        session = db.get(m.Session, AGENT_SESSION)
        events = {e.kind: e.detail for e in session.events}
    assert events["walkthrough_started"]["version"] == 1
    assert events["walkthrough_finished"]["outcome"] == "ready_to_submit"
    # The assignee's client pulls the run and the session's new timeline.
    agent.sync()
    saved = agent.scripts.run_for_session(AGENT_SESSION)
    assert saved is not None and saved.state == s and saved.rev == 9 and not saved.pending
    timeline = agent.store.session(AGENT_SESSION).timeline  # type: ignore[union-attr]
    assert [e["kind"] for e in timeline][-2:] == ["walkthrough_started", "walkthrough_finished"]


def advance_to_hardship(wt, state):  # type: ignore[no-untyped-def]
    from core.walkthrough import advance

    return advance(wt, state)


def test_a_run_follows_its_session_to_a_new_assignee(clients, live_server) -> None:  # type: ignore[no-untyped-def]
    agent = clients("agent")
    wt = parse_walkthrough(sample("rs-lhjy-cb.yaml"))
    agent.api.push([save_mutation(AGENT_SESSION, answer(wt, start(wt), "no"), 1)])
    wangfang = clients("wangfang")
    wangfang.sync()
    assert wangfang.scripts.run_for_session(AGENT_SESSION) is None
    with live_server.db() as db:
        from server.services.sessions import log_session, relog_children

        session = db.get(m.Session, AGENT_SESSION)
        new = db.scalar(select(m.User).where(m.User.username == "wangfang"))
        previous, session.assignee_id = session.assignee_id, new.id
        log_session(db, session, prev_assignee_id=previous)
        relog_children(db, session, prev_assignee_id=previous)
        db.commit()
    wangfang.sync()
    run = wangfang.scripts.run_for_session(AGENT_SESSION)
    assert run is not None and run.state.current == "age"


def test_a_version_citing_an_outdated_entry_is_published_flagged(clients, live_server) -> None:  # type: ignore[no-untyped-def]
    with live_server.db() as db:
        entry = db.get(m.KnowledgeEntry, "kb-rs-010")
        catalog.upsert_knowledge(
            db, {"id": entry.id, "title": entry.title, "answer": entry.answer}, bump_version=True
        )
        db.commit()
    admin = clients("admin")
    result = upload(admin, with_version(sample("rs-lhjy-cb.yaml"), 2))
    assert result["needs_review"] and "kb-rs-010" in result["review_note"]
    assert [w["code"] for w in result["warnings"]] == ["stale_knowledge"]
    assert result["warnings"][0]["line"] > 0
