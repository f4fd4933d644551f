"""The lead's rectification actions on a real cache file: the local effect and the
outbox row together, the rules checked before anything is queued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.localstore.db import open_cache
from core.localstore.store import LocalStore
from core.localstore.team_actions import TeamActionError, TeamActions

RECORD = {
    "id": "r1",
    "session_id": "s1",
    "team_id": "team-zx",
    "state": "open",
    "deadline": "2026-03-06",
    "deadline_provisional": False,
    "assignee_id": None,
    "summary": "询问失业金",
    "score": 2,
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    cache = open_cache(tmp_path / "cache.sqlite3")
    store = LocalStore(cache.sessions)
    store.apply_page([{"kind": "rectification", "id": "r1", "deleted": False, "data": RECORD}], 5)
    yield store
    cache.engine.dispose()


def test_assign_record_and_close_queue_one_mutation_each(store: LocalStore) -> None:
    actions = TeamActions(store)
    (rect,) = actions.rectifications()
    assert rect.state == "open" and not rect.pending
    first, changes = actions.assign("r1", 4, None)
    assert "rectification" in changes.kinds
    (rect,) = actions.rectifications()
    assert (rect.state, rect.assignee_id, rect.pending) == ("assigned", 4, True)
    actions.record("r1", {"verification": " 调取录音 "})
    actions.close("r1", {"verification": "调取录音", "action": "回访", "outcome": "认可"})
    queued = store.pending_mutations()
    assert [(q.kind, q.op) for q in queued] == [
        ("rectification", "assign"),
        ("rectification", "record"),
        ("rectification", "close"),
    ]
    assert queued[0].payload == {
        "rectification_id": "r1",
        "assignee_id": 4,
        "expected_assignee_id": None,
    }
    assert queued[1].payload["verification"] == "调取录音"
    assert actions.outcome(first).state == "queued"
    (rect,) = actions.rectifications()
    assert rect.is_closed and rect.outcome == "认可"
    with pytest.raises(TeamActionError, match="已办结"):
        actions.record("r1", {"outcome": "再改"})


def test_the_rules_are_checked_before_anything_is_queued(store: LocalStore) -> None:
    actions = TeamActions(store)
    with pytest.raises(TeamActionError, match="办结整改前请填写：整改措施、整改结果"):
        actions.close("r1", {"verification": "已核实"})
    with pytest.raises(TeamActionError, match="过长"):
        actions.record("r1", {"action": "长" * 2001})
    with pytest.raises(TeamActionError, match="请填写"):
        actions.record("r1", {"action": "  "})
    with pytest.raises(TeamActionError, match="同步后再试"):
        actions.assign("missing", 4, None)
    assert store.outbox_size() == 0
    (rect,) = actions.rectifications()
    assert rect.state == "open" and not rect.pending


def test_a_refused_action_is_told_with_its_reason(store: LocalStore) -> None:
    actions = TeamActions(store)
    mutation_id, _ = actions.assign("r1", 4, None)
    store.resolve_mutations(
        [
            {
                "mutation_id": mutation_id,
                "status": "rejected",
                "reason": "该整改的负责人已变更为 刘洋，分派未执行，请刷新后再试",
                "records": [
                    {"kind": "rectification", "id": "r1", "deleted": False, "data": RECORD}
                ],
            }
        ]
    )
    outcome = actions.outcome(mutation_id)
    assert outcome.state == "refused" and "刘洋" in outcome.reason
    (rect,) = actions.rectifications()
    assert rect.assignee_id is None and not rect.pending, "the server's record is back"
    assert actions.outcome("never-queued").state == "done"
