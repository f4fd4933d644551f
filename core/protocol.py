"""The sync protocol, typed: record kinds, mutation envelopes and every payload with its limits.

One module both sides use. The client builds each queued action from a payload type
here (:func:`wire`, which checks it the same way the server will); the server parses
every pushed action with :func:`parse_mutation` / :func:`parse_payload` before a
handler runs, and the handler reads the typed payload instead of ``dict.get()``.

A value that does not fit raises :class:`ProtocolError` naming the field, in Chinese
(「姓名（caller_name）应为文字」): the server refuses that one action with this
reason, and the actions behind it go on.

Pure Python: no pydantic, no Qt, no server.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from core.enums import Channel, Outcome, ServiceType, SessionState
from core.session_rules import Action
from core.validation import (
    INTAKE_CHANNELS,
    id_number_error,
    name_error,
    phone_error,
    ticket_error,
)


class RecordKind(StrEnum):
    """Every kind of record the server pulls or a client pushes (DESIGN.md §4)."""

    KNOWLEDGE_ENTRY = "knowledge_entry"
    MATTER_GUIDE = "matter_guide"
    WALKTHROUGH = "walkthrough"
    CALENDAR = "calendar"
    AGENT = "agent"
    SESSION = "session"
    SESSION_NOTE = "session_note"
    EVALUATION = "evaluation"
    WALKTHROUGH_RUN = "walkthrough_run"
    SHARE_LINK = "share_link"
    RECTIFICATION = "rectification"
    KNOWLEDGE_FEEDBACK = "knowledge_feedback"
    SYNONYMS = "synonyms"
    """One record (id ``all``): the editors' groups of equivalent terms."""
    MESSAGE = "message"


class Op(StrEnum):
    """What a mutation does to its kind."""

    CREATE = "create"
    TRANSITION = "transition"
    TRANSFER = "transfer"
    REASSIGN = "reassign"
    REVEAL = "reveal"
    SAVE = "save"
    ASSIGN = "assign"
    RECORD = "record"
    CLOSE = "close"


