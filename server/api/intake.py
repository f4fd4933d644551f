"""Routes for other systems (issue 14): intake with an integration key, and the admins'
keys and callback deliveries. Reference and examples: ``docs/intake.md``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession
from starlette.concurrency import run_in_threadpool

from core.enums import Role
from core.protocol import MAX_ATTACHMENTS, IntakeErrors, parse_intake
from server import models as m
from server import openapi_doc
from server.api.deps import get_db
from server.audit import client_ip, record_audit
from server.auth import CurrentUser, require_role
from server.errors import ApiError
from server.limits import KEY_SCOPE_KEY
from server.services import callbacks, intake
from server.services.intake import KeyInfo

router = APIRouter(prefix="/intake", tags=["intake"])
admin_router = APIRouter(prefix="/admin", tags=["admin"])
admin_only = require_role(Role.ADMIN)

# -- documents ----------------------------------------------------------------------------

EXAMPLE_HOTLINE = {
    "external_id": "GD20261203-000123",
    "channel": "hotline",
    "caller_name": "张先生",
    "caller_phone": "13912345678",
    "matter_code": "RS-SBK-BH",
    "service_type": "consult",
    "summary": "社保卡丢失，询问补办需要哪些材料、能否线上办理",
    "received_at": "2026-12-03T09:15:00+08:00",
    "due_at": "2026-12-05T17:30:00+08:00",
    "attachments": [
        {
            "name": "工单录音.mp3",
            "url": "https://12345.example.gov.cn/files/000123.mp3",
            "content_type": "audio/mpeg",
            "size": 482133,
        }
    ],
}
EXAMPLE_WALK_IN = {
    "external_id": "Q-20261203-A023",
    "channel": "walk_in",
    "caller_name": "李女士",
    "summary": "现场咨询个体工商户设立登记",
    "matter_code": "SCJG-GTGSH-SL",
    "service_type": "guide",
    "received_at": "2026-12-03T10:02:00+08:00",
    "ticket_number": "A023",
}


class AttachmentIn(BaseModel):
    name: str = Field(max_length=128, description="附件名称")
    url: str = Field("", max_length=1024, description="附件地址（服务器不会下载）")
    content_type: str = Field("", max_length=100)
    size: int | None = Field(None, ge=0, le=2**40, description="字节数")


class IntakeIn(BaseModel):
    """A session sent by another system; only ``external_id``, ``channel``, ``summary``
    and ``received_at`` are required (``caller_phone`` too for ``hotline``)."""

    external_id: str = Field(max_length=64, description="发送方的工单编号；重复发送得到同一会话")
    channel: Literal["hotline", "web_chat", "mini_program", "video", "walk_in", "referral"] = Field(
        description="来源渠道"
    )
    caller_name: str = Field("", max_length=32, description="群众姓名")
    caller_phone: str = Field("", max_length=32, description="联系电话（手机或座机）")
    caller_id_number: str = Field("", max_length=32, description="身份证号（可选）")
    matter_code: str | None = Field(None, max_length=64, description="事项编码")
    service_type: Literal["consult", "guide", "assist"] = Field("consult")
    summary: str = Field(max_length=2000, description="诉求描述")
    received_at: datetime = Field(description="发送方受理时间（ISO 8601，带时区）")
    due_at: datetime | None = Field(None, description="办结期限（12345 工单的期限）")
    ticket_number: str = Field("", max_length=16, description="现场排队号（叫号），如 A023")
    team_id: str | None = Field(
        None, max_length=64, description="班组；不填时按事项路由或取密钥的第一个班组"
    )
    attachments: list[AttachmentIn] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS, description="附件（仅记录元数据）"
    )


def _document_request_body() -> None:
    """The intake body is read by ``core.protocol.parse_intake`` (every field named in
    Chinese), so FastAPI does not see a model: put its schema in the document."""
    schema = IntakeIn.model_json_schema(ref_template="#/components/schemas/{model}")
    openapi_doc.EXTRA_SCHEMAS.update(schema.pop("$defs", {}))
    openapi_doc.EXTRA_SCHEMAS["IntakeIn"] = schema


_document_request_body()


class RatingOut(BaseModel):
    score: int
    label: str


class EscalationOut(BaseModel):
    department: str
    complexity: str
    contact_due_at: str | None
    due_at: str | None
    provisional: bool


class IntakeStatusOut(BaseModel):
    """An intake session as its sender sees it."""

    external_id: str
    session_id: str
    channel: str
    channel_label: str
    team_id: str
    ticket_number: str
    received_at: str
    attachments: list[dict[str, Any]]
    state: str
    state_label: str
    outcome: str | None
    outcome_label: str | None
    close_summary: str
    accepted_at: str | None
    closed_at: str | None
    due_at: str | None
    callback_due_at: str | None
    escalation: EscalationOut | None
    rating: RatingOut | None
    created: bool = Field(False, description="本次请求是否新建了会话（201）")


def _key(request: Request, db: DbSession = Depends(get_db)) -> KeyInfo:
    checked = request.scope.get(KEY_SCOPE_KEY)
    header = request.headers.get("authorization", "")
    if checked is not None and checked[0] == header:
        return checked[1]  # type: ignore[no-any-return]
    return intake.check_key(db, header)


# -- intake -------------------------------------------------------------------------------


@router.post(
    "/sessions",
    status_code=201,
    response_model=IntakeStatusOut,
    responses={200: {"model": IntakeStatusOut, "description": "该外部编号已送达过：同一会话"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/IntakeIn"},
                    "examples": {
                        "hotline": {"summary": "12345 热线工单", "value": EXAMPLE_HOTLINE},
                        "walk_in": {"summary": "现场叫号转入", "value": EXAMPLE_WALK_IN},
                    },
                }
            },
        }
    },
)
async def submit_session(request: Request) -> JSONResponse:
    """Put a session into the key's team queue (201), or find the one already sent
    under the same ``external_id`` (200). Needs ``Authorization: Bearer <集成密钥>``."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        raise ApiError(422, "invalid_json", "请求内容不是有效的 JSON") from None
    try:
        payload = parse_intake(data)
    except IntakeErrors as exc:
        message = "接入内容有误：" + "；".join(exc.errors.values())
        raise ApiError(422, "invalid_intake", message, errors=exc.errors) from None

    def work() -> tuple[dict[str, Any], bool]:
        with request.app.state.db() as db:
            key = _key(request, db)
            record, created = intake.submit(db, key, payload)
            return intake.status_of(db, record), created

    status, created = await run_in_threadpool(work)
    body = IntakeStatusOut(**status, created=created).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if created else 200)


