"""``GET``/``PUT /api/v1/admin/settings``: the service's numbers (``service_settings``).

Admins only. ``PUT`` takes the settings to change as one JSON object ``{name: value}``
and saves all of them or none: an unknown name or a value out of type or range is a
422 whose ``fields`` name each problem in Chinese. Every saved change is audited with
its old and new value (settings hold no personal data).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session as DbSession

from core.enums import Role
from server.api.deps import get_db
from server.audit import client_ip, record_audit
from server.auth import CurrentUser, require_role
from server.errors import ApiError
from server.services import service_settings

router = APIRouter(prefix="/admin", tags=["admin"])

Admin = Annotated[CurrentUser, Depends(require_role(Role.ADMIN))]
Db = Annotated[DbSession, Depends(get_db)]


class SettingOut(BaseModel):
    name: str
    label: str
    kind: str
    default: Any
    minimum: float | None
    maximum: float | None
    unit: str
    help: str
    value: Any


class SettingsOut(BaseModel):
    settings: list[SettingOut]


def _answer(db: DbSession) -> SettingsOut:
    values = service_settings.current(db)
    return SettingsOut(
        settings=[
            SettingOut(**spec.describe(), value=values[name])
            for name, spec in service_settings.REGISTRY.items()
        ]
    )


@router.get("/settings", response_model=SettingsOut)
def read_settings(admin: Admin, db: Db) -> SettingsOut:
    """Every setting with its label, range, default and current value."""
    return _answer(db)


@router.put("/settings", response_model=SettingsOut)
def change_settings(
    request: Request,
    admin: Admin,
    db: Db,
    edits: Annotated[dict[str, Any], Body(description="要修改的设置：{名称: 新值}")],
) -> SettingsOut:
    """Change some settings at once (all or none)."""
    if not edits:
        raise ApiError(422, "invalid", "没有要修改的设置")
    try:
        changed = service_settings.change(db, edits)
    except service_settings.SettingsRefused as refused:
        raise ApiError(422, "invalid_settings", str(refused), errors=refused.errors) from None
    for name, (before, after) in changed.items():
        record_audit(
            db,
            actor_id=admin.id,
            action="settings.change",
            target_kind="setting",
            target_id=name,
            detail={"before": before, "after": after},
            source_ip=client_ip(request),
        )
    db.commit()
    return _answer(db)