class ProtocolError(ValueError):
    """A value of a pushed action that does not fit the protocol.

    ``field`` is the payload key (``caller_name``), or ``kind`` / ``payload`` /
    ``target_id`` / ``base_seq`` / ``created_at`` for the envelope; ``reason`` a sentence
    in Chinese that names the field, shown to the person as it is.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


# -- limits -------------------------------------------------------------------------------

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]*")
"""Ids a client makes (uuids): notes, evaluations, runs, feedback, mutations."""
REFERENCE_PATTERN = re.compile(r"[^\x00-\x20\x7f]+")
"""Ids of records made elsewhere (sessions from the intake API, knowledge entries and
teams named by admins): any visible characters, no spaces or control characters."""
MAX_ID = 64
MAX_INT = 2**31 - 1
"""Every integer id fits a 32-bit column on SQLite and PostgreSQL alike."""
MAX_JSON_BYTES = 256 * 1024
EARLIEST = datetime(2000, 1, 1)
FUTURE_SLACK = timedelta(days=1)
"""A client clock may run ahead a little; a day ahead is a broken clock."""
LATEST_DUE = timedelta(days=3660)


def _name(label: str, key: str) -> str:
    return f"{label}（{key}）"


@dataclass(frozen=True)
class Spec:
    """How one payload field is read from the wire."""

    label: str
    required: bool = False

    def parse(self, key: str, value: Any, present: bool) -> Any:
        if not present or value is None:
            if self.required:
                raise ProtocolError(key, f"缺少{_name(self.label, key)}")
            return self.empty()
        return self.convert(key, value)

    def empty(self) -> Any:
        return None

    def convert(self, key: str, value: Any) -> Any:  # pragma: no cover - overridden
        return value


@dataclass(frozen=True)
class Text(Spec):
    """Text, stripped; at most ``max_len`` characters; ``nonempty`` refuses blanks."""

    max_len: int = 500
    nonempty: bool = False
    absent_is_none: bool = False
    """An absent field stays None (rectification texts: absent = not changed)."""

    def empty(self) -> Any:
        return None if self.absent_is_none and not self.nonempty else ""

    def parse(self, key: str, value: Any, present: bool) -> Any:
        result = super().parse(key, value, present)
        if self.nonempty and not result:
            raise ProtocolError(key, f"{_name(self.label, key)}不能为空")
        return result

    def convert(self, key: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise ProtocolError(key, f"{_name(self.label, key)}应为文字")
        if "\x00" in value:  # PostgreSQL refuses NUL in text: refuse it here, in words
            raise ProtocolError(key, f"{_name(self.label, key)}含有不允许的控制字符")
        value = value.strip()
        if len(value) > self.max_len:
            raise ProtocolError(key, f"{_name(self.label, key)}过长（最多 {self.max_len} 字）")
        return value


@dataclass(frozen=True)
class Id(Spec):
    """A record id, at most ``max_len`` characters; ``made_here`` ids (those the
    client makes) are letters, digits and ``._:@-`` only."""

    max_len: int = MAX_ID
    made_here: bool = False

    def convert(self, key: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise ProtocolError(key, f"{_name(self.label, key)}应为文字编号")
        value = value.strip()
        if not value:
            if self.required:
                raise ProtocolError(key, f"缺少{_name(self.label, key)}")
            return None
        if len(value) > self.max_len:
            raise ProtocolError(key, f"{_name(self.label, key)}过长（最多 {self.max_len} 个字符）")
        if not (ID_PATTERN if self.made_here else REFERENCE_PATTERN).fullmatch(value):
            raise ProtocolError(key, f"{_name(self.label, key)}格式不正确")
        return value


@dataclass(frozen=True)
class Int(Spec):
    """An integer between ``low`` and ``high`` (a JSON number, or digits as text)."""

    low: int = 1
    high: int = MAX_INT

    def convert(self, key: str, value: Any) -> Any:
        if isinstance(value, bool):
            raise ProtocolError(key, f"{_name(self.label, key)}应为整数")
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and re.fullmatch(r"-?\d{1,12}", value.strip()):
            value = int(value.strip())
        if not isinstance(value, int):
            raise ProtocolError(key, f"{_name(self.label, key)}应为整数")
        if not self.low <= value <= self.high:
            raise ProtocolError(
                key, f"{_name(self.label, key)}超出范围（{self.low} 到 {self.high}）"
            )
        return value


@dataclass(frozen=True)
class Choice(Spec):
    """One of ``values`` (text); ``default`` when absent."""

    values: tuple[str, ...] = ()
    default: str | None = None
    invalid: str = ""
    """The words for a value outside ``values`` (else 「…的取值无效」)."""

    def empty(self) -> Any:
        return self.default

    def convert(self, key: str, value: Any) -> Any:
        if not isinstance(value, str) or value not in self.values:
            if value == "" and not self.required:
                return self.default
            if self.invalid:
                raise ProtocolError(key, f"{self.invalid}（{key}）")
            raise ProtocolError(key, f"{_name(self.label, key)}的取值无效")
        return value


@dataclass(frozen=True)
class Flag(Spec):
    default: bool = False

    def empty(self) -> Any:
        return self.default

    def convert(self, key: str, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ProtocolError(key, f"{_name(self.label, key)}应为是或否（true/false）")
        return value


@dataclass(frozen=True)
class When(Spec):
    """An ISO 8601 time between 2000 and ten years ahead, as naive local time."""

    def convert(self, key: str, value: Any) -> Any:
        return parse_time(key, value, self.label, latest=datetime.now() + LATEST_DUE)


@dataclass(frozen=True)
class JsonObject(Spec):
    """A JSON object of at most ``MAX_JSON_BYTES`` (checked in depth by its own rules)."""

    def convert(self, key: str, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ProtocolError(key, f"{_name(self.label, key)}应为对象")
        try:
            size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
        except (TypeError, ValueError):
            raise ProtocolError(key, f"{_name(self.label, key)}无法读取") from None
        if size > MAX_JSON_BYTES:
            raise ProtocolError(key, f"{_name(self.label, key)}过大（最多 {MAX_JSON_BYTES} 字节）")
        return value


@dataclass(frozen=True)
class IdList(Spec):
    """A list of at most ``max_items`` distinct record ids (any visible characters)."""

    max_items: int = 4

    def empty(self) -> Any:
        return ()

    def convert(self, key: str, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ProtocolError(key, f"{_name(self.label, key)}应为编号列表")
        if len(value) > self.max_items:
            raise ProtocolError(key, f"{_name(self.label, key)}最多 {self.max_items} 个")
        one = Id(self.label, required=True)
        out: list[str] = []
        for item in value:
            ident = one.parse(key, item, True)
            if ident not in out:
                out.append(ident)
        return tuple(out)


@dataclass(frozen=True)
class PresenceOf(Spec):
    """Not a wire field: whether the field ``of`` was sent at all (absent ≠ null)."""

    of: str = ""


def parse_time(key: str, value: Any, label: str, *, latest: datetime) -> datetime:
    """A wire time as naive local time, refused outside [2000, ``latest``]."""
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str) and len(value) <= 40:
        try:
            at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ProtocolError(key, f"{_name(label, key)}的时间格式不对") from None
    else:
        raise ProtocolError(key, f"{_name(label, key)}应为 ISO 8601 时间")
    if at.tzinfo is not None:
        try:
            at = at.astimezone().replace(tzinfo=None)
        except (OverflowError, ValueError, OSError):
            raise ProtocolError(key, f"{_name(label, key)}超出合理范围") from None
    if not EARLIEST <= at <= latest:
        raise ProtocolError(key, f"{_name(label, key)}超出合理范围（{at:%Y-%m-%d}）")
    return at


def spec(s: Spec, default: Any = None) -> Any:
    """A payload field with its wire spec (keeps the dataclass declarations short)."""
    return field(default=default, metadata={"spec": s})


# -- payloads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """One mutation's payload. Subclasses set ``KIND`` and ``OP``; fields carry a spec."""

    KIND: ClassVar[RecordKind]
    OP: ClassVar[Op]
    TARGET: ClassVar[str | None] = None
    """The field naming the mutation's target record, if any."""

    def target_id(self) -> str | None:
        return getattr(self, self.TARGET) if self.TARGET else None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            s = f.metadata["spec"]
            if isinstance(s, PresenceOf):
                if not getattr(self, f.name):
                    out.pop(s.of, None)
                continue
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out