@router.get("/sessions/{external_id}", response_model=IntakeStatusOut)
def session_status(
    external_id: str = Path(max_length=64, description="发送方的工单编号"),
    key: KeyInfo = Depends(_key),
    db: DbSession = Depends(get_db),
) -> IntakeStatusOut:
    """State, outcome and rating of a session this key sent."""
    record = intake.find(db, key, external_id)
    if record is None:
        raise ApiError(404, "not_found", "没有这个外部编号的会话")
    return IntakeStatusOut(**intake.status_of(db, record))


# -- admins: keys ---------------------------------------------------------------------------


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, examples=["12345热线"])
    team_ids: list[str] = Field(min_length=1, max_length=20, examples=[["team-zx"]])
    callback_url: str = Field("", max_length=512, examples=["https://12345.example.gov.cn/cb"])
    routes: dict[str, str] = Field(
        default_factory=dict, description="事项编码 → 班组（密钥服务多个班组时）"
    )


class ApiKeyOut(BaseModel):
    id: str
    name: str
    key_prefix: str
    team_ids: list[str]
    routes: dict[str, str]
    callback_url: str
    created_at: str
    revoked_at: str | None
    last_used_at: str | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="集成密钥，只显示这一次")
    signing_secret: str = Field(description="回调签名密钥（HMAC-SHA256），只显示这一次")


@admin_router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(
    _user: CurrentUser = Depends(admin_only), db: DbSession = Depends(get_db)
) -> list[ApiKeyOut]:
    return [ApiKeyOut(**intake.key_out(r)) for r in intake.list_keys(db)]


