from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session as DbSession

from server import metrics
from server.api.deps import get_db, get_settings
from server.audit import client_ip
from server.auth import CurrentUser, current_user
from server.config import ServerSettings
from server.errors import ApiError
from server.services.mutations import Mutation, apply_all
from server.services.pull import pull

log = logging.getLogger(__name__)
router = APIRouter(prefix="/sync", tags=["sync"])
MAX_SEQ = 2**53
"""Larger cursors cannot exist (and would overflow the database's integers)."""


@router.get("/changes")
def changes(
    since: int = Query(
        0, ge=0, le=MAX_SEQ, description="the cursor of the last page applied; 0 for all"
    ),
    limit: int | None = Query(None, ge=1, le=100_000),
    horizon: int | None = Query(
        None,
        ge=0,
        le=MAX_SEQ,
        description="the horizon of the previous page (while downloading from 0)",
    ),
    user: CurrentUser = Depends(current_user),
    db: DbSession = Depends(get_db),
    settings: ServerSettings = Depends(get_settings),
) -> Response:
    """One page of changes after ``since`` that the user may see (DESIGN.md §4)."""
    size = min(limit or settings.page_limit_default, settings.page_limit_max)
    page = pull(db, user, since, size, horizon)
    body = json.dumps(page, ensure_ascii=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), media_type="application/json")


class MutationIn(BaseModel):
    """One pushed action. Only what the answer needs is checked here; the rest is
    checked per action by ``core.protocol`` (a malformed action is refused alone,
    never the whole batch)."""

    mutation_id: str = Field(min_length=8, max_length=64)
    kind: str = Field(max_length=32)
    op: str = Field(max_length=32)
    target_id: Any = None
    base_seq: Any = None
    payload: Any = Field(default_factory=dict)
    created_at: Any = None


class MutationsIn(BaseModel):
    mutations: list[MutationIn] = Field(max_length=500)


@router.post("/mutations")
def mutations(
    body: MutationsIn,
    request: Request,
    user: CurrentUser = Depends(current_user),
) -> dict[str, Any]:
    """Apply the client's outbox in order; each mutation at most once (DESIGN.md §4)."""
    batch = [
        Mutation(m.mutation_id, m.kind, m.op, m.target_id, m.base_seq, m.payload, m.created_at)
        for m in body.mutations
    ]
    try:
        results = apply_all(request.app.state.db, user, batch, source_ip=client_ip(request))
    except OperationalError:
        log.exception("the database failed while applying a batch")
        raise ApiError(503, "database_busy", "服务器数据库繁忙，请稍后重试") from None
    # Each mutation's commit wakes the polls its events concern (services/events.py).
    for mutation, result in zip(batch, results, strict=True):
        metrics.mutations.labels(mutation.kind, mutation.op, result.get("status", "")).inc()
    return {"results": results}