PAYLOADS: dict[tuple[str, str], type[Payload]] = {}


def _register(cls: type[Payload]) -> type[Payload]:
    PAYLOADS[(cls.KIND.value, cls.OP.value)] = cls
    return cls


def _values(enum: Any) -> tuple[str, ...]:
    return tuple(e.value for e in enum)


SESSION_ID = Id("会话编号", required=True)
REASON = Text("原因", max_len=500)
AGENT_ID = Int("坐席编号")
COMPLEXITIES = ("simple", "complex")
REVEAL_FIELDS = ("phone", "id_number", "all")
FEEDBACK_KINDS = ("correction", "new_question")
RECTIFICATION_TEXT = 2000


@_register
@dataclass(frozen=True)
class SessionCreate(Payload):
    KIND = RecordKind.SESSION
    OP = Op.CREATE
    TARGET = "session_id"

    session_id: str = spec(SESSION_ID, "")
    service_type: str = spec(Choice("服务类型", required=True, values=_values(ServiceType)), "")
    channel: str = spec(Choice("来源渠道", required=True, values=_values(Channel)), "")
    summary: str = spec(Text("诉求描述", max_len=2000), "")
    caller_name: str = spec(Text("姓名", max_len=64), "")
    caller_phone: str = spec(Text("联系电话", max_len=32), "")
    caller_id_number: str = spec(Text("身份证号", max_len=32), "")
    matter_code: str | None = spec(Id("事项编码"))
    take: bool = spec(Flag("立即接入", default=True), True)
    ticket_number: str = spec(Text("排队号", max_len=32), "")

    def fields(self) -> dict[str, Any]:
        """The fields :func:`core.validation.validate_new_session` checks."""
        return {
            "channel": self.channel,
            "service_type": self.service_type,
            "summary": self.summary,
            "caller_name": self.caller_name,
            "caller_phone": self.caller_phone,
            "caller_id_number": self.caller_id_number,
            "ticket_number": self.ticket_number,
        }


