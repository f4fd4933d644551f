from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session as DbSession

from server.api.deps import get_db, get_settings
from server.auth import CurrentUser, current_user
from server.config import ServerSettings
from server.services.pull import pull

router = APIRouter(prefix="/sync", tags=["sync"])


@router.get("/changes")
def changes(
    since: int = Query(0, ge=0, description="the cursor of the last page applied; 0 for all"),
    limit: int | None = Query(None, ge=1),
    user: CurrentUser = Depends(current_user),
    db: DbSession = Depends(get_db),
    settings: ServerSettings = Depends(get_settings),
) -> Response:
    """One page of changes after ``since`` that the user may see (DESIGN.md §4)."""
    size = min(limit or settings.page_limit_default, settings.page_limit_max)
    page = pull(db, user, since, size)
    body = json.dumps(page, ensure_ascii=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), media_type="application/json")
