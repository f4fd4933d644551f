"""Mutation handlers of sessions (DESIGN.md §4-§5) and the caller's evaluation.

``session`` / create, transition, transfer, reassign, reveal and ``evaluation`` /
create. Every handler checks the move with :mod:`core.session_rules` (the rules the
client checked before it queued the action), writes a timeline event (who, when,
why), records change rows for everyone who saw the session before or sees it now,
and publishes live events in the same transaction. A move that is no longer legal
is refused with a reason in words taken from the session's own timeline.

Every state change is a compare-and-set on (state, assignee) at write time, so two
people acting on one session at once never both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as DbSession

from core.calendar import WorkCalendar, YearSchedule, escalation_deadline
from core.enums import EVALUATION_LABELS, Role, SessionState
from core.session_rules import (
    Action,
    RuleViolation,
    check_reassign,
    check_transfer,
    check_transition,
    clean_reveal_reason,
)
from core.session_timeline import ACTION_EVENTS, COMPLEXITY_LABELS, explain_refusal
from core.validation import normalize_phone, validate_new_session
from server import models as m
from server import serialize
from server.audit import record_audit
from server.auth import CurrentUser
from server.changes import Audience, record
from server.services.dispatch import dispatch_team, session_brief, setting
from server.services.events import publish
from server.services.mutations import Applied, Mutation, Rejected, handler
from server.services.sessions import add_event, audience_of, log_session, relog_children
from server.services.visibility import session_visible

S = SessionState
MAX_REASON = 500
MAX_SUMMARY = 2000
MAX_COMMENT = 1000
OFFLINE_GRACE = timedelta(minutes=2)
"""An action older than this when it arrives was taken offline; the timeline says so."""


# -- helpers ------------------------------------------------------------------------------


def work_calendar(db: DbSession) -> WorkCalendar:
    """The server's working-day calendar (editable by admins), or the built-in one."""
    rows = list(db.scalars(select(m.CalendarYear)))
    if not rows:
        return WorkCalendar.builtin()
    return WorkCalendar.from_schedules(
        YearSchedule.from_wire(
            {"year": r.year, "holidays": r.holidays, "workdays": r.workdays, "source": r.source}
        )
        for r in rows
    )


def _text(payload: dict[str, Any], key: str, limit: int, label: str) -> str:
    value = str(payload.get(key) or "").strip()
    if len(value) > limit:
        raise Rejected(f"{label}过长（最多 {limit} 字）")
    return value


