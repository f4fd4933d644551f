"""Pulled rows never overwrite a record that still has unsent actions; the push's
answer brings the server's version once the last of them is answered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from core.entities import Session
from core.localstore.db import open_cache
from core.localstore.store import LocalStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    cache = open_cache(tmp_path / "cache.sqlite3")
    yield LocalStore(cache.sessions)
    cache.engine.dispose()


def server_note(note_id: str, text: str) -> dict[str, object]:
    return {
        "id": note_id,
        "session_id": "s-1",
        "author_id": 7,
        "author_name": "李明",
        "text": text,
        "created_at": "2026-03-02T09:30:00",
    }


def test_a_pulled_row_or_tombstone_leaves_a_queued_note_alone(store: LocalStore) -> None:
    note_id, _ = store.add_note("s-1", "本地写的备注", None)
    store.apply_page(
        [{"kind": "session_note", "id": note_id, "data": server_note(note_id, "旧")}], 5
    )
    store.apply_page([{"kind": "session_note", "id": note_id, "deleted": True, "data": None}], 6)
    assert store.cursor() == 6
    ((note, pending),) = store.notes("s-1")
    assert note.text == "本地写的备注" and pending is True
    # The answer brings the server's record and the note is confirmed.
    (queued,) = store.pending_mutations()
    record = {"kind": "session_note", "id": note_id, "deleted": False}
    record["data"] = server_note(note_id, "本地写的备注")
    store.resolve_mutations(
        [{"mutation_id": queued.mutation_id, "status": "duplicate", "records": [record]}]
    )
    ((note, pending),) = store.notes("s-1")
    assert pending is False and note.author_name == "李明"


def session(state: str) -> dict[str, object]:
    return Session(
        id="s-9",
        team_id="team-zx",
        state=state,
        service_type="consult",
        channel="hotline",
        created_at=datetime(2026, 3, 2, 9, 0),
        assignee_id=7,
    ).to_wire()


def test_the_answer_to_an_earlier_action_does_not_undo_a_later_queued_one(
    store: LocalStore,
) -> None:
    store.apply_page([{"kind": "session", "id": "s-9", "data": session("assigned")}], 1)
    first = store.enqueue("session", "transition", "s-9", {"to": "active"})
    second = store.enqueue("session", "transition", "s-9", {"to": "on_hold"})
    # A page pulled meanwhile says "assigned": the queued actions keep the local row.
    store.apply_page([{"kind": "session", "id": "s-9", "data": session("waiting")}], 2)
    assert store.session("s-9").state == "assigned"  # type: ignore[union-attr]
    record = {"kind": "session", "id": "s-9", "deleted": False, "data": session("active")}
    store.resolve_mutations([{"mutation_id": first, "status": "applied", "records": [record]}])
    assert store.session("s-9").state == "assigned"  # type: ignore[union-attr]
    record = {"kind": "session", "id": "s-9", "deleted": False, "data": session("on_hold")}
    store.resolve_mutations([{"mutation_id": second, "status": "applied", "records": [record]}])
    assert store.session("s-9").state == "on_hold"  # type: ignore[union-attr]
    assert store.outbox_size() == 0


def test_a_refused_note_is_removed_and_the_refusal_names_what_was_written(
    store: LocalStore,
) -> None:
    note_id, _ = store.add_note("s-1", "联系电话 13912345678，明天回电", None)
    (queued,) = store.pending_mutations()
    tombstone = {"kind": "session_note", "id": note_id, "deleted": True, "data": None}
    store.resolve_mutations(
        [
            {
                "mutation_id": queued.mutation_id,
                "status": "rejected",
                "reason": "该会话不存在，备注未能保存",
                "records": [tombstone],
            }
        ]
    )
    assert store.notes("s-1") == [] and store.outbox_size() == 0
    (problem,) = store.open_problems()
    assert problem.reason.startswith("该会话不存在，备注未能保存")
    assert "139****5678" in problem.reason and "13912345678" not in problem.reason