@_register
@dataclass(frozen=True)
class SessionTransition(Payload):
    KIND = RecordKind.SESSION
    OP = Op.TRANSITION
    TARGET = "session_id"

    session_id: str = spec(SESSION_ID, "")
    action: str = spec(
        Choice("会话操作", required=True, values=_values(Action), invalid="未知的会话操作"), ""
    )
    to: str | None = spec(Choice("目标状态", values=_values(SessionState)))
    reason: str = spec(REASON, "")
    outcome: str | None = spec(Choice("办理结果", values=_values(Outcome)))
    close_summary: str = spec(Text("办结摘要", max_len=2000), "")
    department: str = spec(Text("承办部门", max_len=128), "")
    complexity: str = spec(Choice("事项类型", values=COMPLEXITIES, default="simple"), "simple")
    due_at: datetime | None = spec(When("期限"))  # noqa: RUF009 - spec() is a field()


@_register
@dataclass(frozen=True)
class SessionTransfer(Payload):
    KIND = RecordKind.SESSION
    OP = Op.TRANSFER
    TARGET = "session_id"

    session_id: str = spec(SESSION_ID, "")
    to_agent_id: int | None = spec(Int("转交对象"))
    to_team_id: str | None = spec(Id("转交班组"))
    reason: str = spec(REASON, "")


@_register
@dataclass(frozen=True)
class SessionReassign(Payload):
    KIND = RecordKind.SESSION
    OP = Op.REASSIGN
    TARGET = "session_id"
    REQUIRED_KEYS: ClassVar[tuple[str, ...]] = ("expected_assignee_id",)

    session_id: str = spec(SESSION_ID, "")
    to_agent_id: int = spec(Int("改派对象", required=True), 0)
    expected_assignee_id: int | None = spec(Int("原承办人"))
    reason: str = spec(REASON, "")


@_register
@dataclass(frozen=True)
class SessionReveal(Payload):
    KIND = RecordKind.SESSION
    OP = Op.REVEAL
    TARGET = "session_id"

    session_id: str = spec(SESSION_ID, "")
    field: str = spec(Choice("号码类型", values=REVEAL_FIELDS, default="all"), "all")
    reason: str = spec(REASON, "")


@_register
@dataclass(frozen=True)
class NoteCreate(Payload):
    KIND = RecordKind.SESSION_NOTE
    OP = Op.CREATE
    TARGET = "note_id"

    note_id: str = spec(Id("备注编号", required=True, made_here=True), "")
    session_id: str = spec(SESSION_ID, "")
    text: str = spec(Text("备注内容", max_len=4000, nonempty=True), "")


@_register
@dataclass(frozen=True)
class EvaluationCreate(Payload):
    KIND = RecordKind.EVALUATION
    OP = Op.CREATE
    TARGET = "evaluation_id"

    evaluation_id: str = spec(Id("评价编号", required=True, made_here=True), "")
    session_id: str = spec(SESSION_ID, "")
    score: int = spec(Int("评价等级", required=True, low=1, high=5), 0)
    comment: str = spec(Text("评价内容", max_len=1000), "")


MESSAGE_MAX_LEN = 2000
MESSAGE_KINDS = ("text", "notice")
"""The longest chat message, on both sides (the caller's page refuses more too)."""


