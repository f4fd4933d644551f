from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session as DbSession

from server.api.deps import get_db, get_settings
from server.audit import client_ip
from server.auth import CurrentUser, current_user
from server.config import ServerSettings
from server.services.mutations import Mutation, apply_all
from server.services.pull import pull

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
    mutation_id: str = Field(min_length=8, max_length=64)
    kind: str = Field(max_length=32)
    op: str = Field(max_length=32)
    target_id: str | None = Field(None, max_length=96)
    base_seq: int | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None


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
    results = apply_all(request.app.state.db, user, batch, source_ip=client_ip(request))
    request.app.state.events.notify()
    return {"results": results}
