"""Screen-share links (屏幕共享链接, DESIGN.md §6): creation, expiry, revocation, consent.

A link belongs to one session and carries an unguessable room name, a short numeric
join code that can be read out over the phone, an expiry and a check phrase of two
common words that the staff member reads out and the caller compares with the join
page. One session has at most one live link; a new one revokes the old.

Every change of a link's state (created → opened → consented; or expired / revoked)
is, in one transaction: a timeline event of the session (synced with the session),
a change row of the ``share_link`` kind (synced as its own record), and an event to
the staff member on the long-poll stream. Expiry is lazy: a link past its expiry is
marked expired by whoever reads it next.
"""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from core.enums import SessionState
from core.protocol import RecordKind
from server import models as m
from server.audit import record_audit
from server.changes import record
from server.config import ServerSettings
from server.services import share_providers as providers
from server.services.events import publish
from server.services.pull import EXTRA_LOADERS
from server.services.sessions import add_event, audience_of, log_session

KIND = RecordKind.SHARE_LINK
EVENT_KIND = "share_link"

LIVE, OPENED, CONSENTED, EXPIRED, REVOKED = "live", "opened", "consented", "expired", "revoked"
LIVE_STATES = frozenset({LIVE, OPENED, CONSENTED})
"""States in which the join code still leads to the room."""

CODE_DIGITS = (9, 10)
"""Lengths of new join codes: nine digits, ten when the nine-digit space is crowded."""
ACCEPTED_DIGITS = (6, 10)
"""Lengths a typed code may have (links made before codes grew to nine digits had 6-8)."""
CODE_TRIES_PER_LENGTH = 20
MIN_MINUTES, MAX_MINUTES = 5, 120

# Guessing join codes (README, "Join codes"). The security bound is the cap across all
# addresses: at most GLOBAL_WRONG_PER_HOUR wrong codes are checked per hour, whoever
# sends them. With nine-digit codes (9 × 10^8) and 100 live links, a guess hits with
# probability 1/9 000 000: expected 15 000 hours (1.7 years) at that rate.
FREE_WRONG_CODES = 5
"""Wrong codes one address may try per :data:`WRONG_CODE_WINDOW` before it is slowed."""
WRONG_CODE_WINDOW = timedelta(minutes=15)
HOLD_MAX_SECONDS = 20.0
"""The longest an answer to a slowed address is held (2 s, 4 s, 8 s … this)."""
GLOBAL_WRONG_PER_HOUR = 600
"""Wrong codes checked per hour across all addresses; past it, no code is checked."""
ATTEMPTS_KEPT = timedelta(days=1)

CALLER_NAME = "群众"
"""The caller's name in the room: the join page never asks for personal data."""

# Two of these make a check phrase. Everyday, concrete, easy to say and hear over a
# phone line, no near-homophones of each other, and nothing that sounds like money,
# banks or codes (the words fraudsters use).
PHRASE_WORDS = (
    "苹果", "西瓜", "葡萄", "橘子", "香蕉", "草莓", "桃子", "樱桃", "菠萝", "柚子",
    "月亮", "太阳", "星星", "白云", "彩虹", "雪花", "春风", "细雨", "朝霞", "晚霞",
    "高山", "大海", "森林", "草原", "小溪", "湖泊", "沙滩", "瀑布", "海岛", "峡谷",
    "熊猫", "老虎", "燕子", "孔雀", "骏马", "山羊", "白鹅", "金鱼", "蝴蝶", "蜜蜂",
    "荷花", "梅花", "菊花", "兰花", "松树", "柳树", "竹子", "枫叶", "稻田", "麦穗",
    "火车", "轮船", "飞机", "汽车", "帆船", "灯塔", "大桥", "风车", "气球", "风筝",
    "灯笼", "饺子", "面条", "包子", "汤圆", "月饼", "茶杯", "书包", "铅笔", "毛笔",
    "钢琴", "二胡", "笛子", "锣鼓", "剪纸", "象棋", "围棋", "足球", "篮球", "排球",
    "长城", "黄河", "长江", "泰山", "黄山", "西湖", "故宫", "天坛", "花园", "公园",
    "雨伞", "围巾", "手套", "帽子", "台灯", "闹钟", "镜子", "枕头", "窗花", "门帘",
)  # fmt: skip