@_register
@dataclass(frozen=True)
class MessageCreate(Payload):
    """A staff member's chat message to the caller of a ``web_chat`` session."""

    KIND = RecordKind.MESSAGE
    OP = Op.CREATE
    TARGET = "message_id"

    message_id: str = spec(Id("消息编号", required=True, made_here=True), "")
    session_id: str = spec(SESSION_ID, "")
    text: str = spec(Text("消息内容", max_len=MESSAGE_MAX_LEN), "")
    attachment_ids: tuple[str, ...] = spec(IdList("附件编号"), ())
    knowledge_id: str | None = spec(Id("引用的知识条目"))
    """The knowledge entry the message quotes (its answer with issuing unit and version)."""
    suggested: bool = spec(Flag("采用建议答案"), False)
    """Sent from the suggestions beside the conversation (counted in the figures)."""
    kind: str = spec(Choice("消息类型", values=MESSAGE_KINDS, default="text"), "text")
    """``notice``: a walkthrough's 一次性告知, which the caller can print."""

    def to_wire(self) -> dict[str, Any]:
        out = super().to_wire()
        out["attachment_ids"] = list(self.attachment_ids)
        return out


@_register
@dataclass(frozen=True)
class WalkthroughRunSave(Payload):
    KIND = RecordKind.WALKTHROUGH_RUN
    OP = Op.SAVE
    TARGET = "run_id"

    run_id: str = spec(Id("导办记录编号", required=True, made_here=True), "")
    session_id: str = spec(SESSION_ID, "")
    walkthrough_id: str = spec(Id("导办脚本", required=True), "")
    version: int = spec(Int("脚本版本", required=True, high=1_000_000), 0)
    rev: int = spec(Int("保存序号", required=True), 0)
    """This save's number: one more than the save it was based on."""
    state: dict[str, Any] = spec(JsonObject("导办进度", required=True), None)  # noqa: RUF009

    @property
    def base_rev(self) -> int:
        return self.rev - 1


@_register
@dataclass(frozen=True)
class FeedbackCreate(Payload):
    KIND = RecordKind.KNOWLEDGE_FEEDBACK
    OP = Op.CREATE
    TARGET = "feedback_id"

    feedback_id: str = spec(Id("反馈编号", required=True, made_here=True), "")
    entry_id: str | None = spec(Id("知识条目"))
    kind: str = spec(Choice("反馈类型", required=True, values=FEEDBACK_KINDS), "")
    text: str = spec(Text("反馈内容", max_len=4000, nonempty=True), "")


@_register
@dataclass(frozen=True)
class RectificationAssign(Payload):
    KIND = RecordKind.RECTIFICATION
    OP = Op.ASSIGN
    TARGET = "rectification_id"

    rectification_id: str = spec(Id("整改编号", required=True), "")
    assignee_id: int = spec(Int("整改负责人", required=True), 0)
    expected_assignee_id: int | None = spec(Int("原负责人"))
    """The assignee the lead saw (null: unassigned); a compare-and-set when sent."""
    expected_given: bool = spec(PresenceOf("", of="expected_assignee_id"), True)


@dataclass(frozen=True)
class _RectificationTexts(Payload):
    rectification_id: str = spec(Id("整改编号", required=True), "")
    verification: str | None = spec(
        Text("核实情况", max_len=RECTIFICATION_TEXT, absent_is_none=True)
    )
    action: str | None = spec(Text("整改措施", max_len=RECTIFICATION_TEXT, absent_is_none=True))
    outcome: str | None = spec(Text("整改结果", max_len=RECTIFICATION_TEXT, absent_is_none=True))

    def texts(self) -> dict[str, str]:
        """The texts present (absent ones are left as they are)."""
        return {
            k: v
            for k in ("verification", "action", "outcome")
            if (v := getattr(self, k)) is not None
        }


@_register
@dataclass(frozen=True)
class RectificationRecord(_RectificationTexts):
    KIND = RecordKind.RECTIFICATION
    OP = Op.RECORD
    TARGET = "rectification_id"


@_register
@dataclass(frozen=True)
class RectificationClose(_RectificationTexts):
    KIND = RecordKind.RECTIFICATION
    OP = Op.CLOSE
    TARGET = "rectification_id"


# -- parsing ------------------------------------------------------------------------------


def payload_type(kind: str, op: str) -> type[Payload] | None:
    return PAYLOADS.get((kind, op))