def _int_or_none(value: Any, label: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Rejected(f"{label}无效") from None


def _acted_at(mutation: Mutation, now: datetime) -> datetime:
    """When the person acted: the client's time, never in the future."""
    at = mutation.created_at
    if at is None:
        return now
    if at.tzinfo is not None:
        at = at.astimezone().replace(tzinfo=None)
    return min(at, now)


def _offline_at(mutation: Mutation, now: datetime) -> str | None:
    at = _acted_at(mutation, now)
    return at.replace(microsecond=0).isoformat() if now - at > OFFLINE_GRACE else None


def _load(db: DbSession, mutation: Mutation) -> m.Session:
    session_id = str(mutation.payload.get("session_id") or mutation.target_id or "")
    if not session_id:
        raise Rejected("操作缺少会话编号")
    # FOR UPDATE on PostgreSQL serialises actions on one session; SQLite has one writer.
    session = db.get(m.Session, session_id, with_for_update=True)
    if session is None:
        raise Rejected("该会话不存在或已被删除")
    return session


def _author(db: DbSession, user: CurrentUser) -> m.User:
    row = db.get(m.User, user.id)
    if row is None:
        raise Rejected("您的账号已不存在")
    return row


def _has_notes(db: DbSession, session: m.Session, user_id: int) -> bool:
    count = db.scalar(
        select(func.count())
        .select_from(m.SessionNote)
        .where(m.SessionNote.session_id == session.id, m.SessionNote.author_id == user_id)
    )
    return bool(count)


def _refusal(
    db: DbSession, session: m.Session, user: CurrentUser, label: str, exc: RuleViolation
) -> Rejected:
    """A refusal whose reason tells what happened to the session meanwhile."""
    if exc.code in ("not_assignee", "illegal_state", "stale_assignee", "forbidden"):
        text = explain_refusal(
            [serialize.timeline_event(e) for e in session.events],
            state=session.state,
            assignee_id=session.assignee_id,
            user_id=user.id,
            action_label=label,
            has_notes=_has_notes(db, session, user.id),
        )
        if text:
            return Rejected(text)
    return Rejected(exc.message)


def _swap(
    db: DbSession,
    session: m.Session,
    *,
    state: SessionState,
    assignee_id: int | None,
    expected_assignee_id: int | None = None,
    check_assignee: bool = True,
) -> None:
    """Compare-and-set the state and assignee: refuse when someone changed them first."""
    expected = session.assignee_id if check_assignee else expected_assignee_id
    won = db.execute(
        update(m.Session)
        .where(
            m.Session.id == session.id,
            m.Session.state == session.state,
            m.Session.assignee_id.is_not_distinct_from(expected),
        )
        .values(state=state.value, assignee_id=assignee_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        raise Rejected("该会话刚被他人更改，操作未执行，请刷新后查看")
    session.state = state.value
    session.assignee_id = assignee_id


def _leads_update(db: DbSession, session: m.Session, what: str) -> None:
    publish(
        db,
        "session_updated",
        {**session_brief(session), "what": what},
        team_id=session.team_id,
        for_leads=True,
    )


# -- session / create ---------------------------------------------------------------------


@handler("session", "create", target_kind="session")
def create_session(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """A phone call or a walk-in referral logged by hand."""
    p = mutation.payload
    session_id = str(p.get("session_id") or mutation.target_id or "").strip()
    if not session_id or len(session_id) > 64:
        raise Rejected("新建会话缺少有效编号")
    if db.get(m.Session, session_id) is not None:
        raise Rejected("会话编号重复，未能新建，请重新填写")
    errors = validate_new_session(p)
    if errors:
        raise Rejected("；".join(errors.values()))
    if user.team_id is None:
        raise Rejected("您不属于任何班组，不能新建会话")
    matter_code = str(p.get("matter_code") or "").strip() or None
    if matter_code is not None:
        guide = db.get(m.MatterGuide, matter_code)
        if guide is None or guide.deleted:
            raise Rejected(f"所选事项（{matter_code}）不存在")
    author = _author(db, user)
    now = datetime.now()
    summary = _text(p, "summary", MAX_SUMMARY, "诉求描述")
    session = m.Session(
        id=session_id,
        team_id=user.team_id,
        assignee_id=None,
        state=S.WAITING.value,
        service_type=str(p["service_type"]),
        channel=str(p["channel"]),
        caller_name=_text(p, "caller_name", 64, "姓名"),
        caller_phone=normalize_phone(p.get("caller_phone")),
        caller_id_number=str(p.get("caller_id_number") or "").strip().upper(),
        matter_code=matter_code,
        summary=summary,
        created_at=now,
    )
    add_event(
        db,
        session,
        "created",
        actor=author,
        at=now,
        channel=session.channel,
        summary=summary[:200],
        manual=True,
        offline_at=_offline_at(mutation, now),
    )
    take = bool(p.get("take", True))
    if take:
        try:
            check_transition(session, Action.ACCEPT, user.actor)
        except RuleViolation as exc:
            raise Rejected(exc.message) from None
        session.state = S.ACTIVE.value
        session.assignee_id = user.id
        session.assigned_at = session.accepted_at = now
        add_event(db, session, "accepted", actor=author, at=now)
    db.add(session)
    db.flush()
    log_session(db, session, was_waiting=not take, now=now)
    if not take:
        publish(db, "session_waiting", session_brief(session), team_id=user.team_id, for_team=True)
        dispatch_team(db, user.team_id, now=now)
    _leads_update(db, session, "created")
    return Applied(records=[("session", session.id)])


# -- session / transition -----------------------------------------------------------------


@handler("session", "transition", target_kind="session")
def transition(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """接入 / 开始 / 挂起 / 恢复 / 转办 / 待回电 / 办结 by the assignee."""
    p = mutation.payload
    session = _load(db, mutation)
    try:
        action = Action(str(p.get("action") or ""))
    except ValueError:
        raise Rejected("未知的会话操作") from None
    if action is Action.ASSIGN:
        raise Rejected("分配由系统自动完成；班组长请使用改派")
    reason = _text(p, "reason", MAX_REASON, "原因")
    now = datetime.now()
    acted = _acted_at(mutation, now)
    due_at: datetime | None = None
    escalation: dict[str, Any] | None = None
    if action is Action.ESCALATE:
        department = _text(p, "department", 128, "承办部门")
        if not department:
            raise Rejected("转办需要选择承办部门")
        complexity = str(p.get("complexity") or "simple")
        if complexity not in COMPLEXITY_LABELS:
            raise Rejected("转办的事项类型应为简单或复杂")
        calendar = work_calendar(db)
        contact = calendar.add_working_days(acted, 1)
        answer = escalation_deadline(calendar, acted, complexity)
        due_at = answer.at_end_of_day()
        escalation = {
            "department": department,
            "reason": reason,
            "complexity": complexity,
            "contact_due_at": contact.at_end_of_day().isoformat(),
            "due_at": due_at.isoformat(),
            "provisional": answer.provisional or contact.provisional,
            "escalated_at": acted.replace(microsecond=0).isoformat(),
        }
    elif action is Action.CALLBACK:
        raw = p.get("due_at")
        if raw:
            try:
                due_at = datetime.fromisoformat(str(raw))
            except ValueError:
                raise Rejected("回电期限的时间格式不对") from None
            if due_at.tzinfo is not None:
                due_at = due_at.astimezone().replace(tzinfo=None)
            if due_at < acted - timedelta(minutes=1):
                raise Rejected("回电期限不能早于操作时间")
        else:
            days = setting(db, "callback_working_days")
            due_at = work_calendar(db).add_working_days(acted, days).at_end_of_day()
    outcome = str(p.get("outcome") or "") or None
    try:
        target = check_transition(
            session, action, user.actor, reason=reason, outcome=outcome, due_at=due_at
        )
    except RuleViolation as exc:
        raise _refusal(db, session, user, action.label, exc) from None
    if p.get("to") and str(p["to"]) != target.value:
        raise Rejected("本机与服务器的会话规则不一致，请更新程序后重试")
    author = _author(db, user)
    prev_state, prev_assignee = S(session.state), session.assignee_id
    assignee = user.id if action is Action.ACCEPT else session.assignee_id
    _swap(db, session, state=target, assignee_id=assignee)
    detail: dict[str, Any] = {"reason": reason or None, "offline_at": _offline_at(mutation, now)}
    if action is Action.ACCEPT:
        session.assigned_at = session.assigned_at or now
        session.accepted_at = session.accepted_at or now
    elif action is Action.START:
        if prev_state is S.ESCALATED and session.escalation:
            session.escalation = {**session.escalation, "answered_at": now.isoformat()}
        session.due_at = None
    elif action is Action.ESCALATE:
        session.escalation = escalation
        session.due_at = due_at
        assert escalation is not None
        detail.update(
            department=escalation["department"],
            complexity=escalation["complexity"],
            due_at=escalation["due_at"],
            contact_due_at=escalation["contact_due_at"],
        )
    elif action is Action.CALLBACK:
        session.callback_due_at = session.due_at = due_at
        detail["due_at"] = due_at.isoformat() if due_at else None
    elif action is Action.CLOSE:
        session.closed_at = now
        session.outcome = outcome
        session.close_summary = _text(p, "close_summary", MAX_SUMMARY, "办结摘要")
        session.due_at = None
        detail.update(outcome=outcome, summary=session.close_summary[:200] or None)
    add_event(db, session, ACTION_EVENTS[action], actor=author, at=now, **detail)
    log_session(
        db,
        session,
        prev_assignee_id=prev_assignee if prev_assignee != session.assignee_id else None,
        was_waiting=prev_state is S.WAITING,
        now=now,
    )
    if prev_state is S.WAITING:
        publish(db, "queue_changed", session_brief(session), team_id=session.team_id, for_team=True)
    _leads_update(db, session, action.value)
    if action in (Action.CLOSE, Action.ESCALATE, Action.CALLBACK):
        dispatch_team(db, session.team_id, now=now)
    return Applied(records=[("session", session.id)])


# -- session / transfer -------------------------------------------------------------------


@handler("session", "transfer", target_kind="session")
def transfer(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """转交 by the assignee to a colleague, or to a team's waiting queue."""
    p = mutation.payload
    session = _load(db, mutation)
    to_agent_id = _int_or_none(p.get("to_agent_id"), "转交对象")
    to_team_id = str(p.get("to_team_id") or "").strip() or None
    reason = _text(p, "reason", MAX_REASON, "原因")
    try:
        target_state = check_transfer(
            session, user.actor, to_agent_id=to_agent_id, to_team_id=to_team_id, reason=reason
        )
    except RuleViolation as exc:
        raise _refusal(db, session, user, "转交", exc) from None
    author = _author(db, user)
    now = datetime.now()
    prev_team, prev_assignee = session.team_id, session.assignee_id
    detail: dict[str, Any] = {
        "from_id": prev_assignee,
        "from": author.display_name,
        "reason": reason,
        "offline_at": _offline_at(mutation, now),
    }
    receiver: m.User | None = None
    if to_agent_id is not None:
        receiver = db.get(m.User, to_agent_id)
        if receiver is None or not receiver.active or receiver.role == Role.ADMIN.value:
            raise Rejected("找不到要转交的同事，或其账号已停用")
        new_team = receiver.team_id or session.team_id
        detail.update(to_id=receiver.id, to=receiver.display_name)
    else:
        team = db.get(m.Team, to_team_id)
        if team is None:
            raise Rejected("找不到要转交的班组")
        new_team = team.id
        detail.update(to_team=team.id, to_team_name=team.name)
    _swap(
        db,
        session,
        state=target_state,
        assignee_id=receiver.id if receiver is not None else None,
    )
    session.team_id = new_team
    session.assigned_at = now if receiver is not None else None
    add_event(db, session, "transferred", actor=author, at=now, **detail)
    log_session(db, session, prev_assignee_id=prev_assignee, now=now)
    if new_team != prev_team:
        # The old team's leads saw the session; they must learn that it left.
        record(db, "session", session.id, audience=Audience(team_id=prev_team), now=now)
    relog_children(db, session, prev_assignee_id=prev_assignee)
    brief = {**session_brief(session), "by": author.display_name, "reason": reason}
    if receiver is not None:
        publish(
            db,
            "session_transferred",
            {**brief, "to_id": receiver.id, "to": receiver.display_name},
            user_ids=[receiver.id],
        )
    else:
        publish(db, "session_waiting", brief, team_id=new_team, for_team=True)
    _leads_update(db, session, "transfer")
    if new_team != prev_team:
        publish(db, "session_updated", brief, team_id=prev_team, for_leads=True)
    dispatch_team(db, new_team, now=now)
    if new_team != prev_team:
        dispatch_team(db, prev_team, now=now)
    return Applied(records=[("session", session.id)])


# -- session / reassign -------------------------------------------------------------------


def reassign_session(
    db: DbSession, user: CurrentUser, session: m.Session, payload: dict[str, Any], *, now: datetime
) -> None:
    """改派 by a lead of the session's team: a compare-and-set on the assignee."""
    if "expected_assignee_id" not in payload:
        raise Rejected("改派需要说明原承办人（expected_assignee_id）")
    expected = _int_or_none(payload.get("expected_assignee_id"), "原承办人")
    to_agent_id = _int_or_none(payload.get("to_agent_id"), "改派对象")
    if to_agent_id is None:
        raise Rejected("请选择改派给哪位坐席")
    reason = _text(payload, "reason", MAX_REASON, "原因")
    try:
        check_reassign(
            session,
            user.actor,
            expected_assignee_id=expected,
            to_agent_id=to_agent_id,
            reason=reason,
        )
    except RuleViolation as exc:
        if exc.code == "stale_assignee":
            text = explain_refusal(
                [serialize.timeline_event(e) for e in session.events],
                state=session.state,
                assignee_id=session.assignee_id,
                user_id=-1,
                action_label="改派",
            )
            raise Rejected(f"{text}，请刷新后再改派" if text else exc.message) from None
        raise Rejected(exc.message) from None
    receiver = db.get(m.User, to_agent_id)
    if (
        receiver is None
        or not receiver.active
        or receiver.team_id != session.team_id
        or receiver.role == Role.ADMIN.value
    ):
        raise Rejected("只能改派给本班组在岗的坐席")
    author = _author(db, user)
    prev_state, prev_assignee = S(session.state), session.assignee_id
    previous = db.get(m.User, prev_assignee) if prev_assignee is not None else None
    try:
        _swap(
            db,
            session,
            state=S.ASSIGNED,
            assignee_id=receiver.id,
            expected_assignee_id=expected,
            check_assignee=False,
        )
    except Rejected:
        # Another lead won between our read and our write (SQLite locks no row on a
        # read): read the session as it is now and say what happened, in words.
        db.rollback()
        text = explain_refusal(
            [serialize.timeline_event(e) for e in session.events],
            state=session.state,
            assignee_id=session.assignee_id,
            user_id=-1,
            action_label="改派",
        )
        raise Rejected(
            f"{text}，请刷新后再改派" if text else "该会话刚被他人改派，请刷新后再改派"
        ) from None
    session.assigned_at = now
    detail = {
        "from_id": prev_assignee,
        "from": previous.display_name if previous else "待接入队列",
        "to_id": receiver.id,
        "to": receiver.display_name,
        "reason": reason,
    }
    add_event(db, session, "reassigned", actor=author, at=now, **detail)
    db.add(
        m.AuditLog(
            at=now,
            actor_id=user.id,
            action="session.reassign",
            target_kind="session",
            target_id=session.id,
            detail={**detail, "expected_assignee_id": expected, "state_before": prev_state.value},
        )
    )
    log_session(
        db,
        session,
        prev_assignee_id=prev_assignee,
        was_waiting=prev_state is S.WAITING,
        now=now,
    )
    relog_children(db, session, prev_assignee_id=prev_assignee)
    payload_out = {
        **session_brief(session),
        **detail,
        "by": author.display_name,
        "by_id": author.id,
        "at": now.isoformat(),
    }
    # Both agents are told at once; the team's leads see it on their board.
    publish(db, "session_reassigned", payload_out, user_ids=[prev_assignee, receiver.id])
    publish(db, "session_reassigned", payload_out, team_id=session.team_id, for_leads=True)
    if prev_state is S.WAITING:
        publish(db, "queue_changed", session_brief(session), team_id=session.team_id, for_team=True)
    dispatch_team(db, session.team_id, now=now)


@handler("session", "reassign", target_kind="session")
def reassign(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    session = _load(db, mutation)
    reassign_session(db, user, session, mutation.payload, now=datetime.now())
    return Applied(records=[("session", session.id)])


# -- session / reveal ---------------------------------------------------------------------


def _was_assignee(db: DbSession, session: m.Session, user_id: int) -> bool:
    return bool(
        db.scalar(
            select(m.SessionEvent.id)
            .where(m.SessionEvent.session_id == session.id)
            .where(
                (m.SessionEvent.actor_id == user_id)
                | (m.SessionEvent.detail["to_id"].as_integer() == user_id)
            )
            .limit(1)
        )
    )


@handler("session", "reveal", target_kind="session")
def reveal(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """显示完整号码: the reveal itself goes on the timeline and in the audit log."""
    p = mutation.payload
    session = _load(db, mutation)
    field = str(p.get("field") or "all")
    if field not in ("phone", "id_number", "all"):
        raise Rejected("要查看的号码类型无效")
    if not (session_visible(session, user) or _was_assignee(db, session, user.id)):
        raise Rejected("您无权查看该会话的群众信息")
    author = _author(db, user)
    now = datetime.now()
    offline_at = _offline_at(mutation, now)
    # The numbers were already on the person's screen: a missing reason is logged as
    # missing, never refused (a refusal would lose the audit row).
    reason = clean_reveal_reason(p.get("reason"))
    add_event(db, session, "revealed", actor=author, at=now, field=field, offline_at=offline_at)
    detail: dict[str, Any] = {"field": field, "offline_at": offline_at}
    if not reason:
        detail["reason_missing"] = True
    record_audit(
        db,
        actor_id=user.id,
        action="session.reveal",
        target_kind="session",
        target_id=session.id,
        detail=detail,
        reason=reason or None,
    )
    log_session(db, session, now=now)
    return Applied(records=[("session", session.id)])


# -- evaluation / create ------------------------------------------------------------------


@handler("evaluation", "create", target_kind="evaluation")
def create_evaluation(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """好差评 as told by the caller; a 1 or 2 opens a rectification for the team lead."""
    p = mutation.payload
    evaluation_id = str(p.get("evaluation_id") or mutation.target_id or "").strip()
    if not evaluation_id or len(evaluation_id) > 64:
        raise Rejected("评价缺少有效编号")
    if db.get(m.Evaluation, evaluation_id) is not None:
        return Applied(records=[("evaluation", evaluation_id)])
    session = _load(db, mutation)
    score = _int_or_none(p.get("score"), "评价等级")
    if score not in EVALUATION_LABELS:
        raise Rejected("评价等级应为 1 到 5（非常不满意到非常满意）")
    comment = _text(p, "comment", MAX_COMMENT, "评价内容")
    if session.assignee_id != user.id:
        raise _refusal(
            db,
            session,
            user,
            "好差评",
            RuleViolation("not_assignee", "只有该会话的承办人可以记录评价"),
        )
    if session.state in (S.WAITING.value, S.ASSIGNED.value):
        raise Rejected("会话尚未接入，不能记录评价")
    existing = db.scalar(select(m.Evaluation).where(m.Evaluation.session_id == session.id))
    if existing is not None:
        label = EVALUATION_LABELS.get(existing.score, "")
        raise Rejected(f"该会话已记录过评价（{label}），不能重复记录")
    author = _author(db, user)
    now = datetime.now()
    db.add(
        m.Evaluation(
            id=evaluation_id,
            session_id=session.id,
            score=score,
            comment=comment,
            created_at=now,
            recorded_by=user.id,
        )
    )
    db.flush()
    record(db, "evaluation", evaluation_id, audience=audience_of(session), now=now)
    add_event(
        db,
        session,
        "evaluated",
        actor=author,
        at=now,
        score=score,
        offline_at=_offline_at(mutation, now),
    )
    brief = {**session_brief(session), "score": score, "by": author.display_name}
    publish(db, "evaluation_recorded", brief, team_id=session.team_id, for_leads=True)
    if score <= 2:
        days = setting(db, "rectification_working_days")
        deadline = work_calendar(db).add_working_days(now.date(), days)
        rectification = m.Rectification(
            id=str(uuid.uuid4()),
            session_id=session.id,
            evaluation_id=evaluation_id,
            team_id=session.team_id,
            assignee_id=None,
            state="open",
            deadline=deadline.day,
            deadline_provisional=deadline.provisional,
            created_at=now,
        )
        db.add(rectification)
        # The rectification syncs to the team's leads (pull kind "rectification").
        record(db, "rectification", rectification.id, audience=Audience(team_id=session.team_id))
        add_event(
            db,
            session,
            "rectification_opened",
            at=now,
            deadline=deadline.day.isoformat(),
            working_days=days,
            rectification_id=rectification.id,
        )
        publish(
            db,
            "rectification_opened",
            {
                **brief,
                "rectification_id": rectification.id,
                "deadline": deadline.day.isoformat(),
                "provisional": deadline.provisional,
            },
            team_id=session.team_id,
            for_leads=True,
        )
    log_session(db, session, now=now)
    return Applied(records=[("evaluation", evaluation_id), ("session", session.id)])