class ShareError(Exception):
    """A request the service refuses; ``status`` and ``message`` (Chinese) for the API."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Helper:
    """Who is helping, as the join page and the SMS show it."""

    name: str
    staff_number: str
    office: str
    team: str

    def to_wire(self) -> dict[str, str]:
        return {
            "name": self.name,
            "staff_number": self.staff_number,
            "office": self.office,
            "team": self.team,
        }


# -- small pieces ------------------------------------------------------------------------


def new_room() -> str:
    """An unguessable room name: 128 random bits, lower case (Jitsi folds case)."""
    return "bangban-" + secrets.token_hex(16)


def new_check_phrase(choose: Callable[[int], int] = secrets.randbelow) -> str:
    """Two different words of :data:`PHRASE_WORDS`, separated by a space."""
    first = choose(len(PHRASE_WORDS))
    second = choose(len(PHRASE_WORDS) - 1)
    if second >= first:
        second += 1
    return f"{PHRASE_WORDS[first]} {PHRASE_WORDS[second]}"


def live_codes(db: DbSession, now: datetime) -> set[str]:
    """Join codes of links that are live now (whatever the lazy state says)."""
    rows = db.scalars(
        select(m.ShareLink.code).where(
            m.ShareLink.state.in_(LIVE_STATES), m.ShareLink.expires_at > now
        )
    )
    return set(rows)


def new_code(db: DbSession, now: datetime, choose: Callable[[int], int] = secrets.randbelow) -> str:
    """A numeric join code that no live link uses: six digits while they are easy to
    find, seven or eight when the six-digit space is crowded."""
    taken = live_codes(db, now)
    for digits in CODE_DIGITS:
        for _ in range(CODE_TRIES_PER_LENGTH):
            # The first digit is never 0, so the code keeps its length when read out
            # or typed into a field that drops leading zeros.
            code = str(10 ** (digits - 1) + choose(9 * 10 ** (digits - 1)))
            if code not in taken:
                return code
    raise ShareError(503, "codes_exhausted", "暂时无法分配共享码，请稍后再试")


def normalize_code(text: str) -> str:
    """What the caller typed, as a code: full-width digits folded, spaces and dashes
    dropped. Returns "" for anything that cannot be a code."""
    folded = unicodedata.normalize("NFKC", (text or "")[:64])
    digits = "".join(ch for ch in folded if ch not in " -_\u3000\t")
    if not digits.isascii() or not digits.isdigit():
        return ""
    if not ACCEPTED_DIGITS[0] <= len(digits) <= ACCEPTED_DIGITS[-1]:
        return ""
    return digits


def effective_state(link: m.ShareLink, now: datetime | None = None) -> str:
    """The state as it is now, even before the lazy expiry has been written."""
    now = now or datetime.now()
    if link.state in LIVE_STATES and link.expires_at <= now:
        return EXPIRED
    return link.state


def helper_of(db: DbSession, link: m.ShareLink) -> Helper:
    user = db.get(m.User, link.created_by) if link.created_by is not None else None
    if user is None:
        return Helper("", "", "", "")
    team = user.team
    return Helper(
        user.display_name, user.staff_number, team.office if team else "", team.name if team else ""
    )


def join_url_of(link: m.ShareLink) -> str:
    return str((link.consent_detail or {}).get("join_url") or "")


def join_url_for(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/j/{code}"


# -- the wire shape and the pull loader ----------------------------------------------------


@dataclass
class LinkView:
    """A link with what its wire shape needs from other tables (for the pull)."""

    link: m.ShareLink
    helper: Helper

    @property
    def session_id(self) -> str:
        return self.link.session_id


def wire(link: m.ShareLink, helper: Helper, now: datetime | None = None) -> dict[str, Any]:
    """The record clients receive by sync and from the API."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": link.id,
        "session_id": link.session_id,
        "code": link.code,
        "room": link.room,
        "check_phrase": link.check_phrase,
        "provider": link.provider,
        "state": effective_state(link, now),
        "created_at": iso(link.created_at),
        "expires_at": iso(link.expires_at),
        "created_by": link.created_by,
        "opened_at": iso(link.opened_at),
        "consented_at": iso(link.consented_at),
        "revoked_at": iso(link.revoked_at),
        "join_url": join_url_of(link),
        "helper": helper.to_wire(),
    }


