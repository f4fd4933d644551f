"""Callbacks to the systems that sent a session (issue 14): a durable outbox, signed.

When a session that came in through the intake API is accepted, escalated, put on
callback, closed or rated, :func:`session_changed` writes one
:class:`~server.models.WebhookDelivery` row **in the transaction of that change** (a
rollback drops it; a commit keeps it however the process ends). :class:`Deliverer`, a
thread in every server process, sends due rows to the key's ``callback_url``:

* a row is claimed with a conditional ``UPDATE … WHERE claimed_until IS NULL OR
  claimed_until < now`` checked by its row count, so two processes never send one row
  at the same time; a process that dies mid-send leaves a lease that runs out;
* rows of one session go out in order: a row waits while an earlier row of its session
  is still pending;
* a receiver that does not answer 2xx in time is retried with exponential backoff
  (``webhook_backoff_base_seconds`` doubled per attempt, with jitter, capped at
  ``webhook_backoff_max_seconds``) until it succeeds; admins see the failing rows and
  can ask for an attempt now (``server/api/intake.py``);
* delivery is at least once: every event carries its own ``id`` for the receiver to
  drop repeats.

Each request is signed: ``X-Bangban-Signature: v1=<hex HMAC-SHA256(secret,
"<timestamp>.<body>")>`` with ``X-Bangban-Timestamp`` (Unix seconds) and
``X-Bangban-Event-Id``. Nothing here runs on the staff member's request: their action
only adds a row.
"""

from __future__ import annotations

import hmac
import json
import logging
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased, sessionmaker

from core.enums import EVALUATION_LABELS, Outcome, SessionState
from server import models as m

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Bangban-Signature"
TIMESTAMP_HEADER = "X-Bangban-Timestamp"
EVENT_ID_HEADER = "X-Bangban-Event-Id"
USER_AGENT = "BangbanDesk-Callbacks/1"
WAKE_INFO = "bangban.callbacks"
"""``Session.info`` key of the process's :class:`Deliverer` (set by ``create_app``)."""
_WROTE = "bangban.callbacks.wrote"
_HOOKED = "bangban.callbacks.hooked"
EVENT_TYPES = ("session.accepted", "session.escalated", "session.callback", "session.closed")
RATED = "session.rated"
MAX_ERROR = 300
BATCH = 20


