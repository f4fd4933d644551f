from __future__ import annotations

from fastapi import APIRouter

from core import APP_VERSION, PROTOCOL_VERSION

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, object]:
    """Liveness and version, without authentication."""
    return {"status": "ok", "version": APP_VERSION, "protocol": PROTOCOL_VERSION}