def _load_links(db: DbSession, ids: list[str]) -> dict[str, LinkView]:
    links = list(db.scalars(select(m.ShareLink).where(m.ShareLink.id.in_(ids))))
    return {link.id: LinkView(link, helper_of(db, link)) for link in links}


def _serialize_link(view: LinkView) -> dict[str, Any]:
    return wire(view.link, view.helper)


EXTRA_LOADERS[KIND] = (_load_links, _serialize_link)


# -- state changes -------------------------------------------------------------------------


def _announce(
    db: DbSession,
    session: m.Session,
    link: m.ShareLink,
    event_kind: str,
    *,
    actor: m.User | None,
    actor_name: str | None = None,
    now: datetime,
    **detail: Any,
) -> None:
    """One state change: timeline event, change rows and a live event, one transaction."""
    event = add_event(
        db, session, event_kind, actor=actor, at=now, link_id=link.id, state=link.state, **detail
    )
    if actor_name:
        event.actor_name = actor_name
    log_session(db, session, now=now)
    record(db, KIND, link.id, audience=audience_of(session), now=now)
    db.flush()
    publish(
        db,
        EVENT_KIND,
        {
            "session_id": session.id,
            "link_id": link.id,
            "state": link.state,
            "change": event_kind,
            "link": wire(link, helper_of(db, link), now),
        },
        user_ids={session.assignee_id, link.created_by},
    )


def expire_if_due(db: DbSession, link: m.ShareLink, now: datetime | None = None) -> bool:
    """Mark a live link past its expiry as expired (lazy expiry). True when it changed."""
    now = now or datetime.now()
    if link.state not in LIVE_STATES or link.expires_at > now:
        return False
    session = db.get(m.Session, link.session_id)
    link.state = EXPIRED
    if session is not None:
        _announce(
            db,
            session,
            link,
            "share_expired",
            actor=None,
            now=now,
            summary=f"屏幕共享链接已过期（{link.expires_at:%H:%M} 到期）",
        )
    return True


def _revoke(
    db: DbSession,
    session: m.Session,
    link: m.ShareLink,
    *,
    actor: m.User | None,
    reason: str,
    now: datetime,
) -> None:
    link.state = REVOKED
    link.revoked_at = now
    record_audit(
        db,
        at=now,
        actor_id=actor.id if actor else None,
        action="share.revoke",
        target_kind="share_link",
        target_id=link.id,
        detail={"session_id": session.id},
        reason=reason,
    )
    _announce(
        db,
        session,
        link,
        "share_revoked",
        actor=actor,
        now=now,
        reason=reason,
        summary="撤销屏幕共享链接",
    )


def create_link(
    db: DbSession,
    settings: ServerSettings,
    session_id: str,
    user_id: int,
    *,
    base_url: str,
    minutes: int | None = None,
    now: datetime | None = None,
    choose: Callable[[int], int] = secrets.randbelow,
) -> m.ShareLink:
    """Create the session's live link (the assignee only); the previous one is revoked."""
    now = now or datetime.now()
    provider = _provider(settings)
    # Lock the session row first: two clicks at once must not leave two live links.
    # (SQLite takes its write lock at the UPDATE below; PostgreSQL at FOR UPDATE.)
    session = db.get(m.Session, session_id, with_for_update=True)
    if session is None:
        raise ShareError(404, "not_found", "找不到该会话")
    if session.assignee_id != user_id:
        raise ShareError(403, "forbidden", "只有该会话的承办人才能发起屏幕共享")
    if session.state == SessionState.CLOSED.value:
        raise ShareError(409, "session_closed", "会话已办结，不能再发起屏幕共享")
    session.updated_at = now
    db.flush()
    actor = db.get(m.User, user_id)
    span = settings.share_link_minutes if minutes is None else minutes
    if not MIN_MINUTES <= span <= MAX_MINUTES:
        raise ShareError(400, "bad_minutes", f"有效期应在 {MIN_MINUTES} 到 {MAX_MINUTES} 分钟之间")
    for old in db.scalars(
        select(m.ShareLink).where(
            m.ShareLink.session_id == session.id, m.ShareLink.state.in_(LIVE_STATES)
        )
    ):
        if not expire_if_due(db, old, now):
            _revoke(db, session, old, actor=actor, reason="已重新发起共享，旧共享码作废", now=now)
    code = new_code(db, now, choose)
    link = m.ShareLink(
        id=str(uuid.uuid4()),
        session_id=session.id,
        code=code,
        room=new_room(),
        check_phrase=new_check_phrase(choose),
        provider=provider,
        state=LIVE,
        created_at=now,
        expires_at=now + timedelta(minutes=span),
        created_by=user_id,
        consent_detail={"join_url": join_url_for(settings.public_base_url or base_url, code)},
    )
    db.add(link)
    db.flush()
    _announce(
        db,
        session,
        link,
        "share_created",
        actor=actor,
        now=now,
        expires_at=link.expires_at.isoformat(timespec="seconds"),
        provider=provider,
        summary=f"发起屏幕共享，有效至 {link.expires_at:%H:%M}",
    )
    # The join code and room name open the room: they stay out of the audit row.
    record_audit(
        db,
        at=now,
        actor_id=user_id,
        action="share.create",
        target_kind="share_link",
        target_id=link.id,
        detail={
            "session_id": session.id,
            "provider": provider,
            "expires_at": link.expires_at.isoformat(timespec="seconds"),
        },
    )
    return link


