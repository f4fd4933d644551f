"""Running walkthroughs on the server: the ``walkthrough_run`` / ``save`` mutation and
the pull loader of kind ``walkthrough_run`` (visible with its session).

A save carries the whole :class:`core.walkthrough.RunState`, checked against the stored
script version with the same rules the client's engine uses, and its ``rev``: one more
than the save it was based on. The write is a conditional UPDATE on the stored ``rev``
(``WHERE rev < :rev``, checked by its row count), so a save based on an older state
than the server's — another machine saved meanwhile, or two saves race — is refused
with a reason and never moves the run back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from core.enums import SessionState
from core.protocol import Op, RecordKind, WalkthroughRunSave
from core.walkthrough import OUTCOME_LABELS, RunState, WalkthroughError, build_notice, check_state
from server import models as m
from server.auth import CurrentUser
from server.changes import record
from server.services.mutations import Applied, Mutation, Rejected, handler
from server.services.pull import EXTRA_LOADERS
from server.services.sessions import add_event, audience_of, log_session
from server.services.walkthroughs import key_of, parse_source

KIND = RecordKind.WALKTHROUGH_RUN
# Keys kept next to the run state in the ``state`` JSON column (no schema change).
REV_KEY = "rev"
SAVED_AT_KEY = "saved_at"


def _stale(run_rev: int, rev: int) -> Rejected:
    return Rejected(
        f"导办进度已被更新的保存取代（服务器上为第 {run_rev} 次保存），"
        f"本次保存（第 {rev} 次）未执行，请刷新后查看"
    )


@handler(KIND, Op.SAVE, target_kind=KIND)
def save_run(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """Store a run's new state; only the session's assignee may save."""
    p: WalkthroughRunSave = mutation.payload
    run_id, walkthrough_id, version, rev = p.run_id, p.walkthrough_id, p.version, p.rev
    session = db.get(m.Session, p.session_id)
    if session is None:
        raise Rejected("该会话不存在，导办进度未能保存")
    if session.assignee_id != user.id:
        raise Rejected("只有该会话的承办人可以保存导办进度，您的进度未保存")
    if session.state == SessionState.CLOSED.value:
        raise Rejected("该会话已办结，导办进度未能保存")
    try:
        state = RunState.from_dict(p.state)
    except WalkthroughError as exc:
        raise Rejected(f"导办进度无法读取：{exc}") from exc
    if state.walkthrough_id != walkthrough_id or state.version != version:
        raise Rejected("导办进度与所标明的脚本版本不一致")
    script_row = db.get(m.Walkthrough, key_of(walkthrough_id, version))
    if script_row is None:
        raise Rejected(f"导办脚本 “{walkthrough_id}” 第 {version} 版在服务器上不存在")
    try:
        wt = parse_source(script_row.source)
        check_state(wt, state)
    except (WalkthroughError, ValueError) as exc:
        raise Rejected(f"导办进度不符合脚本：{exc}") from exc

    now = datetime.now()
    saved_at = mutation.created_at or now
    run = db.get(m.WalkthroughRun, run_id)
    was_completed = False
    if run is not None:
        if run.session_id != session.id:
            raise Rejected("导办记录属于另一个会话，未能保存")
        if (run.walkthrough_id, run.version) != (walkthrough_id, version):
            raise Rejected(
                f"该会话的导办已按第 {run.version} 版开始，会话期间不能改用第 {version} 版"
            )
        if rev <= run.rev:
            raise _stale(run.rev, rev)
        was_completed = bool((run.state or {}).get("completed"))
    actor = db.get(m.User, user.id)
    data = state.to_dict()
    data[REV_KEY] = rev
    data[SAVED_AT_KEY] = saved_at.isoformat()
    started = run is None
    if run is None:
        # A racing first save of the same run fails on the primary key (and is refused).
        run = m.WalkthroughRun(
            id=run_id,
            session_id=session.id,
            walkthrough_id=walkthrough_id,
            version=version,
            state=data,
            rev=rev,
            updated_at=now,
            updated_by=user.id,
        )
        db.add(run)
        db.flush()
    else:
        stored_rev = run.rev
        won = db.execute(
            update(m.WalkthroughRun)
            .where(m.WalkthroughRun.id == run_id, m.WalkthroughRun.rev < rev)
            .values(state=data, rev=rev, updated_at=now, updated_by=user.id)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not won:
            db.rollback()
            current = db.get(m.WalkthroughRun, run_id)
            raise _stale(current.rev if current is not None else stored_rev, rev)
        run.state, run.rev, run.updated_at, run.updated_by = data, rev, now, user.id
    timeline = False
    if started:
        add_event(
            db,
            session,
            "walkthrough_started",
            actor=actor,
            at=saved_at,
            summary=f"{wt.title}（第 {version} 版）",
            walkthrough_id=walkthrough_id,
            version=version,
        )
        timeline = True
    if state.completed and not was_completed:
        notice = build_notice(wt, state, caller_name=session.caller_name or None)
        outcome = notice.outcome or ""
        add_event(
            db,
            session,
            "walkthrough_finished",
            actor=actor,
            at=saved_at,
            summary=f"{wt.title}：{OUTCOME_LABELS.get(outcome, outcome)}",
            walkthrough_id=walkthrough_id,
            version=version,
            outcome=outcome,
            missing=[item.name for item in notice.missing],
        )
        timeline = True
    db.flush()
    record(db, KIND, run_id, audience=audience_of(session), now=now)
    records = [(KIND, run_id)]
    if timeline:
        log_session(db, session, now=now)
        records.append((RecordKind.SESSION, session.id))
    return Applied(records=records)


def serialize(row: m.WalkthroughRun) -> dict[str, Any]:
    """The wire shape of a run: the run state plus its save order."""
    state = dict(row.state or {})
    state.pop(REV_KEY, None)
    saved_at = state.pop(SAVED_AT_KEY, None)
    return {
        "id": row.id,
        "session_id": row.session_id,
        "walkthrough_id": row.walkthrough_id,
        "version": row.version,
        "state": state,
        "rev": row.rev or 0,
        "saved_at": saved_at or row.updated_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "updated_by": row.updated_by,
    }


def _load(db: DbSession, ids: list[str]) -> dict[str, Any]:
    rows = db.scalars(select(m.WalkthroughRun).where(m.WalkthroughRun.id.in_(ids)))
    return {r.id: r for r in rows}


EXTRA_LOADERS[KIND] = (_load, serialize)
