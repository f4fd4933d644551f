"""Enumerations of the domain, with the Chinese labels the UI shows."""

from __future__ import annotations

from enum import StrEnum


class ServiceType(StrEnum):
    """The three online services of T/CI 637-2024."""

    CONSULT = "consult"
    GUIDE = "guide"
    ASSIST = "assist"

    @property
    def label(self) -> str:
        return _SERVICE_LABELS[self]


_SERVICE_LABELS = {
    ServiceType.CONSULT: "咨询",
    ServiceType.GUIDE: "导办",
    ServiceType.ASSIST: "帮办",
}


class Channel(StrEnum):
    """Where a session came from."""

    HOTLINE = "hotline"
    PHONE = "phone"
    WEB_CHAT = "web_chat"
    MINI_PROGRAM = "mini_program"
    VIDEO = "video"
    REFERRAL = "referral"
    WALK_IN = "walk_in"
    """现场: at the hall's window, usually with a queue ticket number (叫号)."""

    @property
    def label(self) -> str:
        return _CHANNEL_LABELS[self]


_CHANNEL_LABELS = {
    Channel.HOTLINE: "12345热线",
    Channel.PHONE: "窗口电话",
    Channel.WEB_CHAT: "网页",
    Channel.MINI_PROGRAM: "小程序",
    Channel.VIDEO: "视频",
    Channel.REFERRAL: "转介",
    Channel.WALK_IN: "现场",
}


class SessionState(StrEnum):
    """States of a session (DESIGN.md §5)."""

    WAITING = "waiting"
    ASSIGNED = "assigned"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    ESCALATED = "escalated"
    CALLBACK_PENDING = "callback_pending"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]

    @property
    def is_open(self) -> bool:
        return self is not SessionState.CLOSED


_STATE_LABELS = {
    SessionState.WAITING: "待接入",
    SessionState.ASSIGNED: "已分配",
    SessionState.ACTIVE: "处理中",
    SessionState.ON_HOLD: "已挂起",
    SessionState.ESCALATED: "已转办",
    SessionState.CALLBACK_PENDING: "待回电",
    SessionState.CLOSED: "已办结",
}


class Role(StrEnum):
    """Roles of a user."""

    AGENT = "agent"
    LEAD = "lead"
    ADMIN = "admin"
    EDITOR = "editor"
    """知识管理员: keeps the knowledge base (drafts, review, synonyms, import)."""

    @property
    def label(self) -> str:
        return {"agent": "坐席", "lead": "班组长", "admin": "管理员", "editor": "知识管理员"}[
            self.value
        ]

    @property
    def keeps_knowledge(self) -> bool:
        """Editors and admins (who can do everything an editor can)."""
        return self in (Role.EDITOR, Role.ADMIN)


class Outcome(StrEnum):
    """How a closed session ended."""

    RESOLVED = "resolved"
    GUIDED = "guided"
    ESCALATED_DONE = "escalated_done"
    REFERRED = "referred"
    UNRESOLVED = "unresolved"

    @property
    def label(self) -> str:
        return _OUTCOME_LABELS[self]


_OUTCOME_LABELS = {
    Outcome.RESOLVED: "已解答",
    Outcome.GUIDED: "已导办",
    Outcome.ESCALATED_DONE: "转办已答复",
    Outcome.REFERRED: "已转介",
    Outcome.UNRESOLVED: "未解决",
}


class KnowledgeKind(StrEnum):
    """材料性质 of a knowledge entry."""

    GUIDE = "办事指南"
    LAW = "法律法规"
    HOT = "热点问答"
    DAILY = "日常咨询"
    NOTICE = "通知公告"
    BUSINESS = "业务指引"


class Presence(StrEnum):
    """An agent's presence, from client heartbeats."""

    ONLINE = "online"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"

    @property
    def label(self) -> str:
        return {"online": "在线", "busy": "忙碌", "away": "离开", "offline": "离线"}[self.value]


EVALUATION_LABELS = {
    5: "非常满意",
    4: "满意",
    3: "基本满意",
    2: "不满意",
    1: "非常不满意",
}
"""好差评 levels, best first."""