def _provider(settings: ServerSettings) -> str:
    try:
        return providers.provider_name(settings)
    except providers.ProviderNotConfigured as exc:
        raise ShareError(503, "share_not_configured", exc.message) from exc


def revoke_link(
    db: DbSession, link_id: str, user_id: int, *, is_lead_of_team: Callable[[str], bool]
) -> m.ShareLink:
    """Revoke a link (its session's assignee, its creator, or a lead of the team).
    Revoking a link that is already over changes nothing."""
    now = datetime.now()
    link = db.get(m.ShareLink, link_id)
    session = db.get(m.Session, link.session_id) if link is not None else None
    if link is None or session is None:
        raise ShareError(404, "not_found", "找不到该屏幕共享链接")
    allowed = user_id in (session.assignee_id, link.created_by) or is_lead_of_team(session.team_id)
    if not allowed:
        raise ShareError(403, "forbidden", "只有承办人或班组长可以撤销该屏幕共享")
    if expire_if_due(db, link, now) or link.state not in LIVE_STATES:
        return link
    _revoke(db, session, link, actor=db.get(m.User, user_id), reason="工作人员撤销", now=now)
    return link


def revoke_for_session(
    db: DbSession,
    session_id: str,
    reason: str,
    *,
    actor: m.User | None = None,
    now: datetime | None = None,
) -> list[m.ShareLink]:
    """End the session's live links because the session itself moved on (办结, 转交,
    改派): the join code stops working and the join page no longer names the staff
    member. A link already past its expiry is marked expired instead. Returns the links
    that changed. Call it inside the handler's transaction."""
    now = now or datetime.now()
    session = db.get(m.Session, session_id)
    if session is None:
        return []
    changed = []
    for link in db.scalars(
        select(m.ShareLink).where(
            m.ShareLink.session_id == session_id, m.ShareLink.state.in_(LIVE_STATES)
        )
    ):
        if not expire_if_due(db, link, now):
            _revoke(db, session, link, actor=actor, reason=reason, now=now)
        changed.append(link)
    return changed


def current_link(db: DbSession, session_id: str) -> m.ShareLink | None:
    """The session's newest link, with its lazy expiry applied."""
    link = db.scalars(
        select(m.ShareLink)
        .where(m.ShareLink.session_id == session_id)
        .order_by(m.ShareLink.created_at.desc(), m.ShareLink.id)
        .limit(1)
    ).first()
    if link is not None:
        expire_if_due(db, link)
    return link


def staff_room_url(db: DbSession, settings: ServerSettings, link: m.ShareLink, user_id: int) -> str:
    """The staff member's way into the room (a moderator token when Jitsi signs)."""
    if expire_if_due(db, link) or link.state not in LIVE_STATES:
        raise ShareError(409, "share_over", "该屏幕共享已结束，请重新发起")
    user = db.get(m.User, user_id)
    entry = providers.RoomEntry(
        room=link.room,
        code=link.code,
        display_name=user.display_name if user else "工作人员",
        user_id=f"staff-{user_id}",
        moderator=True,
        not_before=link.created_at,
        expires_at=link.expires_at,
    )
    try:
        return providers.room_url(settings, link.provider, entry)
    except providers.ProviderNotConfigured as exc:
        raise ShareError(503, "share_not_configured", exc.message) from exc