@admin_router.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
def create_api_key(
    body: ApiKeyIn,
    request: Request,
    user: CurrentUser = Depends(admin_only),
    db: DbSession = Depends(get_db),
) -> ApiKeyCreated:
    """Make an integration key; the key and the signing secret are answered only now."""
    try:
        made = intake.create_key(
            db,
            name=body.name,
            team_ids=body.team_ids,
            callback_url=body.callback_url,
            routes=body.routes,
            actor_id=user.id,
            source_ip=client_ip(request),
        )
    except ValueError as exc:
        raise ApiError(422, "bad_api_key", str(exc)) from None
    db.commit()
    row = db.get(m.ApiKey, made.id)
    assert row is not None
    return ApiKeyCreated(**intake.key_out(row), key=made.key, signing_secret=made.signing_secret)


@admin_router.delete("/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_api_key(
    request: Request,
    key_id: str = Path(max_length=32),
    user: CurrentUser = Depends(admin_only),
    db: DbSession = Depends(get_db),
) -> ApiKeyOut:
    """Revoke a key: it is refused from now on (its callbacks still go out)."""
    if not intake.revoke_key(db, key_id, actor_id=user.id, source_ip=client_ip(request)):
        raise ApiError(404, "not_found", "没有这个有效的集成密钥")
    db.commit()
    row = db.get(m.ApiKey, key_id)
    assert row is not None
    return ApiKeyOut(**intake.key_out(row))


# -- admins: callback deliveries -------------------------------------------------------------


class WebhookOut(BaseModel):
    id: int
    event_id: str
    api_key_id: str
    session_id: str
    kind: str
    state: str
    attempts: int
    created_at: str
    next_attempt_at: str | None
    last_error: str
    last_status: int | None
    delivered_at: str | None


class WebhookList(BaseModel):
    rows: list[WebhookOut]
    total: int


def _webhook_out(row: m.WebhookDelivery) -> WebhookOut:
    pending = row.state == "pending"
    return WebhookOut(
        id=row.id,
        event_id=row.event_id,
        api_key_id=row.api_key_id,
        session_id=row.session_id,
        kind=row.kind,
        state=row.state,
        attempts=row.attempts,
        created_at=row.created_at.isoformat(),
        next_attempt_at=row.next_attempt_at.isoformat() if pending else None,
        last_error=row.last_error,
        last_status=row.last_status,
        delivered_at=row.delivered_at.isoformat() if row.delivered_at else None,
    )


@admin_router.get("/webhooks", response_model=WebhookList)
def list_webhooks(
    state: Literal["failing", "pending", "delivered", "all"] = Query("failing"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10**9),
    _user: CurrentUser = Depends(admin_only),
    db: DbSession = Depends(get_db),
) -> WebhookList:
    """Callback deliveries, newest first: ``failing`` = not delivered after a try."""
    where: list[Any] = []
    if state == "failing":
        where.append(callbacks.failing_filter())
    elif state != "all":
        where.append(m.WebhookDelivery.state == state)
    total = db.scalar(select(func.count()).select_from(m.WebhookDelivery).where(*where)) or 0
    rows = db.scalars(
        select(m.WebhookDelivery)
        .where(*where)
        .order_by(m.WebhookDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return WebhookList(rows=[_webhook_out(r) for r in rows], total=int(total))


@admin_router.post("/webhooks/{delivery_id}/retry", response_model=WebhookOut)
def retry_webhook(
    request: Request,
    delivery_id: int = Path(ge=1, le=2**31 - 1),
    user: CurrentUser = Depends(admin_only),
    db: DbSession = Depends(get_db),
) -> WebhookOut:
    """Try a pending delivery again now (instead of at its next attempt)."""
    if not callbacks.retry_now(db, delivery_id, datetime.now()):
        raise ApiError(404, "not_found", "没有这个待发送的回调")
    record_audit(
        db,
        actor_id=user.id,
        action="webhook.retry",
        target_kind="webhook_delivery",
        target_id=str(delivery_id),
        source_ip=client_ip(request),
    )
    db.commit()
    deliverer = getattr(request.app.state, "deliverer", None)
    if deliverer is not None:
        deliverer.wake()
    row = db.get(m.WebhookDelivery, delivery_id)
    assert row is not None
    return _webhook_out(row)