# -- signing --------------------------------------------------------------------------


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 with ``secret`` over ``"<timestamp>." + body``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, "sha256")
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` at ``timestamp`` (constant time)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header or "")


# -- writing the outbox ------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() if value is not None else None


def session_status(session: m.Session, rating: m.Evaluation | None) -> dict[str, Any]:
    """What another system may know of its session (never the caller's numbers)."""
    state = SessionState(session.state)
    outcome = Outcome(session.outcome) if session.outcome else None
    escalation = session.escalation or None
    return {
        "session_id": session.id,
        "state": state.value,
        "state_label": state.label,
        "outcome": outcome.value if outcome else None,
        "outcome_label": outcome.label if outcome else None,
        "close_summary": (session.close_summary or "") if state is SessionState.CLOSED else "",
        "accepted_at": _iso(session.accepted_at),
        "closed_at": _iso(session.closed_at),
        "due_at": _iso(session.due_at),
        "callback_due_at": _iso(session.callback_due_at),
        "escalation": (
            {
                "department": escalation.get("department", ""),
                "complexity": escalation.get("complexity", ""),
                "contact_due_at": escalation.get("contact_due_at"),
                "due_at": escalation.get("due_at"),
                "provisional": bool(escalation.get("provisional")),
            }
            if escalation
            else None
        ),
        "rating": (
            {"score": rating.score, "label": EVALUATION_LABELS.get(rating.score, "")}
            if rating is not None
            else None
        ),
    }


def session_changed(db: DbSession, session: m.Session, kind: str, *, now: datetime) -> None:
    """Queue a callback about ``session`` if it came from a key with a callback URL.

    ``kind`` is ``accepted``, ``escalated``, ``callback``, ``closed`` or ``rated``; any
    other action of a session is not told. Runs in the caller's transaction.
    """
    if f"session.{kind}" not in (*EVENT_TYPES, RATED):
        return
    intake = db.get(m.IntakeRecord, session.id)
    if intake is None:
        return
    key = db.get(m.ApiKey, intake.api_key_id)
    if key is None or not key.callback_url:
        return
    db.flush()
    rating = db.scalar(select(m.Evaluation).where(m.Evaluation.session_id == session.id))
    event_id = str(uuid.uuid4())
    payload = {
        "id": event_id,
        "type": f"session.{kind}",
        "occurred_at": _iso(now),
        "external_id": intake.external_id,
        "session": session_status(session, rating),
    }
    db.add(
        m.WebhookDelivery(
            event_id=event_id,
            api_key_id=key.id,
            session_id=session.id,
            kind=payload["type"],
            payload=payload,
            state="pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
            last_error="",
        )
    )
    if not db.info.get(_HOOKED):
        db.info[_HOOKED] = True
        event.listen(db, "after_commit", _wake_after_commit)
        event.listen(db, "after_rollback", lambda d: d.info.pop(_WROTE, None))
    db.info[_WROTE] = True


def _wake_after_commit(db: DbSession) -> None:
    if db.info.pop(_WROTE, None):
        deliverer = db.info.get(WAKE_INFO)
        if isinstance(deliverer, Deliverer):
            deliverer.wake()


# -- delivering ---------------------------------------------------------------------------


def backoff(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the next try after ``attempts`` failed ones: base·2^(n-1), ±25 %."""
    delay = min(cap, base * (2 ** max(0, min(attempts - 1, 40))))
    jitter = (rng or random).uniform(0.75, 1.0)
    return min(cap, delay * jitter)


def due_ids(db: DbSession, now: datetime, limit: int = BATCH) -> list[int]:
    """Pending rows whose time has come, unclaimed, with no earlier pending row of
    their session (the order per session), oldest first."""
    earlier = aliased(m.WebhookDelivery)
    blocked = (
        select(earlier.id)
        .where(
            earlier.session_id == m.WebhookDelivery.session_id,
            earlier.id < m.WebhookDelivery.id,
            earlier.state == "pending",
        )
        .exists()
    )
    rows = db.scalars(
        select(m.WebhookDelivery.id)
        .where(
            m.WebhookDelivery.state == "pending",
            m.WebhookDelivery.next_attempt_at <= now,
            or_(
                m.WebhookDelivery.claimed_until.is_(None),
                m.WebhookDelivery.claimed_until < now,
            ),
            ~blocked,
        )
        .order_by(m.WebhookDelivery.id)
        .limit(limit)
    )
    return list(rows)


def claim(db: DbSession, row_id: int, now: datetime, lease: float) -> bool:
    """Take ``row_id`` for this process (a conditional UPDATE; False if another did)."""
    won = db.execute(
        update(m.WebhookDelivery)
        .where(
            m.WebhookDelivery.id == row_id,
            m.WebhookDelivery.state == "pending",
            or_(
                m.WebhookDelivery.claimed_until.is_(None),
                m.WebhookDelivery.claimed_until < now,
            ),
        )
        .values(
            claimed_until=now + timedelta(seconds=lease),
            attempts=m.WebhookDelivery.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.commit()
    return bool(won)


def post(url: str, secret: str, payload: dict[str, Any], timeout: float) -> tuple[int | None, str]:
    """Send one signed callback; returns (HTTP status or None, error text or "")."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(secret, timestamp, body),
            EVENT_ID_HEADER: str(payload.get("id", "")),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read(4096)
            return int(answer.status), ""
    except urllib.error.HTTPError as exc:
        return int(exc.code), f"接收方答复 HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, _words(getattr(exc, "reason", exc), timeout)


def _words(reason: object, timeout: float) -> str:
    """Why a callback did not arrive, in words for the admins' list."""
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"接收方在 {timeout:g} 秒内没有答复"
    if isinstance(reason, ConnectionRefusedError):
        return "接收方拒绝连接（地址或端口不对，或对方服务未启动）"
    if isinstance(reason, socket.gaierror):
        return "找不到接收方主机（域名无法解析）"
    if isinstance(reason, ssl.SSLError):
        return "与接收方的加密连接失败（证书或协议问题）"
    if isinstance(reason, ConnectionError):
        return "与接收方的连接中断"
    return f"无法送达（{type(reason).__name__}）"


class Deliverer:
    """The per-process delivery thread; :meth:`wake` after a commit wrote rows."""

    def __init__(self, sessions: sessionmaker[DbSession], settings: Any) -> None:
        self._sessions = sessions
        self._settings = settings
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="callbacks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self._join_timeout())
            self._thread = None

    def _join_timeout(self) -> float:
        return float(self._settings.webhook_timeout_seconds) + 5.0

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        poll = float(self._settings.webhook_poll_seconds)
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("callback delivery round failed")
                busy = False
            if busy:
                continue
            self._wake.wait(poll)
            self._wake.clear()

    def run_once(self) -> bool:
        """Send what is due now; True when something was attempted."""
        s = self._settings
        attempted = False
        with self._sessions() as db:
            for row_id in due_ids(db, datetime.now()):
                if self._stop.is_set():
                    break
                if not claim(db, row_id, datetime.now(), float(s.webhook_lease_seconds)):
                    continue
                attempted = True
                self._deliver(db, row_id)
        return attempted

    def _deliver(self, db: DbSession, row_id: int) -> None:
        s = self._settings
        row = db.get(m.WebhookDelivery, row_id)
        if row is None:
            return
        key = db.get(m.ApiKey, row.api_key_id)
        url = key.callback_url if key is not None else ""
        payload, attempts = dict(row.payload), row.attempts
        db.rollback()  # hold no transaction open while the receiver takes its time
        if not url or key is None:
            status, error = None, "集成密钥已删除或未设置回调地址"
        else:
            status, error = post(url, key.signing_secret, payload, s.webhook_timeout_seconds)
        now = datetime.now()
        ok = status is not None and 200 <= status < 300
        values: dict[str, Any] = {"claimed_until": None, "last_status": status}
        if ok:
            values.update(state="delivered", delivered_at=now, last_error="")
            self.sent += 1
        else:
            wait = backoff(
                attempts,
                float(s.webhook_backoff_base_seconds),
                float(s.webhook_backoff_max_seconds),
            )
            values.update(
                last_error=(error or "接收方未确认")[:MAX_ERROR],
                next_attempt_at=now + timedelta(seconds=wait),
            )
            log.warning(
                "callback %s to key %s failed (attempt %d, status %s); next in %.1f s",
                row_id,
                row.api_key_id,
                attempts,
                status,
                wait,
            )
        db.execute(
            update(m.WebhookDelivery)
            .where(m.WebhookDelivery.id == row_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        db.commit()


# -- for admins ---------------------------------------------------------------------------


def failing_filter() -> Any:
    """Pending rows whose last try failed (a first try still in flight is not failing)."""
    return and_(
        m.WebhookDelivery.state == "pending",
        m.WebhookDelivery.attempts > 0,
        m.WebhookDelivery.last_error != "",
    )


def backlog(db: DbSession) -> int:
    """Callbacks not yet delivered (for ``/metrics``)."""
    return int(
        db.scalar(
            select(func.count())
            .select_from(m.WebhookDelivery)
            .where(m.WebhookDelivery.state == "pending")
        )
        or 0
    )


def retry_now(db: DbSession, row_id: int, now: datetime) -> bool:
    """Make a pending row due at once (an admin's 重试); False when not pending."""
    return bool(
        db.execute(
            update(m.WebhookDelivery)
            .where(m.WebhookDelivery.id == row_id, m.WebhookDelivery.state == "pending")
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    )