def caller_room_url(settings: ServerSettings, link: m.ShareLink) -> str:
    entry = providers.RoomEntry(
        room=link.room,
        code=link.code,
        display_name=CALLER_NAME,
        user_id=f"caller-{link.id}",
        moderator=False,
        not_before=link.created_at,
        expires_at=link.expires_at,
    )
    return providers.room_url(settings, link.provider, entry)


# -- the caller's side -------------------------------------------------------------------


def find_by_code(db: DbSession, code: str, now: datetime | None = None) -> m.ShareLink | None:
    """The link a code leads to: the live one, else the newest that ever had it."""
    now = now or datetime.now()
    rows = list(
        db.scalars(
            select(m.ShareLink)
            .where(m.ShareLink.code == code)
            .order_by(m.ShareLink.created_at.desc())
            .limit(10)
        )
    )
    for link in rows:
        if link.state in LIVE_STATES and link.expires_at > now:
            return link
    return rows[0] if rows else None


def wrong_code_count(
    db: DbSession,
    address: str | None,
    now: datetime | None = None,
    window: timedelta = WRONG_CODE_WINDOW,
) -> int:
    """Wrong codes tried from ``address`` (None: from anywhere) within ``window``."""
    now = now or datetime.now()
    query = (
        select(func.count())
        .select_from(m.JoinAttempt)
        .where(m.JoinAttempt.ok.is_(False), m.JoinAttempt.at > now - window)
    )
    if address is not None:
        query = query.where(m.JoinAttempt.address == address[:64])
    return int(db.scalar(query) or 0)


@dataclass(frozen=True)
class Gate:
    """How a join request from one address is treated before its code is looked at."""

    closed: bool
    """Too many wrong codes across all addresses this hour: no code is checked."""
    hold_seconds: float
    """How long to hold the answer (right code or wrong) for a slowed address."""
    retry_after: int = 60


def join_gate(db: DbSession, address: str, now: datetime | None = None) -> Gate:
    """The limits of :data:`FREE_WRONG_CODES` per address and
    :data:`GLOBAL_WRONG_PER_HOUR` across all addresses.

    An address past its free wrong codes is slowed, not shut out: every answer to it,
    whatever the code, is held a little longer (so a caller with the right code behind
    the same address still gets in, and the hold says nothing about the code). Shutting
    the address out would let one guesser lock out everyone behind a shared address
    (mobile networks put thousands of people behind one).
    """
    now = now or datetime.now()
    if wrong_code_count(db, None, now, timedelta(hours=1)) >= GLOBAL_WRONG_PER_HOUR:
        return Gate(closed=True, hold_seconds=0.0, retry_after=300)
    wrong = wrong_code_count(db, address, now)
    if wrong < FREE_WRONG_CODES:
        return Gate(closed=False, hold_seconds=0.0)
    hold = min(HOLD_MAX_SECONDS, 2.0 ** (wrong - FREE_WRONG_CODES + 1))
    return Gate(closed=False, hold_seconds=hold, retry_after=int(hold) + 1)


MAX_HELD_PER_ADDRESS = 2
"""Answers held at once for one slowed address, across every server process; a guess
beyond them is refused at once (429) instead of waiting."""


def take_hold(
    factory: Callable[[], DbSession], address: str, seconds: float, now: datetime | None = None
) -> int | None:
    """Claim one of the address's hold slots for ``seconds``; the slot, or None when
    they are all taken. Each try is its own transaction: the primary key decides."""
    now = now or datetime.now()
    key = address[:64]
    with factory() as db:
        db.execute(delete(m.JoinHold).where(m.JoinHold.address == key, m.JoinHold.until < now))
        db.commit()
    for slot in range(MAX_HELD_PER_ADDRESS):
        with factory() as db:
            # A few seconds past the hold: a process that dies mid-hold frees it soon.
            db.add(m.JoinHold(address=key, slot=slot, until=now + timedelta(seconds=seconds + 5)))
            try:
                db.commit()
            except IntegrityError:
                db.rollback()
                continue
            return slot
    return None


