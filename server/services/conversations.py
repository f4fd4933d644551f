"""Online consultation (线上咨询, issue 13): the caller's side of a ``web_chat`` session.

A caller starts a conversation from ``/c`` (or ``POST /api/v1/public/conversations``):
the session is created with channel ``web_chat``, routed to the team serving the
matter (``matter_teams``, else the default team), queued and dispatched like any
other; out of hours it becomes a callback request (``callback_pending``, due within
``callback_working_days``). The caller gets an unguessable token (only its digest is
kept) bound to a cookie, and the conversation's messages both ways.

Staff write with the ``message``/``create`` mutation (assignee, or a lead of the team
consulting); messages are a pull kind (``message``, the session's audience; never a
caller's number). A caller's message publishes ``message_received`` to the assignee
(or the team while it waits) and a staff message wakes the caller's long poll
(``c:<session id>``, :func:`server.services.events.wake_at_commit`).

Abuse limits count rows of ``public_attempts`` in the database (shared by processes):
per address and overall, for new conversations and for caller messages.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session as DbSession

from core.enums import Channel, Role, ServiceType, SessionState
from core.opening_hours import OpeningHours, back_at_words, is_open, next_opening
from core.protocol import MESSAGE_MAX_LEN, MessageCreate, Op, RecordKind
from core.session_rules import leads_team
from core.validation import name_error, normalize_phone, phone_error
from server import models as m
from server.auth import CurrentUser
from server.changes import record
from server.services import share
from server.services.dispatch import dispatch_team, session_brief
from server.services.events import publish, wake_at_commit
from server.services.mutations import Applied, Mutation, Rejected, handler
from server.services.pull import EXTRA_LOADERS
from server.services.service_settings import setting
from server.services.session_ops import work_calendar
from server.services.sessions import add_event, audience_of, log_session

K = RecordKind
S = SessionState
CONVERSATION = "conversation"
RATING = "rating"
QUESTION_MAX_LEN = 1000
COMMENT_MAX_LEN = 500
IMAGE_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}
MAX_PIXELS = 40_000_000
"""A decompression bomb is refused before it is decoded."""
MAX_SIDE = 2560
"""Photos are scaled down to at most this many pixels on the long side."""


class PublicRefusal(Exception):
    """A public request refused; ``message`` is Chinese, for the caller."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _settings_value(db: DbSession, name: str, default: Any) -> Any:
    return getattr(db.info.get("settings"), name, default)


# -- abuse limits -------------------------------------------------------------------------


LIMITS = {
    "new": (timedelta(hours=1), "chat_new_per_address_hour", "chat_new_per_hour"),
    "message": (
        timedelta(minutes=1),
        "chat_messages_per_address_minute",
        "chat_messages_per_minute",
    ),
}
LIMIT_DEFAULTS = {
    "chat_new_per_address_hour": 5,
    "chat_new_per_hour": 600,
    "chat_messages_per_address_minute": 20,
    "chat_messages_per_minute": 3000,
}


def check_and_count(db: DbSession, address: str, kind: str, *, now: datetime) -> None:
    """Count one attempt of ``kind`` (``new`` or ``message``) from ``address``, refusing
    it (429) past the per-address or the overall cap of its window."""
    window, per_address, overall = LIMITS[kind]
    since = now - window
    mine_cap = _settings_value(db, per_address, LIMIT_DEFAULTS[per_address])
    all_cap = _settings_value(db, overall, LIMIT_DEFAULTS[overall])
    base = select(func.count()).select_from(m.PublicAttempt)
    recent = base.where(m.PublicAttempt.kind == kind, m.PublicAttempt.at >= since)
    retry = int(window.total_seconds())
    what = "发起咨询" if kind == "new" else "发送消息"
    if (db.scalar(recent.where(m.PublicAttempt.address == address[:64])) or 0) >= mine_cap:
        raise PublicRefusal(
            429,
            "too_many",
            f"您{what}太频繁了，请 {retry // 60 or 1} 分钟后再试。",
            retry_after=retry,
        )
    if (db.scalar(recent) or 0) >= all_cap:
        raise PublicRefusal(
            429,
            "busy",
            f"当前{what}的人太多，请稍后再试，或拨打 12345 政务服务便民热线。",
            retry_after=retry,
        )
    db.add(m.PublicAttempt(address=address[:64], kind=kind, at=now))
    # Old rows go as new ones come (a day is longer than every window).
    db.execute(delete(m.PublicAttempt).where(m.PublicAttempt.at < now - timedelta(days=1)))


