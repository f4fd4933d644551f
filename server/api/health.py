from __future__ import annotations

from fastapi import APIRouter, Request

from core import APP_VERSION, PROTOCOL_VERSION
from server.services.identity import ensure_server_id

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> dict[str, object]:
    """Liveness, version and the server's identity (``server_id``), without authentication."""
    state = request.app.state
    server_id = getattr(state, "server_id", None)
    if server_id is None:
        server_id = state.server_id = ensure_server_id(state.db)
    return {
        "status": "ok",
        "version": APP_VERSION,
        "protocol": PROTOCOL_VERSION,
        "server_id": server_id,
    }
