"""The caller's side for tests: rate a closed session as its caller would (issue 13:
staff can no longer record a 好差评)."""

from __future__ import annotations

import requests

from sync.client import ApiClient
from tests.support import LiveServer


def rating_link(assignee: ApiClient, session_id: str) -> str:
    """The rating token of a new rating link (the assignee asks for it)."""
    url = assignee.post(f"/sessions/{session_id}/rating-link")["url"]
    return str(url).rsplit("/", 1)[1]


def rate_as_caller(
    server: LiveServer, token: str, score: int, comment: str = ""
) -> requests.Response:
    """The caller's rating through the public rating API."""
    return requests.post(
        f"{server.url}/api/v1/public/ratings/{token}/evaluation",
        json={"score": score, "comment": comment},
        timeout=15,
    )
