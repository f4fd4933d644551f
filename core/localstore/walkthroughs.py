"""Walkthrough scripts and runs in the local cache.

Pulled scripts (kind ``walkthrough``, one record per version) and runs (kind
``walkthrough_run``, parent = the session) live in the generic ``records`` table. A
local save writes the run record and its ``walkthrough_run`` / ``save`` outbox row in
one transaction, so a crash right after a save loses nothing: the next start shows the
same step and sends the save. Like :class:`core.localstore.store.LocalStore`, every
method runs on the database worker and returns plain values.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from core.localstore import models as lm
from core.localstore.changes import Changes
from core.localstore.store import enqueue_payload
from core.protocol import Op, RecordKind, WalkthroughRunSave
from core.walkthrough import RunState, WalkthroughError

SCRIPT_KIND = "walkthrough"
RUN_KIND = RecordKind.WALKTHROUGH_RUN
SAVE_OP = Op.SAVE

_RUN_NAMESPACE = uuid.UUID("6f1d5f6e-3c0b-4a53-9d0e-8b2f1f7c2a10")


def run_id_for(session_id: str, walkthrough_id: str) -> str:
    """The run of one script in one session has one id on every machine, so a run
    started offline on two machines is still one run on the server."""
    return str(uuid.uuid5(_RUN_NAMESPACE, f"{session_id}/{walkthrough_id}"))


@dataclass(frozen=True)
class WalkthroughInfo:
    """One published version of a script, as pulled.

    Attributes:
        key: ``<walkthrough_id>@<version>``.
        walkthrough_id: The script id.
        version: The version number.
        matter_code: The matter it guides.
        title: Its title.
        source: The YAML text.
        needs_review: Whether a cited knowledge entry changed since it was written.
        review_note: Which entries and steps to review.
        created_at: When it was published (ISO text as sent).
    """

    key: str
    walkthrough_id: str
    version: int
    matter_code: str
    title: str
    source: str
    needs_review: bool = False
    review_note: str = ""
    created_at: str = ""

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> WalkthroughInfo:
        return cls(
            key=str(data["id"]),
            walkthrough_id=str(data["walkthrough_id"]),
            version=int(data["version"]),
            matter_code=str(data.get("matter_code") or ""),
            title=str(data.get("title") or ""),
            source=str(data.get("source") or ""),
            needs_review=bool(data.get("needs_review")),
            review_note=str(data.get("review_note") or ""),
            created_at=str(data.get("created_at") or ""),
        )


@dataclass(frozen=True)
class SavedRun:
    """A session's run as the cache holds it.

    Attributes:
        run_id: The run's id.
        session_id: The session it belongs to.
        state: The run state (its ``version`` is the pinned script version).
        rev: Number of the last save; the next save is ``rev + 1``.
        saved_at: When it was last saved (ISO text).
        pending: Whether saves are still waiting in the outbox.
    """

    run_id: str
    session_id: str
    state: RunState
    rev: int
    saved_at: str
    pending: bool = False


class WalkthroughStore:
    """Scripts and runs in one cache. Not thread-safe by itself: call from one worker."""

    def __init__(self, sessions: sessionmaker[DbSession]) -> None:
        self._sessions = sessions

    # -- scripts --------------------------------------------------------------------

    def walkthroughs(self) -> list[WalkthroughInfo]:
        """Every version, ordered by title then version."""
        with self._sessions() as db:
            rows = db.scalars(select(lm.Record).where(lm.Record.kind == SCRIPT_KIND))
            infos = [_info(r.data) for r in rows]
        return sorted(
            (i for i in infos if i is not None),
            key=lambda i: (i.title, i.walkthrough_id, i.version),
        )

    def walkthrough(self, walkthrough_id: str, version: int) -> WalkthroughInfo | None:
        with self._sessions() as db:
            row = db.get(lm.Record, (SCRIPT_KIND, f"{walkthrough_id}@{version}"))
            return _info(row.data) if row is not None else None

    def latest_for_matter(self, matter_code: str) -> list[WalkthroughInfo]:
        """The latest version of each script for ``matter_code``, by title."""
        latest: dict[str, WalkthroughInfo] = {}
        for info in self.walkthroughs():
            if info.matter_code != matter_code:
                continue
            known = latest.get(info.walkthrough_id)
            if known is None or info.version > known.version:
                latest[info.walkthrough_id] = info
        return sorted(latest.values(), key=lambda i: (i.title, i.walkthrough_id))

    def knowledge_versions(self) -> dict[str, int]:
        """Knowledge entry id to version, for validating a script before an upload."""
        with self._sessions() as db:
            return {
                entry_id: int(version)
                for entry_id, version in db.execute(select(lm.Knowledge.id, lm.Knowledge.version))
            }

    def knowledge_titles(self, entry_ids: list[str]) -> dict[str, tuple[str, int]]:
        """Title and current version of each cited entry the cache has."""
        if not entry_ids:
            return {}
        with self._sessions() as db:
            rows = db.execute(
                select(lm.Knowledge.id, lm.Knowledge.title, lm.Knowledge.version).where(
                    lm.Knowledge.id.in_(entry_ids)
                )
            )
            return {entry_id: (title, int(version)) for entry_id, title, version in rows}

    # -- runs -----------------------------------------------------------------------

    def run_for_session(self, session_id: str) -> SavedRun | None:
        """The session's most recently saved run, or ``None``.

        A record that no longer reads (a newer state format, a damaged row) is skipped
        rather than raised, so the player can offer to start instead of failing.
        """
        with self._sessions() as db:
            rows = db.scalars(
                select(lm.Record).where(
                    lm.Record.kind == RUN_KIND, lm.Record.parent_id == session_id
                )
            ).all()
            pending = _pending_targets(db, [r.id for r in rows])
            runs = [run for r in rows if (run := _run(r.data, r.id in pending)) is not None]
        if not runs:
            return None
        return max(runs, key=lambda r: (r.saved_at, r.rev))

    def run(self, run_id: str) -> SavedRun | None:
        with self._sessions() as db:
            row = db.get(lm.Record, (RUN_KIND, run_id))
            if row is None:
                return None
            return _run(row.data, bool(_pending_targets(db, [run_id])))

    def save_run(self, session_id: str, state: RunState, user_id: int | None = None) -> SavedRun:
        """Save a run's new state locally and queue it, in one transaction.

        Args:
            session_id: The session the run belongs to.
            state: The new state (from the engine).
            user_id: The agent saving it (kept in the record for display).

        Returns:
            The run as saved, with its new ``rev``.
        """
        run_id = run_id_for(session_id, state.walkthrough_id)
        saved_at = datetime.now().isoformat(timespec="microseconds")
        with self._sessions.begin() as db:
            row = db.get(lm.Record, (RUN_KIND, run_id))
            previous = int((row.data or {}).get("rev") or 0) if row is not None else 0
            rev = previous + 1
            state_dict = state.to_dict()
            data = {
                "id": run_id,
                "session_id": session_id,
                "walkthrough_id": state.walkthrough_id,
                "version": state.version,
                "state": state_dict,
                "rev": rev,
                "saved_at": saved_at,
                "updated_at": saved_at,
                "updated_by": user_id,
            }
            if row is None:
                db.add(lm.Record(kind=RUN_KIND, id=run_id, parent_id=session_id, data=data))
            else:
                row.data = data
                row.parent_id = session_id
            enqueue_payload(
                db,
                WalkthroughRunSave(
                    run_id=run_id,
                    session_id=session_id,
                    walkthrough_id=state.walkthrough_id,
                    version=state.version,
                    rev=rev,
                    state=state_dict,
                ),
            )
        return SavedRun(run_id, session_id, state, rev, saved_at, pending=True)


def saved_changes(session_id: str) -> Changes:
    """What a local save touched, for the UI's refresh logic."""
    changes = Changes()
    changes.touch(RUN_KIND, session_id)
    return changes


def _pending_targets(db: DbSession, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return set(
        db.scalars(
            select(lm.Outbox.target_id).where(
                lm.Outbox.kind == RUN_KIND, lm.Outbox.target_id.in_(ids)
            )
        )
    )


def _info(data: dict[str, Any]) -> WalkthroughInfo | None:
    try:
        return WalkthroughInfo.from_wire(data)
    except (KeyError, TypeError, ValueError):
        return None


def _run(data: dict[str, Any], pending: bool) -> SavedRun | None:
    try:
        state = RunState.from_dict(data.get("state") or {})
        return SavedRun(
            run_id=str(data["id"]),
            session_id=str(data["session_id"]),
            state=state,
            rev=int(data.get("rev") or 0),
            saved_at=str(data.get("saved_at") or data.get("updated_at") or ""),
            pending=pending,
        )
    except (KeyError, TypeError, ValueError, WalkthroughError):
        return None