def release_hold(factory: Callable[[], DbSession], address: str, slot: int) -> None:
    with factory() as db:
        db.execute(
            delete(m.JoinHold).where(m.JoinHold.address == address[:64], m.JoinHold.slot == slot)
        )
        db.commit()


def note_attempt(db: DbSession, address: str, ok: bool, now: datetime | None = None) -> None:
    now = now or datetime.now()
    db.execute(delete(m.JoinAttempt).where(m.JoinAttempt.at < now - ATTEMPTS_KEPT))
    db.add(m.JoinAttempt(address=address[:64], at=now, ok=ok))


def usable_link(db: DbSession, code: str, now: datetime | None = None) -> m.ShareLink | None:
    """The live link a typed code leads to; None for an unknown, expired or revoked code
    alike (the caller is told the same for each, so the answer says nothing about which
    codes were ever given out). A lazy expiry found on the way is written."""
    now = now or datetime.now()
    link = find_by_code(db, code, now) if code else None
    if link is None:
        return None
    if expire_if_due(db, link, now) or link.state not in LIVE_STATES:
        return None
    return link


def mark_opened(db: DbSession, link: m.ShareLink, *, address: str, browser: str) -> bool:
    """The caller opened the join page (first time only). True when the state changed."""
    now = datetime.now()
    if expire_if_due(db, link, now) or link.state != LIVE:
        return False
    session = db.get(m.Session, link.session_id)
    link.state = OPENED
    link.opened_at = now
    if session is not None:
        _announce(
            db,
            session,
            link,
            "share_opened",
            actor=None,
            actor_name=CALLER_NAME,
            now=now,
            address=address,
            browser=browser,
            summary=f"打开屏幕共享页面（{browser_label(browser)}）",
        )
    return True


def record_consent(
    db: DbSession, link: m.ShareLink, *, address: str, browser: str, agreed: str
) -> bool:
    """The caller agreed to share their screen. Returns False when the link is over."""
    now = datetime.now()
    if expire_if_due(db, link, now) or link.state not in LIVE_STATES:
        return False
    session = db.get(m.Session, link.session_id)
    again = link.state == CONSENTED
    if link.opened_at is None:
        link.opened_at = now
    link.state = CONSENTED
    if not again:
        link.consented_at = now
    detail = dict(link.consent_detail or {})
    detail["consent"] = {
        "at": now.isoformat(timespec="seconds"),
        "address": address,
        "browser": browser,
        "agreed": agreed,
    }
    link.consent_detail = detail
    record_audit(
        db,
        at=now,
        actor_id=None,
        action="share.consent",
        target_kind="share_link",
        target_id=link.id,
        detail={"session_id": link.session_id, "browser": browser, "repeated": again},
        source_ip=address,
    )
    if session is not None:
        summary = "再次同意并进入共享房间" if again else "同意共享屏幕"
        _announce(
            db,
            session,
            link,
            "share_consented",
            actor=None,
            actor_name=CALLER_NAME,
            now=now,
            address=address,
            browser=browser,
            agreed=agreed,
            repeated=True if again else None,
            summary=f"{summary}（{browser_label(browser)}，来自 {address}）",
        )
    return True


def browser_label(user_agent: str) -> str:
    """A short Chinese name of the caller's browser and system for the timeline."""
    ua = user_agent or ""
    if "MicroMessenger" in ua:
        name = "微信内置浏览器"
    elif "AlipayClient" in ua:
        name = "支付宝内置浏览器"
    elif "Edg/" in ua:
        name = "Edge 浏览器"
    elif "Firefox/" in ua:
        name = "Firefox 浏览器"
    elif "Chrome/" in ua or "Chromium/" in ua:
        name = "Chrome 内核浏览器"
    elif "Safari/" in ua:
        name = "Safari 浏览器"
    else:
        name = "未知浏览器"
    # HarmonyOS browsers also say "Android", and Android ones say "Linux": order matters.
    systems = (
        ("HarmonyOS", "鸿蒙"),
        ("Android", "安卓"),
        ("iPhone", "苹果手机"),
        ("iPad", "苹果平板"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    )
    system = next((label for key, label in systems if key in ua), "")
    return f"{system} {name}".strip()