# -- routing and hours --------------------------------------------------------------------


def team_for_matter(db: DbSession, matter_code: str | None) -> str:
    """The team serving ``matter_code`` (``matter_teams``), else the default team."""
    if matter_code:
        row = db.get(m.MatterTeam, matter_code)
        if row is not None:
            return row.team_id
    default = _settings_value(db, "chat_default_team", "")
    if default and db.get(m.Team, default) is not None:
        return str(default)
    first = db.scalar(select(m.Team.id).order_by(m.Team.id).limit(1))
    if first is None:
        raise PublicRefusal(503, "no_team", "服务暂不可用：系统中还没有班组，请拨打 12345。")
    return str(first)


@dataclass(frozen=True)
class Hours:
    open: bool
    back_at: datetime
    words: str


def opening_state(db: DbSession, now: datetime) -> Hours:
    text = str(_settings_value(db, "opening_hours", "09:00-17:00"))
    if text.strip().lower() == "always":  # a 24-hour service (and the tests)
        return Hours(True, now, "现在")
    try:
        hours = OpeningHours.parse(text)
    except ValueError:
        hours = OpeningHours.parse("09:00-17:00")
    calendar = work_calendar(db)
    back = next_opening(now, calendar, hours)
    return Hours(is_open(now, calendar, hours), back, back_at_words(now, back))


# -- starting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    session_id: str
    token: str
    cookie: str
    callback: bool
    back_words: str


def check_start(
    matter_code: str, text: str, name: str, phone: str, consent: bool
) -> dict[str, str]:
    """Field → Chinese message for what the caller must correct (empty when fine)."""
    errors: dict[str, str] = {}
    if not matter_code.strip():
        errors["matter_code"] = "请选择要咨询的事项或部门"
    if not text.strip():
        errors["text"] = "请写下您要咨询的问题"
    elif len(text.strip()) > QUESTION_MAX_LEN:
        errors["text"] = f"问题最多 {QUESTION_MAX_LEN} 字（现为 {len(text.strip())} 字）"
    problem = name_error(name, required=False)
    if problem:
        errors["name"] = problem
    if normalize_phone(phone):
        problem = phone_error(phone, required=False)
        if problem or not normalize_phone(phone).startswith("1"):
            errors["phone"] = problem or "请填写 11 位手机号码"
    if (normalize_phone(phone) or name.strip()) and not consent:
        errors["consent"] = "留下姓名或手机号前，请阅读并勾选同意个人信息使用说明"
    if not consent and not errors:
        errors["consent"] = "请阅读并勾选同意个人信息使用说明"
    return errors


def start_conversation(
    db: DbSession,
    *,
    matter_code: str,
    text: str,
    name: str,
    phone: str,
    consent: bool,
    address: str,
    now: datetime,
) -> Started:
    """Open a ``web_chat`` session with the caller's first message (or, out of hours, a
    callback request); the caller's address is counted against the limits first.

    Raises:
        PublicRefusal: invalid fields (422, message lists them), unknown matter (422),
            past the limits (429).
    """
    errors = check_start(matter_code, text, name, phone, consent)
    if errors:
        raise PublicRefusal(422, "invalid", "；".join(errors.values()))
    guide = db.get(m.MatterGuide, matter_code.strip())
    if guide is None or guide.deleted:
        raise PublicRefusal(422, "invalid", "所选事项不存在，请重新选择")
    check_and_count(db, address, "new", now=now)
    hours = opening_state(db, now)
    team_id = team_for_matter(db, guide.code)
    question = text.strip()
    phone_value = normalize_phone(phone)
    callback = not hours.open
    if callback and not phone_value:
        raise PublicRefusal(
            422,
            "phone_needed",
            f"现在是非工作时间（工作人员 {hours.words} 上班），请留下手机号码，我们上班后回电。",
        )
    session = m.Session(
        id=f"wc-{uuid.uuid4().hex[:20]}",
        team_id=team_id,
        assignee_id=None,
        state=S.CALLBACK_PENDING.value if callback else S.WAITING.value,
        service_type=ServiceType.CONSULT.value,
        channel=Channel.WEB_CHAT.value,
        caller_name=name.strip(),
        caller_phone=phone_value,
        matter_code=guide.code,
        summary=question[:200],
        created_at=now,
    )
    if callback:
        days = setting(db, "callback_working_days")
        due = work_calendar(db).add_working_days(now, days).at_end_of_day()
        session.callback_due_at = session.due_at = due
    add_event(db, session, "created", at=now, channel=session.channel, summary=question[:200])
    if callback:
        add_event(db, session, "callback_requested", at=now, back_at=hours.back_at.isoformat())
    db.add(session)
    db.flush()
    _add_message(db, session, sender="caller", text=question, now=now)
    token, cookie = new_token(), new_token()
    db.add(
        m.CallerToken(
            token_hash=digest(token),
            session_id=session.id,
            purpose=CONVERSATION,
            cookie_hash=digest(cookie),
            created_at=now,
        )
    )
    log_session(db, session, was_waiting=not callback, now=now)
    brief = session_brief(session)
    if callback:
        publish(
            db, "session_updated", {**brief, "what": "callback"}, team_id=team_id, for_leads=True
        )
    else:
        publish(db, "session_waiting", brief, team_id=team_id, for_team=True)
        dispatch_team(db, team_id, now=now)
    return Started(session.id, token, cookie, callback, hours.words)


