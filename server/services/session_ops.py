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

from core.calendar import WorkCalendar, YearSchedule
from core.enums import EVALUATION_LABELS, Role, SessionState
from core.protocol import (
    Op,
    RecordKind,
    SessionCreate,
    SessionReassign,
    SessionReveal,
    SessionTransfer,
    SessionTransition,
)
from core.session_rules import (
    Action,
    RuleViolation,
    check_reassign,
    check_transfer,
    check_transition,
    clean_reveal_reason,
    transition_effect,
)
from core.session_timeline import explain_refusal
from core.validation import normalize_phone, validate_new_session
from server import models as m
from server import serialize
from server.audit import record_audit
from server.auth import CurrentUser
from server.changes import Audience, record
from server.errors import ApiError
from server.services import callbacks, share
from server.services.dispatch import dispatch_team, session_brief
from server.services.events import publish
from server.services.mutations import Applied, Mutation, Rejected, handler
from server.services.service_settings import setting
from server.services.sessions import add_event, audience_of, log_session, relog_children
from server.services.visibility import session_visible

S = SessionState
K = RecordKind
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


def _acted_at(mutation: Mutation, now: datetime) -> datetime:
    """When the person acted: the client's time (checked by the protocol), never in
    the future."""
    at = mutation.created_at
    return now if at is None else min(at, now)


def _offline_at(mutation: Mutation, now: datetime) -> str | None:
    at = _acted_at(mutation, now)
    return at.replace(microsecond=0).isoformat() if now - at > OFFLINE_GRACE else None


def _load(db: DbSession, mutation: Mutation) -> m.Session:
    session_id = mutation.payload.session_id
    # FOR UPDATE on PostgreSQL orders actions on one session; the guarantee on both
    # databases is the conditional UPDATE of _swap.
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


