"""A screen-share link as the client sees it (the ``share_link`` record), and the words
the staff member reads out or sends: the grouped code, the SMS text, the countdown.

Pure Python: the panel in ``ui/share_panel.py`` shows these values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

LIVE, OPENED, CONSENTED, EXPIRED, REVOKED = "live", "opened", "consented", "expired", "revoked"
LIVE_STATES = frozenset({LIVE, OPENED, CONSENTED})

STATE_LABELS = {
    LIVE: "等待对方打开",
    OPENED: "对方已打开页面",
    CONSENTED: "已同意共享",
    EXPIRED: "已过期",
    REVOKED: "已撤销",
}


@dataclass(frozen=True)
class ShareLinkInfo:
    """One share link record (see ``server.services.share.wire``)."""

    id: str
    session_id: str
    code: str
    check_phrase: str
    state: str
    created_at: datetime
    expires_at: datetime
    join_url: str
    helper_name: str = ""
    helper_number: str = ""
    helper_office: str = ""
    opened_at: datetime | None = None
    consented_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ShareLinkInfo:
        """Read a record; raises ``ValueError`` when it is not a share link."""
        try:
            helper = data.get("helper") or {}
            return cls(
                id=str(data["id"]),
                session_id=str(data["session_id"]),
                code=str(data["code"]),
                check_phrase=str(data.get("check_phrase") or ""),
                state=str(data["state"]),
                created_at=datetime.fromisoformat(str(data["created_at"])),
                expires_at=datetime.fromisoformat(str(data["expires_at"])),
                join_url=str(data.get("join_url") or ""),
                helper_name=str(helper.get("name") or ""),
                helper_number=str(helper.get("staff_number") or ""),
                helper_office=str(helper.get("office") or ""),
                opened_at=_when(data.get("opened_at")),
                consented_at=_when(data.get("consented_at")),
                revoked_at=_when(data.get("revoked_at")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a share link record: {exc}") from exc

    def state_at(self, now: datetime) -> str:
        """The state at ``now``: a live link past its expiry is expired."""
        if self.state in LIVE_STATES and now >= self.expires_at:
            return EXPIRED
        return self.state

    def is_live(self, now: datetime) -> bool:
        return self.state_at(now) in LIVE_STATES

    @property
    def words(self) -> list[str]:
        return self.check_phrase.split()


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def newest(records: list[dict[str, Any]]) -> ShareLinkInfo | None:
    """The newest readable link among a session's records."""
    links = []
    for data in records:
        try:
            links.append(ShareLinkInfo.from_wire(data))
        except ValueError:
            continue
    return max(links, key=lambda link: (link.created_at, link.id), default=None)


def group_code(code: str) -> str:
    """Digits in groups that are easy to read out: 123 456, 123 4567, 1234 5678,
    123 456 789, 123 456 7890 (the join page shows the code the same way)."""
    if len(code) <= 4:
        return code
    if len(code) <= 8:
        cut = 3 if len(code) <= 7 else 4
        return f"{code[:cut]} {code[cut:]}"
    return f"{code[:3]} {code[3:6]} {code[6:]}"


def remaining_text(seconds: float) -> str:
    """``29:05`` for the countdown; ``1:02:03`` past an hour; ``0:00`` when over."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def sms_text(link: ShareLinkInfo) -> str:
    """The text message the staff member sends to the caller.

    It names the helper and says what to check, but never contains the check phrase:
    the phrase travels by voice, so a forged message cannot carry it.
    """
    office = link.helper_office or "政务服务中心"
    who = link.helper_name or "工作人员"
    number = f"（工号{link.helper_number}）" if link.helper_number else ""
    return (
        f"您好，我是{office}工作人员{who}{number}。"
        f"远程帮办共享码：{link.code}。"
        f"请用手机浏览器打开 {link.join_url} ，"
        "核对页面上的工作人员姓名、工号和电话里念的暗语，一致后再同意共享屏幕。"
        f"{link.expires_at:%H:%M}前有效。"
        "工作人员不会索要验证码、银行卡密码，不会要求转账。"
    )


def usable(link: ShareLinkInfo, now: datetime | None = None) -> bool:
    """Whether the link can still be sent: live (or opened, agreed) and not expired."""
    return link.state in LIVE_STATES and link.expires_at > (now or datetime.now())


def chat_text(link: ShareLinkInfo) -> str:
    """The link as a message in an online consultation.

    Unlike the text message, it carries the check phrase: it arrives in the caller's own
    conversation page (bound to their browser), the channel the phrase must come by.
    On a phone the join page explains what a phone can and cannot share.
    """
    return (
        f"请点击下面的链接进入远程帮办（共享码 {group_code(link.code)}，"
        f"{link.expires_at:%H:%M}前有效）：\n{link.join_url}\n"
        f"打开后请核对：页面上的暗语应为“{link.check_phrase}”，工作人员为"
        f"{link.helper_name or '本中心工作人员'}"
        f"{'（工号' + link.helper_number + '）' if link.helper_number else ''}。"
        "一致后再同意共享；工作人员不会索要验证码、密码，不会要求转账。"
    )
