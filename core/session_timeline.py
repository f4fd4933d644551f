"""Timeline events of a session in words, shared by the client and the server.

The server writes timeline events (``kind`` plus a ``detail`` dict); the client shows
them and writes its own pending ones for actions taken offline. Both describe them
with these functions, so the words a refusal uses on the server are the words the
timeline shows on screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from core.enums import EVALUATION_LABELS, Channel, Outcome
from core.session_rules import ACTION_EVENTS as ACTION_EVENTS  # defined with the rules

EVENT_LABELS: dict[str, str] = {
    "created": "创建",
    "assigned": "分配",
    "accepted": "接入",
    "started": "开始办理",
    "held": "挂起",
    "resumed": "恢复",
    "escalated": "转办",
    "callback": "转为待回电",
    "closed": "办结",
    "evaluated": "记录好差评",
    "transferred": "转交",
    "reassigned": "改派",
    "revealed": "查看完整号码",
    "rectification_opened": "生成差评整改",
    "rectification_assigned": "分派差评整改",
    "rectification_closed": "差评整改办结",
    "walkthrough_started": "开始导办",
    "walkthrough_finished": "完成导办",
    "share_created": "发起屏幕共享",
    "share_opened": "打开屏幕共享页面",
    "share_consented": "同意共享屏幕",
    "share_expired": "屏幕共享过期",
    "share_revoked": "撤销屏幕共享",
    "first_response": "首次回复群众",
    "suggestion_sent": "发送建议答案",
    "callback_requested": "非工作时间留言，请求回电",
}

REVEAL_FIELDS = {"phone": "电话", "id_number": "证件号", "all": "电话和证件号"}
COMPLEXITY_LABELS = {"simple": "简单事项", "complex": "复杂事项"}

HANDOVER_KINDS = frozenset({"reassigned", "transferred", "assigned", "accepted"})
"""Events after which the session may be in someone else's hands."""


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _score(value: Any) -> int:
    """A rating from the wire, 0 when it is not one (data from elsewhere never raises)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def when_text(value: Any, today: date | None = None) -> str:
    """``10:32`` for today, ``11月26日 10:32`` for another day; empty when unknown."""
    at = _parse(value)
    if at is None:
        return ""
    today = today or date.today()
    if at.date() == today:
        return at.strftime("%H:%M")
    return f"{at.month}月{at.day}日 {at:%H:%M}"


def due_text(value: Any) -> str:
    """A deadline as ``12月4日（周五）17:30``."""
    at = _parse(value)
    if at is None:
        return ""
    weekday = "一二三四五六日"[at.weekday()]
    return f"{at.month}月{at.day}日（周{weekday}）{at:%H:%M}"


def event_label(kind: str) -> str:
    return EVENT_LABELS.get(kind, kind)


def describe_event(event: Mapping[str, Any]) -> str:
    """What happened, in words, without who and when (``改派给 王芳（原因：…）``)."""
    kind = str(event.get("kind") or "")
    raw = event.get("detail")
    d: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    parts: list[str] = []
    if kind == "created":
        channel = str(d.get("channel") or "")
        label = Channel(channel).label if channel in Channel._value2member_map_ else ""
        parts.append(f"创建（{label}）" if label else "创建")
        if d.get("ticket_number"):
            parts.append(f"，排队号 {d['ticket_number']}")
        if d.get("source"):
            parts.append(f"，来自{d['source']}")
        if d.get("external_id"):
            parts.append(f"，外部编号 {d['external_id']}")
    elif kind == "assigned":
        parts.append(f"分配给 {d['to']}" if d.get("to") else "分配")
        if d.get("auto"):
            parts.append("（自动分配）")
    elif kind in ("reassigned", "transferred"):
        verb = "改派" if kind == "reassigned" else "转交"
        target = d.get("to") or d.get("to_team_name") or d.get("to_team") or ""
        source = f"由 {d['from']} " if d.get("from") and kind == "reassigned" else ""
        parts.append(f"{source}{verb}给 {target}".strip())
    elif kind == "escalated":
        parts.append(f"转办至 {d['department']}" if d.get("department") else "转办")
        if d.get("complexity") in COMPLEXITY_LABELS:
            parts.append(f"（{COMPLEXITY_LABELS[d['complexity']]}）")
        if d.get("due_at"):
            parts.append(f"，答复期限 {due_text(d['due_at'])}")
    elif kind == "callback":
        parts.append("转为待回电")
        if d.get("due_at"):
            parts.append(f"，回电期限 {due_text(d['due_at'])}")
    elif kind == "closed":
        outcome = str(d.get("outcome") or "")
        label = Outcome(outcome).label if outcome in Outcome._value2member_map_ else ""
        parts.append(f"办结（{label}）" if label else "办结")
    elif kind == "evaluated":
        label = EVALUATION_LABELS.get(_score(d.get("score")), "")
        verb = "群众评价" if d.get("via") else "记录好差评"  # ``via``: the caller rated
        parts.append(f"{verb}：{label}" if label else verb)
    elif kind == "revealed":
        parts.append(f"查看完整{REVEAL_FIELDS.get(str(d.get('field')), '号码')}")
    elif kind == "rectification_opened":
        parts.append("生成差评整改")
        if d.get("deadline"):
            parts.append(f"，整改期限 {d['deadline']}")
    elif kind in ("walkthrough_started", "walkthrough_finished"):
        # The summary names the script and version, or the outcome at the end.
        summary = d.get("summary")
        parts.append(f"{event_label(kind)}：{summary}" if summary else event_label(kind))
    elif kind.startswith("share_"):
        # Screen-share links write their own line (browser, address, expiry).
        parts.append(str(d.get("summary") or event_label(kind)))
    else:
        parts.append(event_label(kind))
    text = "".join(parts)
    extra = d.get("reason") or (d.get("summary") if kind in ("closed",) else None)
    if extra:
        text += f" · {'原因' if d.get('reason') else '摘要'}：{extra}"
    if d.get("offline_at"):
        text += f" · 离线时操作于 {when_text(d['offline_at'])}"
    return text


def _handover_text(event: Mapping[str, Any], today: date | None) -> str:
    raw = event.get("detail")
    d: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    who = event.get("actor_name") or "系统"
    when = when_text(event.get("at"), today)
    kind = event.get("kind")
    if kind == "reassigned":
        verb = f"改派给 {d.get('to') or '其他坐席'}"
    elif kind == "transferred":
        verb = f"转交给 {d.get('to') or d.get('to_team_name') or d.get('to_team') or '其他班组'}"
    elif kind == "assigned":
        verb = f"分配给 {d.get('to') or '其他坐席'}"
    else:
        verb = "接入"
    return f"该会话已于 {when} 由 {who} {verb}"


def explain_refusal(
    timeline: Iterable[Mapping[str, Any]],
    *,
    state: str,
    assignee_id: int | None,
    user_id: int,
    action_label: str,
    has_notes: bool = False,
    today: date | None = None,
) -> str | None:
    """Why an action on a session that moved on is refused, in the person's words:
    「该会话已于 10:32 由 李强 改派给 王芳，「挂起」未执行，您的备注已保留」.

    Returns None when the timeline says nothing more than the rule's own message.
    """
    events = list(timeline)
    base: str | None = None
    if assignee_id != user_id:
        for event in reversed(events):
            if event.get("kind") not in HANDOVER_KINDS:
                continue
            if event.get("kind") == "accepted" and event.get("actor_id") == user_id:
                continue
            base = _handover_text(event, today)
            break
    if base is None and state == "closed":
        for event in reversed(events):
            if event.get("kind") == "closed":
                who = event.get("actor_name") or "系统"
                base = f"该会话已于 {when_text(event.get('at'), today)} 由 {who} 办结"
                break
    if base is None:
        return None
    text = f"{base}，「{action_label}」未执行"
    if has_notes:
        text += "，您的备注已保留"
    return text


LIVE_EVENT_TITLES = {
    "session_assigned": "新会话分配给您",
    "session_transferred": "同事转交给您一个会话",
    "session_reassigned": "会话已改派",
    "session_waiting": "新会话进入班组队列",
    "note_added": "会话有新备注",
    "evaluation_recorded": "新的好差评",
    "rectification_opened": "差评待整改",
    "message_received": "群众发来新消息",
}


def describe_live_event(kind: str, payload: Mapping[str, Any], user_id: int) -> tuple[str, str]:
    """Title and text of a notification for a live event that concerns ``user_id``."""
    summary = str(payload.get("summary") or "")[:40]
    if kind == "session_reassigned":
        if payload.get("to_id") == user_id:
            title = "会话改派给您"
            text = f"{payload.get('by') or '班组长'} 将会话改派给您：{summary}"
        elif payload.get("from_id") == user_id:
            title = "您的会话已被改派"
            text = (
                f"{payload.get('by') or '班组长'} 将会话改派给 {payload.get('to') or ''}：{summary}"
            )
        else:
            title = LIVE_EVENT_TITLES[kind]
            text = f"{payload.get('from') or '待接入'} → {payload.get('to') or ''}：{summary}"
        if payload.get("reason"):
            text += f"（原因：{payload['reason']}）"
        return title, text
    title = LIVE_EVENT_TITLES.get(kind, "会话有更新")
    if kind == "session_transferred":
        text = f"{payload.get('by') or '同事'} 转交：{summary}"
        if payload.get("reason"):
            text += f"（原因：{payload['reason']}）"
        return title, text
    if kind == "note_added":
        return title, f"{payload.get('author') or '同事'} 在您的会话上添加了备注"
    if kind == "evaluation_recorded":
        label = EVALUATION_LABELS.get(_score(payload.get("score")), "")
        return title, f"{label}：{summary}"
    if kind == "rectification_opened":
        return title, f"整改期限 {payload.get('deadline') or ''}：{summary}"
    if kind == "message_received":
        said = "[照片]" if payload.get("photo") else str(payload.get("text") or "")[:40]
        return title, f"{said}（{summary}）"
    return title, summary


NOTIFY_KINDS = frozenset(
    {"session_assigned", "session_transferred", "session_reassigned", "session_waiting"}
)
"""Live events that bring a session into the user's queue: a tray message and a sound."""


def concerns_my_queue(kind: str, payload: Mapping[str, Any], user_id: int) -> bool:
    """Whether a live event puts a new session in front of ``user_id``."""
    if kind not in NOTIFY_KINDS:
        return False
    if kind in ("session_assigned", "session_transferred", "session_reassigned"):
        return payload.get("to_id") == user_id
    return True
