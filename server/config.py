"""Server settings: one typed object, read from arguments and ``BANGBAN_*`` variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_data_dir


def default_database_url() -> str:
    path = Path(user_data_dir("bangban-server", appauthor=False)) / "bangban.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


@dataclass
class ServerSettings:
    """Everything the server can be told, with its default."""

    database_url: str = field(
        default_factory=lambda: os.environ.get("BANGBAN_DATABASE_URL") or default_database_url()
    )
    token_ttl_hours: float = 12.0
    page_limit_max: int = 2000
    page_limit_default: int = 500
    log_level: str = field(default_factory=lambda: os.environ.get("BANGBAN_LOG_LEVEL", "info"))
    """Of the JSON-lines log on stderr (``server/logs.py``); request lines are ``info``."""
    tombstone_horizon_days: float = 30.0
    """Superseded change rows and tombstones older than this are purged by ``compact``."""
    mutation_resend_days: float = 30.0
    """Mutation ids are remembered (a resend is a duplicate) for this long; ``compact``."""
    event_retention_days: float = 2.0
    """Live events older than this are trimmed by ``compact`` (the newest always stays)."""
    audit_retention_days: float = 3 * 365.0
    """Audit rows are kept for this long (three years), then trimmed by ``compact``."""
    knowledge_self_publish: bool = field(
        default_factory=lambda: (
            os.environ.get("BANGBAN_KNOWLEDGE_SELF_PUBLISH", "") in ("1", "true")
        )
    )
    """Whether an editor may approve their own edits (off: a second editor or an admin)."""
    knowledge_expiry_days: int = 30
    """The 即将失效 list shows entries expiring within this many days unless asked."""
    first_response_seconds: int = 60
    agent_capacity_default: int = 4
    presence_timeout_seconds: int = 90
    auto_assign: bool = True
    """Hand waiting sessions to the least-loaded online agent of the team."""
    rectification_working_days: int = 5
    """Working days a lead has to follow up a rating of 1-2 (差评整改)."""
    callback_working_days: int = 1
    """Default deadline of a 待回电 work order, in working days."""
    share_link_minutes: int = 30
    opening_hours: str = field(
        default_factory=lambda: os.environ.get("BANGBAN_OPENING_HOURS", "09:00-17:00")
    )
    """When staff answer online consultations on working days (``core/opening_hours.py``);
    outside them the caller's start page takes a callback request."""
    chat_default_team: str = field(
        default_factory=lambda: os.environ.get("BANGBAN_CHAT_DEFAULT_TEAM", "")
    )
    """The team of a consultation whose matter has no team in ``matter_teams`` (empty:
    the first team)."""
    caller_token_days: float = 7.0
    """A caller's conversation or rating link stops working this long after the session
    closes."""
    chat_new_per_address_hour: int = field(
        default_factory=lambda: int(os.environ.get("BANGBAN_CHAT_NEW_PER_ADDRESS_HOUR", "5"))
    )
    """New conversations one address may start in an hour."""
    chat_new_per_hour: int = field(
        default_factory=lambda: int(os.environ.get("BANGBAN_CHAT_NEW_PER_HOUR", "600"))
    )
    """New conversations from all addresses together in an hour."""
    chat_messages_per_address_minute: int = field(
        default_factory=lambda: int(
            os.environ.get("BANGBAN_CHAT_MESSAGES_PER_ADDRESS_MINUTE", "20")
        )
    )
    """Caller messages one address may send in a minute."""
    chat_messages_per_minute: int = field(
        default_factory=lambda: int(os.environ.get("BANGBAN_CHAT_MESSAGES_PER_MINUTE", "3000"))
    )
    """Caller messages from all addresses together in a minute."""
    chat_image_max_bytes: int = 3 * 1024 * 1024
    """The largest photo a caller may send (as uploaded)."""
    share_provider: str = field(
        default_factory=lambda: os.environ.get("BANGBAN_SHARE_PROVIDER", "jitsi")
    )
    jitsi_base_url: str = field(
        default_factory=lambda: os.environ.get("BANGBAN_JITSI_URL", "https://meet.jit.si")
    )
    jitsi_app_id: str = field(default_factory=lambda: os.environ.get("BANGBAN_JITSI_APP_ID", ""))
    jitsi_app_secret: str = field(
        default_factory=lambda: os.environ.get("BANGBAN_JITSI_APP_SECRET", "")
    )
    share_url_template: str = field(
        default_factory=lambda: os.environ.get("BANGBAN_SHARE_URL_TEMPLATE", "")
    )
    public_base_url: str = field(default_factory=lambda: os.environ.get("BANGBAN_PUBLIC_URL", ""))
    """Where callers reach the join pages; empty means the address the request came to."""
    trusted_proxies: str = field(
        default_factory=lambda: os.environ.get("BANGBAN_TRUSTED_PROXIES", "")
    )
    """Addresses or networks (comma-separated) of reverse proxies whose ``X-Forwarded-For``
    is believed; by default nobody's, so rate limits count the address that connected."""
    max_connections: int = field(
        default_factory=lambda: int(os.environ.get("BANGBAN_MAX_CONNECTIONS", "1000"))
    )
    """Connections and requests one server process serves at once (uvicorn's
    ``limit_concurrency``; each signed-in client holds one long poll)."""
    header_timeout_seconds: float = 10.0
    """A request line and its headers must arrive within this (slow clients are cut off)."""
    open_body_seconds: float = 10.0
    """The body of a request without a token (login, the join form) must arrive within this."""
    refresh_ttl_days: float = 14.0
    """A refresh token (kept in the client's keyring) lasts this long after its last use."""
    webhooks_enabled: bool = field(
        default_factory=lambda: os.environ.get("BANGBAN_WEBHOOKS", "1") not in ("0", "off")
    )
    """Run the callback delivery thread in this process (``services/callbacks.py``)."""
    webhook_poll_seconds: float = 2.0
    """How often the delivery thread looks for due callbacks (a commit here wakes it)."""
    webhook_backoff_base_seconds: float = 5.0
    """The first retry waits this long, each further one twice as long (with jitter)."""
    webhook_backoff_max_seconds: float = 3600.0
    """Retries never wait longer than this; delivery is retried until it succeeds."""
    webhook_timeout_seconds: float = 10.0
    """Connect and read timeout of one callback request."""
    webhook_retention_days: float = 30.0
    """Delivered callbacks are trimmed by ``compact`` after this long (pending ones never)."""
    webhook_lease_seconds: float = 60.0
    """A claimed callback is left to its process this long before another may send it."""