@handler(K.SESSION, Op.CREATE, target_kind=K.SESSION)
def create_session(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """A phone call or a walk-in referral logged by hand."""
    p: SessionCreate = mutation.payload
    session_id = p.session_id
    if db.get(m.Session, session_id) is not None:
        raise Rejected("会话编号重复，未能新建，请重新填写")
    errors = validate_new_session(p.fields())
    if errors:
        raise Rejected("；".join(errors.values()))
    if user.team_id is None:
        raise Rejected("您不属于任何班组，不能新建会话")
    matter_code = p.matter_code
    if matter_code is not None:
        guide = db.get(m.MatterGuide, matter_code)
        if guide is None or guide.deleted:
            raise Rejected(f"所选事项（{matter_code}）不存在")
    author = _author(db, user)
    now = datetime.now()
    summary = p.summary
    session = m.Session(
        id=session_id,
        team_id=user.team_id,
        assignee_id=None,
        state=S.WAITING.value,
        service_type=p.service_type,
        channel=p.channel,
        caller_name=p.caller_name,
        caller_phone=normalize_phone(p.caller_phone),
        caller_id_number=p.caller_id_number.upper(),
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
        ticket_number=p.ticket_number or None,
        offline_at=_offline_at(mutation, now),
    )
    take = p.take
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
    return Applied(records=[(K.SESSION, session.id)])


# -- session / transition -----------------------------------------------------------------


@handler(K.SESSION, Op.TRANSITION, target_kind=K.SESSION)
def transition(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """接入 / 开始 / 挂起 / 恢复 / 转办 / 待回电 / 办结 by the assignee."""
    p: SessionTransition = mutation.payload
    session = _load(db, mutation)
    action = Action(p.action)
    if action is Action.ASSIGN:
        raise Rejected("分配由系统自动完成；班组长请使用改派")
    now = datetime.now()
    try:
        effect = transition_effect(
            session,
            action,
            user.actor,
            acted_at=_acted_at(mutation, now),
            now=now,
            calendar=work_calendar(db),
            reason=p.reason,
            outcome=p.outcome,
            close_summary=p.close_summary,
            department=p.department,
            complexity=p.complexity,
            due_at=p.due_at if action is Action.CALLBACK else None,
            callback_working_days=setting(db, "callback_working_days"),
        )
    except RuleViolation as exc:
        raise _refusal(db, session, user, action.label, exc) from None
    if p.to and p.to != effect.target.value:
        raise Rejected("本机与服务器的会话规则不一致，请更新程序后重试")
    author = _author(db, user)
    prev_state, prev_assignee = S(session.state), session.assignee_id
    fields = dict(effect.fields)
    fields.pop("state")
    assignee = fields.pop("assignee_id", session.assignee_id)
    _swap(db, session, state=effect.target, assignee_id=assignee)
    for name, value in fields.items():
        setattr(session, name, value)
    detail = {**effect.detail, "offline_at": _offline_at(mutation, now)}
    add_event(db, session, effect.event, actor=author, at=now, **detail)
    if action is Action.CLOSE:
        share.revoke_for_session(db, session.id, "会话已办结，共享随之结束", actor=author, now=now)
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
    callbacks.session_changed(db, session, effect.event, now=now)  # to the sending system
    if action in (Action.CLOSE, Action.ESCALATE, Action.CALLBACK):
        dispatch_team(db, session.team_id, now=now)
    return Applied(records=[(K.SESSION, session.id)])


# -- session / transfer -------------------------------------------------------------------


@handler(K.SESSION, Op.TRANSFER, target_kind=K.SESSION)
def transfer(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """转交 by the assignee to a colleague, or to a team's waiting queue."""
    p: SessionTransfer = mutation.payload
    session = _load(db, mutation)
    to_agent_id, to_team_id, reason = p.to_agent_id, p.to_team_id, p.reason
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
    share.revoke_for_session(db, session.id, "会话已转交，共享随之结束", actor=author, now=now)
    log_session(db, session, prev_assignee_id=prev_assignee, now=now)
    if new_team != prev_team:
        # The old team's leads saw the session; they must learn that it left.
        record(db, K.SESSION, session.id, audience=Audience(team_id=prev_team), now=now)
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
    return Applied(records=[(K.SESSION, session.id)])


# -- session / reassign -------------------------------------------------------------------


def reassign_session(
    db: DbSession, user: CurrentUser, session: m.Session, payload: SessionReassign, *, now: datetime
) -> None:
    """改派 by a lead of the session's team: a compare-and-set on the assignee."""
    expected, to_agent_id, reason = (
        payload.expected_assignee_id,
        payload.to_agent_id,
        payload.reason,
    )
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
    share.revoke_for_session(db, session.id, "会话已改派，共享随之结束", actor=author, now=now)
    record_audit(
        db,
        at=now,
        actor_id=user.id,
        action="session.reassign",
        target_kind="session",
        target_id=session.id,
        detail={**detail, "expected_assignee_id": expected, "state_before": prev_state.value},
        reason=reason,
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


@handler(K.SESSION, Op.REASSIGN, target_kind=K.SESSION)
def reassign(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    session = _load(db, mutation)
    reassign_session(db, user, session, mutation.payload, now=datetime.now())
    return Applied(records=[(K.SESSION, session.id)])


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


@handler(K.SESSION, Op.REVEAL, target_kind=K.SESSION)
def reveal(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """显示完整号码: the reveal itself goes on the timeline and in the audit log."""
    p: SessionReveal = mutation.payload
    session = _load(db, mutation)
    field = p.field
    if not (session_visible(session, user) or _was_assignee(db, session, user.id)):
        raise Rejected("您无权查看该会话的群众信息")
    author = _author(db, user)
    now = datetime.now()
    offline_at = _offline_at(mutation, now)
    # The numbers were already on the person's screen: a missing reason is logged as
    # missing, never refused (a refusal would lose the audit row).
    reason = clean_reveal_reason(p.reason)
    add_event(db, session, "revealed", actor=author, at=now, field=field, offline_at=offline_at)
    detail: dict[str, Any] = {"field": field, "offline_at": offline_at}
    if not reason:
        detail["reason_missing"] = True
    record_audit(
        db,
        at=now,
        actor_id=user.id,
        action="session.reveal",
        target_kind="session",
        target_id=session.id,
        detail=detail,
        reason=reason or None,
    )
    log_session(db, session, now=now)
    return Applied(records=[(K.SESSION, session.id)])


def reveal_numbers(
    db: DbSession,
    user: CurrentUser,
    session_id: str,
    field: str = "all",
    *,
    source_ip: str | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """The caller's full number(s), for the session's assignee only; the reveal goes on
    the timeline and in the audit log (``POST /api/v1/sessions/{id}/reveal``).

    Pulls, events and the team board carry masked numbers only, so this is the one way
    a full number leaves the server. Raises :class:`ApiError` with words for the person.
    """
    if field not in ("phone", "id_number", "all"):
        raise ApiError(400, "bad_field", "要查看的号码类型无效")
    session = db.get(m.Session, session_id, with_for_update=True)
    if session is None:
        raise ApiError(404, "not_found", "该会话不存在或已被删除")
    if session.assignee_id != user.id:
        raise ApiError(403, "forbidden", "只有该会话的承办人才能查看完整号码")
    author = _author(db, user)
    now = datetime.now()
    add_event(db, session, "revealed", actor=author, at=now, field=field, reason=reason or None)
    record_audit(
        db,
        at=now,
        actor_id=user.id,
        action="session.reveal",
        target_kind="session",
        target_id=session.id,
        detail={"field": field},
        source_ip=source_ip,
        reason=reason or None,
    )
    log_session(db, session, now=now)
    phone = session.caller_phone if field in ("phone", "all") else ""
    id_number = session.caller_id_number if field in ("id_number", "all") else ""
    return {"session_id": session.id, "field": field, "phone": phone, "id_number": id_number}


# -- evaluation / create ------------------------------------------------------------------


CALLER = "办事群众"
STAFF_RATING_REFUSED = (
    "好差评须由办事群众本人作出，工作人员不能代为记录评价。"
    "请在会话办结后由群众在对话页面评价，电话会话请发送评价链接（生成评价链接）。"
)


@handler(K.EVALUATION, Op.CREATE, target_kind=K.EVALUATION)
def create_evaluation(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """Staff may no longer record a 好差评 (GB/T 39734: the rating is the caller's own):
    the caller rates on the conversation page or through a rating link
    (:func:`record_caller_evaluation`)."""
    raise Rejected(STAFF_RATING_REFUSED)


class EvaluationRefused(Exception):
    """A caller's rating that cannot be kept; ``message`` is for the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def record_caller_evaluation(
    db: DbSession, session: m.Session, *, score: int, comment: str, via: str, now: datetime
) -> m.Evaluation:
    """The caller's own 好差评 of a closed session (one per session; ``via`` is
    ``conversation`` or ``rating_link``); a 1 or 2 opens a rectification for the lead.

    The unique index on ``evaluations.session_id`` decides between two racing ratings:
    the loser's flush raises ``IntegrityError``, which the caller hears as "already rated".

    Raises:
        EvaluationRefused: the session is not closed, the score is not 1-5, or the
            session already has a rating.
    """
    if score not in EVALUATION_LABELS:
        raise EvaluationRefused("请选择评价等级：非常满意、满意、基本满意、不满意或非常不满意")
    if session.state != S.CLOSED.value:
        raise EvaluationRefused("服务尚未结束，结束后才能评价")
    existing = db.scalar(select(m.Evaluation).where(m.Evaluation.session_id == session.id))
    if existing is not None:
        label = EVALUATION_LABELS.get(existing.score, "")
        raise EvaluationRefused(f"这次服务已经评价过了（{label}），每次服务只能评价一次")
    evaluation_id = str(uuid.uuid4())
    evaluation = m.Evaluation(
        id=evaluation_id,
        session_id=session.id,
        score=score,
        comment=comment,
        created_at=now,
        recorded_by=None,
    )
    db.add(evaluation)
    db.flush()
    record(db, K.EVALUATION, evaluation_id, audience=audience_of(session), now=now)
    add_event(db, session, "evaluated", at=now, score=score, via=via).actor_name = CALLER
    brief = {**session_brief(session), "score": score, "by": CALLER}
    publish(
        db,
        "evaluation_recorded",
        brief,
        user_ids=[session.assignee_id],
        team_id=session.team_id,
        for_leads=True,
    )
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
        record(db, K.RECTIFICATION, rectification.id, audience=Audience(team_id=session.team_id))
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
    callbacks.session_changed(db, session, "rated", now=now)
    return evaluation