# -- finding a conversation ---------------------------------------------------------------


def _usable(db: DbSession, row: m.CallerToken | None, now: datetime) -> m.Session | None:
    if row is None:
        return None
    session = db.get(m.Session, row.session_id)
    if session is None:
        return None
    days = float(_settings_value(db, "caller_token_days", 7.0))
    if session.closed_at is not None and now - session.closed_at > timedelta(days=days):
        return None
    return session


def conversation(
    db: DbSession, token: str, cookie: str | None, *, now: datetime
) -> m.Session | None:
    """The session of a conversation token, if the cookie it was bound to comes with it
    and it has not expired; None for anything else (unknown, expired, other browser)."""
    if not token or len(token) > 64:
        return None
    row = db.get(m.CallerToken, digest(token))
    if row is None or row.purpose != CONVERSATION:
        return None
    if (
        not cookie
        or not row.cookie_hash
        or not secrets.compare_digest(row.cookie_hash, digest(cookie))
    ):
        return None
    return _usable(db, row, now)


def rating_session(db: DbSession, token: str, *, now: datetime) -> m.Session | None:
    if not token or len(token) > 64:
        return None
    row = db.get(m.CallerToken, digest(token))
    if row is None or row.purpose != RATING:
        return None
    return _usable(db, row, now)


def create_rating_link(
    db: DbSession, session: m.Session, user: CurrentUser, *, now: datetime
) -> str:
    """A new rating token for a phone session (the assignee asks; the route audits)."""
    token = new_token()
    db.add(
        m.CallerToken(
            token_hash=digest(token),
            session_id=session.id,
            purpose=RATING,
            cookie_hash=None,
            created_at=now,
            created_by=user.id,
        )
    )
    return token


# -- messages -----------------------------------------------------------------------------


def _add_message(
    db: DbSession,
    session: m.Session,
    *,
    sender: str,
    text: str,
    now: datetime,
    message_id: str | None = None,
    author: m.User | None = None,
    attachment_ids: list[str] | None = None,
) -> m.Message:
    message = m.Message(
        id=message_id or f"cm-{uuid.uuid4().hex}",
        session_id=session.id,
        sender=sender,
        author_id=author.id if author else None,
        author_name=author.display_name if author else "",
        text=text,
        attachment_ids=list(attachment_ids or []),
        created_at=now,
    )
    db.add(message)
    db.flush()
    record(db, K.MESSAGE, message.id, audience=audience_of(session), now=now)
    wake_at_commit(db, [f"c:{session.id}"])
    return message


def caller_message(
    db: DbSession,
    session: m.Session,
    *,
    text: str,
    address: str,
    now: datetime,
    image: bytes | None = None,
) -> m.Message:
    """The caller writes (text, or a photo already cleaned by :func:`clean_image`).

    Raises:
        PublicRefusal: empty or too long, the session closed, past the limits.
    """
    text = text.strip()
    if image is None and not text:
        raise PublicRefusal(422, "invalid", "请输入要发送的内容")
    if len(text) > MESSAGE_MAX_LEN:
        raise PublicRefusal(
            422,
            "too_long",
            f"一条消息最多 {MESSAGE_MAX_LEN} 字（现为 {len(text)} 字），请分几条发送",
        )
    if session.state == S.CLOSED.value:
        raise PublicRefusal(
            409, "closed", "这次咨询已经结束，不能再发送消息；如有新问题请重新发起咨询"
        )
    check_and_count(db, address, "message", now=now)
    attachment_ids: list[str] = []
    if image is not None:
        data, content_type, width, height = clean_image(image)
        attachment = m.Attachment(
            id=f"at-{uuid.uuid4().hex}",
            session_id=session.id,
            content_type=content_type,
            data=data,
            size=len(data),
            width=width,
            height=height,
            created_at=now,
        )
        db.add(attachment)
        attachment_ids.append(attachment.id)
    message = _add_message(
        db, session, sender="caller", text=text, now=now, attachment_ids=attachment_ids
    )
    payload = {
        **session_brief(session),
        "message_id": message.id,
        "text": text[:80],
        "photo": bool(attachment_ids),
    }
    if session.assignee_id is not None:
        publish(db, "message_received", payload, user_ids=[session.assignee_id])
    else:
        publish(db, "message_received", payload, team_id=session.team_id, for_team=True)
    return message