def parse_payload(kind: str, op: str, raw: Any) -> Payload:
    """Read and check one payload.

    Raises:
        ProtocolError: an unknown kind/op, or a field that does not fit its limits.
    """
    cls = payload_type(kind, op)
    if cls is None:
        raise ProtocolError("kind", f"服务器不支持此操作（{str(kind)[:32]}/{str(op)[:32]}）")
    if not isinstance(raw, Mapping):
        raise ProtocolError("payload", "操作内容（payload）应为对象")
    for key in getattr(cls, "REQUIRED_KEYS", ()):
        if key not in raw:
            f = next(f for f in dataclasses.fields(cls) if f.name == key)
            raise ProtocolError(key, f"缺少{_name(f.metadata['spec'].label, key)}")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        s: Spec = f.metadata["spec"]
        if isinstance(s, PresenceOf):
            values[f.name] = s.of in raw
            continue
        values[f.name] = s.parse(f.name, raw.get(f.name), f.name in raw)
    return cls(**values)


def wire(payload: Payload) -> dict[str, Any]:
    """A payload as the client queues it, checked as the server will check it.

    Raises:
        ProtocolError: the client is about to queue something the server would refuse.
    """
    data = payload.to_wire()
    parse_payload(payload.KIND, payload.OP, data)
    return data


@dataclass(frozen=True)
class Envelope:
    """A pushed mutation, checked: what it is, when the person acted, and its payload."""

    mutation_id: str
    kind: RecordKind
    op: Op
    target_id: str | None
    base_seq: int | None
    created_at: datetime | None
    payload: Payload


TARGET_ID = Id("操作对象", max_len=96)
BASE_SEQ = Int("同步游标", low=0, high=2**62)


def parse_created_at(value: Any, *, now: datetime | None = None) -> datetime | None:
    """When the person acted, as naive local time; refused before 2000 or a day ahead."""
    if value is None:
        return None
    latest = (now or datetime.now()) + FUTURE_SLACK
    return parse_time("created_at", value, "操作时间", latest=latest)


def parse_mutation(
    mutation_id: str,
    kind: str,
    op: str,
    target_id: Any,
    base_seq: Any,
    created_at: Any,
    payload: Any,
    *,
    now: datetime | None = None,
) -> Envelope:
    """Check a whole pushed mutation (the envelope and its payload).

    Raises:
        ProtocolError: naming the first field that does not fit.
    """
    target = TARGET_ID.parse("target_id", target_id, target_id is not None)
    cls = payload_type(kind, op)
    if (
        cls is not None
        and cls.TARGET
        and isinstance(payload, Mapping)
        and payload.get(cls.TARGET) in (None, "")
        and target is not None
    ):
        # Older clients named the target only in the envelope.
        payload = {**payload, cls.TARGET: target}
    parsed = parse_payload(kind, op, payload)
    own = parsed.target_id()
    if target is not None and own is not None and target != own:
        raise ProtocolError("target_id", "操作对象（target_id）与操作内容中的编号不一致")
    return Envelope(
        mutation_id=str(mutation_id),
        kind=RecordKind(kind),
        op=Op(op),
        target_id=target or own,
        base_seq=BASE_SEQ.parse("base_seq", base_seq, base_seq is not None),
        created_at=parse_created_at(created_at, now=now),
        payload=parsed,
    )


# -- intake (sessions sent by other systems, ``POST /api/v1/intake/sessions``) -----------

MAX_ATTACHMENTS = 10
INTAKE_FUTURE_SLACK = timedelta(minutes=10)
"""Another system's clock may run a little ahead; a receipt time beyond this is refused."""


