"""Running walkthroughs on the server: the ``walkthrough_run`` / ``save`` mutation and
the pull loader of kind ``walkthrough_run`` (visible with its session).

A save carries the whole :class:`core.walkthrough.RunState`, checked against the stored
script version with the same rules the client's engine uses. Saves of one run are
ordered by ``rev`` (the client adds one per save, continuing from the run it last
saw) and then by the time the client queued them, so a stale resend never moves a run
back to an older position: it is answered ``applied`` with the run as it stands.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from core.enums import SessionState
from core.walkthrough import OUTCOME_LABELS, RunState, WalkthroughError, build_notice, check_state
from server import models as m
from server.auth import CurrentUser
from server.changes import record
from server.services.mutations import Applied, Mutation, Rejected, handler
from server.services.pull import EXTRA_LOADERS
from server.services.sessions import add_event, audience_of, log_session
from server.services.walkthroughs import key_of, parse_source

KIND = "walkthrough_run"
MAX_RUN_ID = 64
# Keys kept next to the run state in the ``state`` JSON column (no schema change).
REV_KEY = "rev"
SAVED_AT_KEY = "saved_at"


def _local_naive(value: datetime) -> datetime:
    """Compare in the server's local time, as every other timestamp here is stored."""
    if value.tzinfo is not None:
        return value.astimezone().replace(tzinfo=None)
    return value


def _order_of(rev: int | None, saved_at: datetime | None) -> tuple[int, datetime]:
    return (rev or 0, saved_at or datetime.min)


def _stored_order(run: m.WalkthroughRun) -> tuple[int, datetime]:
    state = run.state or {}
    rev = state.get(REV_KEY)
    raw = state.get(SAVED_AT_KEY)
    try:
        saved_at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        saved_at = None
    return _order_of(rev if isinstance(rev, int) else None, saved_at or run.updated_at)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejected(f"导办进度格式不正确：{what}应为整数")
    return value


@handler(KIND, "save", target_kind=KIND)
def save_run(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """Store a run's new state; only the session's assignee may save."""
    p = mutation.payload
    run_id = str(p.get("run_id") or mutation.target_id or "")
    if not run_id or len(run_id) > MAX_RUN_ID:
        raise Rejected("导办进度缺少有效的记录编号")
    session = db.get(m.Session, str(p.get("session_id") or ""))
    if session is None:
        raise Rejected("该会话不存在，导办进度未能保存")
    if session.assignee_id != user.id:
        raise Rejected("只有该会话的承办人可以保存导办进度，您的进度未保存")
    if session.state == SessionState.CLOSED.value:
        raise Rejected("该会话已办结，导办进度未能保存")
    walkthrough_id = str(p.get("walkthrough_id") or "")
    version = _int(p.get("version"), "脚本版本")
    rev = p.get("rev")
    if rev is not None:
        rev = _int(rev, "保存序号")
    try:
        state = RunState.from_dict(p.get("state"))  # type: ignore[arg-type]
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
    saved_at = _local_naive(mutation.created_at) if mutation.created_at else now
    run = db.get(m.WalkthroughRun, run_id)
    was_completed = False
    if run is not None:
        if run.session_id != session.id:
            raise Rejected("导办记录属于另一个会话，未能保存")
        if (run.walkthrough_id, run.version) != (walkthrough_id, version):
            raise Rejected(
                f"该会话的导办已按第 {run.version} 版开始，会话期间不能改用第 {version} 版"
            )
        if _order_of(rev, saved_at) <= _stored_order(run):
            # A resend of an older save (or one that lost a race): keep the newer state.
            return Applied(records=[(KIND, run_id)])
        was_completed = bool((run.state or {}).get("completed"))
    actor = db.get(m.User, user.id)
    data = state.to_dict()
    data[REV_KEY] = rev
    data[SAVED_AT_KEY] = saved_at.isoformat()
    started = run is None
    if run is None:
        run = m.WalkthroughRun(
            id=run_id,
            session_id=session.id,
            walkthrough_id=walkthrough_id,
            version=version,
        )
        db.add(run)
    run.state = data
    run.updated_at = now
    run.updated_by = user.id
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
        records.append(("session", session.id))
    return Applied(records=records)


def serialize(row: m.WalkthroughRun) -> dict[str, Any]:
    """The wire shape of a run: the run state plus its save order."""
    state = dict(row.state or {})
    rev = state.pop(REV_KEY, None)
    saved_at = state.pop(SAVED_AT_KEY, None)
    return {
        "id": row.id,
        "session_id": row.session_id,
        "walkthrough_id": row.walkthrough_id,
        "version": row.version,
        "state": state,
        "rev": rev or 0,
        "saved_at": saved_at or row.updated_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "updated_by": row.updated_by,
    }


def _load(db: DbSession, ids: list[str]) -> dict[str, Any]:
    rows = db.scalars(select(m.WalkthroughRun).where(m.WalkthroughRun.id.in_(ids)))
    return {r.id: r for r in rows}


EXTRA_LOADERS[KIND] = (_load, serialize)