def clean_image(raw: bytes) -> tuple[bytes, str, int, int]:
    """A JPEG or PNG decoded and encoded again (no metadata, nothing but the pixels),
    scaled to at most :data:`MAX_SIDE`.

    Raises:
        PublicRefusal: not a JPEG/PNG picture, or too large in pixels (415/413).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as probe:
            kind = probe.format
            width, height = probe.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise PublicRefusal(415, "not_image", "只能发送 JPG 或 PNG 格式的照片或截图") from None
    if kind not in ("JPEG", "PNG"):
        raise PublicRefusal(415, "not_image", "只能发送 JPG 或 PNG 格式的照片或截图")
    if width * height > MAX_PIXELS:
        raise PublicRefusal(413, "too_large", "照片分辨率过高，请截图或压缩后再发送")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            from PIL import ImageOps

            img = ImageOps.exif_transpose(img) or img
            if kind == "JPEG" or img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                img = img.convert("RGB")
            elif img.mode == "P":
                img = img.convert("RGBA")
            img.thumbnail((MAX_SIDE, MAX_SIDE))
            out = io.BytesIO()
            if kind == "JPEG":
                img.save(out, "JPEG", quality=85, optimize=True)
            else:
                img.save(out, "PNG", optimize=True)
            width, height = img.size
    except (OSError, ValueError, Image.DecompressionBombError):
        raise PublicRefusal(415, "not_image", "照片无法读取，请换一张 JPG 或 PNG 图片") from None
    content_type = "image/jpeg" if kind == "JPEG" else "image/png"
    return out.getvalue(), content_type, width, height


def caller_view(db: DbSession, session: m.Session, *, after: int = 0) -> dict[str, Any]:
    """What the caller's page shows: the messages after ``after`` (their ``seq``), who is
    helping (name and staff number once accepted), the state and whether to rate."""
    rows = list(
        db.scalars(
            select(m.Message)
            .where(m.Message.session_id == session.id, m.Message.seq > after)
            .order_by(m.Message.seq)
            .limit(200)
        )
    )
    helper = None
    if session.assignee_id is not None and session.accepted_at is not None:
        user = db.get(m.User, session.assignee_id)
        if user is not None:
            helper = {"name": user.display_name, "staff_number": user.staff_number or ""}
    rated = (
        db.scalar(
            select(func.count())
            .select_from(m.Evaluation)
            .where(m.Evaluation.session_id == session.id)
        )
        or 0
    ) > 0
    last = rows[-1].seq if rows else after
    # A staff message carrying this session's own screen-share link gets a button to
    # tap; no other address in a message is ever made a link.
    joins = (
        {
            url
            for link in db.scalars(select(m.ShareLink).where(m.ShareLink.session_id == session.id))
            if (url := share.join_url_of(link))
        }
        if any(r.sender == "staff" and "/j/" in r.text for r in rows)
        else set()
    )
    return {
        "messages": [
            {
                "seq": r.seq,
                "id": r.id,
                "from": r.sender,
                "name": r.author_name if r.sender == "staff" else "",
                "text": r.text,
                "photos": list(r.attachment_ids or []),
                "at": r.created_at.isoformat(timespec="seconds"),
                "links": sorted(u for u in joins if r.sender == "staff" and u in r.text),
                "notice": r.sender == "staff" and r.kind == "notice",
            }
            for r in rows
        ],
        "last": last,
        "state": session.state,
        "closed": session.state == S.CLOSED.value,
        "callback": session.state == S.CALLBACK_PENDING.value,
        "helper": helper,
        "rated": rated,
    }


def mark_read(db: DbSession, session: m.Session, *, upto: int, now: datetime) -> int:
    """Staff messages up to ``upto`` (their ``seq``) reached the caller's page: read.

    Each becomes a changed record (the console shows 已读) and the assignee hears of it
    live; returns how many were marked. The caller of this commits.
    """
    rows = list(
        db.scalars(
            select(m.Message).where(
                m.Message.session_id == session.id,
                m.Message.sender == "staff",
                m.Message.seq <= upto,
                m.Message.read_at.is_(None),
            )
        )
    )
    for row in rows:
        row.read_at = now
        record(db, K.MESSAGE, row.id, audience=audience_of(session), now=now)
    if rows and session.assignee_id is not None:
        payload = {**session_brief(session), "count": len(rows)}
        publish(db, "message_read", payload, user_ids=[session.assignee_id])
    return len(rows)


# -- staff: message / create --------------------------------------------------------------


def may_write(session: m.Session, user: CurrentUser) -> bool:
    """The assignee writes; a lead of the team may write too (consulting)."""
    return session.assignee_id == user.id or (
        user.role in (Role.LEAD, Role.ADMIN) and leads_team(user.actor, session.team_id)
    )


@handler(K.MESSAGE, Op.CREATE, target_kind=K.MESSAGE)
def create_message(db: DbSession, user: CurrentUser, mutation: Mutation) -> Applied:
    """A staff member's message to the caller; the first one is the session's first
    response."""
    p: MessageCreate = mutation.payload
    earlier = db.scalar(select(m.Message).where(m.Message.id == p.message_id))
    if earlier is not None:
        same = (
            earlier.session_id,
            earlier.text,
            list(earlier.attachment_ids or []),
            earlier.author_id,
        ) == (
            p.session_id,
            p.text,
            list(p.attachment_ids),
            user.id,
        )
        if same:
            return Applied(records=[(K.MESSAGE, earlier.id)])
        raise Rejected("消息编号已被使用，本消息未发送")
    session = db.get(m.Session, p.session_id, with_for_update=True)
    if session is None:
        raise Rejected("该会话不存在或已被删除")
    if session.channel != Channel.WEB_CHAT.value:
        raise Rejected("只有线上咨询会话可以给群众发消息")
    if not may_write(session, user):
        raise Rejected("只有该会话的承办人（或本班组组长）可以给群众发消息")
    if session.state == S.CLOSED.value:
        raise Rejected("该会话已办结，消息未发送")
    if not p.text and not p.attachment_ids:
        raise Rejected("消息内容不能为空")
    for attachment_id in p.attachment_ids:
        attachment = db.get(m.Attachment, attachment_id)
        if attachment is None or attachment.session_id != session.id:
            raise Rejected(f"附件（{attachment_id}）不属于该会话")
    author = db.get(m.User, user.id)
    now = datetime.now()
    message = _add_message(
        db,
        session,
        sender="staff",
        text=p.text,
        now=now,
        message_id=p.message_id,
        author=author,
        attachment_ids=list(p.attachment_ids),
    )
    entry = db.get(m.KnowledgeEntry, p.knowledge_id) if p.knowledge_id else None
    message.knowledge_id = entry.id if entry is not None else None
    message.kind = p.kind if p.kind != "text" else None
    touched = False
    if session.first_response_at is None:
        session.first_response_at = now
        add_event(db, session, "first_response", actor=author, at=now)
        touched = True
    if p.suggested and entry is not None:
        # On the timeline, and so in the figures: how often a suggestion is taken.
        add_event(
            db,
            session,
            "suggestion_sent",
            actor=author,
            at=now,
            knowledge_id=entry.id,
            title=entry.title,
            version=entry.version,
        )
        touched = True
    if touched:
        log_session(db, session, now=now)
        return Applied(records=[(K.MESSAGE, message.id), (K.SESSION, session.id)])
    return Applied(records=[(K.MESSAGE, message.id)])


def message_wire(row: m.Message) -> dict[str, Any]:
    """A message as staff pull it (no caller numbers: only what was written)."""
    return {
        "id": row.id,
        "session_id": row.session_id,
        "seq": row.seq,
        "sender": row.sender,
        "author_id": row.author_id,
        "author_name": row.author_name,
        "text": row.text,
        "attachment_ids": list(row.attachment_ids or []),
        "created_at": row.created_at.isoformat(),
        "read_at": row.read_at.isoformat() if row.read_at else None,
        "knowledge_id": row.knowledge_id,
        "kind": row.kind or "text",
    }


def _load_messages(db: DbSession, ids: list[str]) -> dict[str, m.Message]:
    return {r.id: r for r in db.scalars(select(m.Message).where(m.Message.id.in_(ids)))}


EXTRA_LOADERS[K.MESSAGE] = (_load_messages, message_wire)