class IntakeErrors(ValueError):
    """Every field of an intake request that does not fit: ``{field: 中文 message}``."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("；".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Attachments(Spec):
    """Attachments as metadata only (name, URL, size, type); nothing is fetched."""

    def empty(self) -> Any:
        return ()

    def convert(self, key: str, value: Any) -> Any:
        if not isinstance(value, list):
            raise ProtocolError(key, f"{_name(self.label, key)}应为列表")
        if len(value) > MAX_ATTACHMENTS:
            raise ProtocolError(key, f"{_name(self.label, key)}最多 {MAX_ATTACHMENTS} 个")
        name, url = Text("附件名称", max_len=128, nonempty=True), Text("附件地址", max_len=1024)
        kind, size = Text("附件类型", max_len=100), Int("附件大小", low=0, high=2**40)
        out = []
        for i, item in enumerate(value, 1):
            where = f"{key}[{i}]"
            if not isinstance(item, dict):
                raise ProtocolError(key, f"第 {i} 个附件（{where}）应为对象")
            entry = {
                "name": name.parse(f"{where}.name", item.get("name"), "name" in item),
                "url": url.parse(f"{where}.url", item.get("url"), "url" in item),
                "content_type": kind.parse(
                    f"{where}.content_type", item.get("content_type"), "content_type" in item
                ),
                "size": size.parse(f"{where}.size", item.get("size"), "size" in item),
            }
            if entry["url"] and not re.match(r"https?://", entry["url"], re.IGNORECASE):
                raise ProtocolError(key, f"第 {i} 个附件的地址（{where}.url）应以 http(s):// 开头")
            out.append(entry)
        return tuple(out)


@dataclass(frozen=True)
class IntakeSession:
    """A session another system sends (a 12345 work order, a web chat, a queue ticket)."""

    external_id: str = spec(Id("外部编号", required=True))
    channel: str = spec(Choice("来源渠道", required=True, values=_values(INTAKE_CHANNELS)))
    caller_name: str = spec(Text("群众姓名", max_len=64), "")
    caller_phone: str = spec(Text("联系电话", max_len=32), "")
    caller_id_number: str = spec(Text("身份证号", max_len=32), "")
    matter_code: str | None = spec(Id("事项编码"))
    service_type: str = spec(Choice("服务类型", values=_values(ServiceType), default="consult"))
    summary: str = spec(Text("诉求描述", max_len=2000, nonempty=True), "")
    received_at: datetime | None = spec(When("受理时间", required=True))  # noqa: RUF009
    due_at: datetime | None = spec(When("办结期限"))  # noqa: RUF009
    ticket_number: str = spec(Text("排队号", max_len=32), "")
    team_id: str | None = spec(Id("班组"))
    attachments: tuple[dict[str, Any], ...] = spec(Attachments("附件"), ())


def parse_intake(raw: Any, *, now: datetime | None = None) -> IntakeSession:
    """Read and check an intake request, naming every field that does not fit.

    The words name the field in Chinese and never repeat the value sent.

    Raises:
        IntakeErrors: with one message per field.
    """
    if not isinstance(raw, Mapping):
        raise IntakeErrors({"body": "请求内容应为 JSON 对象"})
    now = now or datetime.now()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for f in dataclasses.fields(IntakeSession):
        s: Spec = f.metadata["spec"]
        try:
            values[f.name] = s.parse(f.name, raw.get(f.name), f.name in raw)
        except ProtocolError as exc:
            errors[exc.field.split("[")[0]] = exc.reason
            values[f.name] = None
    received = values.get("received_at")
    if received is not None and received > now + INTAKE_FUTURE_SLACK:
        errors["received_at"] = "受理时间（received_at）不能晚于现在"
    due = values.get("due_at")
    if due is not None and received is not None and due < received:
        errors["due_at"] = "办结期限（due_at）不能早于受理时间"
    checks = {
        "caller_name": lambda v: name_error(v, required=False),
        "caller_phone": lambda v: phone_error(v, required=values.get("channel") == "hotline"),
        "caller_id_number": id_number_error,
        "ticket_number": ticket_error,
    }
    for key, check in checks.items():
        if key in errors:
            continue
        message = check(values.get(key) or "")
        if message:
            own = _intake_field(key)
            label = own.metadata["spec"].label if own is not None else key
            errors[key] = f"{label}（{key}）：{message}"
    if errors:
        raise IntakeErrors(errors)
    return IntakeSession(**values)


def _intake_field(name: str) -> dataclasses.Field[Any] | None:
    return next((f for f in dataclasses.fields(IntakeSession) if f.name == name), None)
