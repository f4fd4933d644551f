"""Admin routes for walkthrough scripts (导办脚本): import a new version, mark reviewed.

Clients receive every version through sync (kind ``walkthrough``), so there is no
listing route here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session as DbSession

from core.enums import Role
from core.walkthrough import ValidationIssue
from server.api.deps import get_db
from server.auth import CurrentUser, require_role
from server.errors import not_found
from server.services.walkthroughs import (
    MAX_SOURCE,
    InvalidWalkthrough,
    mark_reviewed,
    publish,
    serialize,
)

router = APIRouter(prefix="/admin/walkthroughs", tags=["walkthroughs"])
admin_only = require_role(Role.ADMIN)

# At most this many issues are spelled out in ``detail``; ``issues`` has them all.
DETAIL_ISSUES = 15


class WalkthroughIn(BaseModel):
    source: str = Field(min_length=1, max_length=MAX_SOURCE, description="the YAML text")
    filename: str = Field("上传的脚本.yaml", max_length=256, description="shown in issues")


def issue_wire(issue: ValidationIssue) -> dict[str, Any]:
    return {
        "file": issue.file,
        "line": issue.line,
        "code": issue.code,
        "message": issue.message,
        "step_id": issue.step_id,
        "severity": issue.severity,
    }


def _describe(issues: list[ValidationIssue]) -> str:
    errors = [i for i in issues if i.is_error]
    lines = [f"导办脚本有 {len(errors)} 处错误，未发布："]
    for issue in errors[:DETAIL_ISSUES]:
        where = f"第 {issue.line} 行" if issue.line else "文件"
        lines.append(f"{where}：{issue.message}")
    if len(errors) > DETAIL_ISSUES:
        lines.append(f"……另有 {len(errors) - DETAIL_ISSUES} 处")
    return "\n".join(lines)


@router.post("", status_code=201)
def import_walkthrough(
    body: WalkthroughIn,
    request: Request,
    user: CurrentUser = Depends(admin_only),
    db: DbSession = Depends(get_db),
) -> Any:
    """Validate a script against this server's knowledge and publish it as a new version.

    The ``version`` in the YAML must be greater than the latest published version of
    the same script id. Refusals are 422 (errors in the script) or 409 (version not
    newer), with ``detail`` naming each line and ``issues`` listing every issue.
    """
    try:
        published = publish(db, body.source, body.filename, user_id=user.id)
    except InvalidWalkthrough as exc:
        db.rollback()
        status = 409 if exc.code == "version_not_newer" else 422
        return JSONResponse(
            {
                "detail": _describe(exc.issues),
                "code": exc.code,
                "issues": [issue_wire(i) for i in exc.issues],
            },
            status_code=status,
        )
    db.commit()
    request.app.state.events.notify()
    result = serialize(published.row)
    result.pop("source")
    result["warnings"] = [issue_wire(i) for i in published.warnings]
    return result


@router.post("/{key}/reviewed")
def walkthrough_reviewed(
    key: str,
    request: Request,
    user: CurrentUser = Depends(admin_only),
    db: DbSession = Depends(get_db),
) -> dict[str, Any]:
    """Clear the needs-review flag of one version after an admin checked it."""
    row = mark_reviewed(db, key, user_id=user.id)
    if row is None:
        raise not_found("找不到该导办脚本版本")
    db.commit()
    request.app.state.events.notify()
    result = serialize(row)
    result.pop("source")
    return result
