"""The service's settings on a real server (SQLite and PostgreSQL): admins read and
change them, every bad value is refused by name in Chinese and nothing is half saved,
changes are audited, and the code that reads a setting sees the admin's value."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server import models as m
from server.services.service_settings import REGISTRY, setting
from sync.client import ApiClient
from sync.errors import Forbidden, Refused
from tests.support import DEMO_PASSWORD, LiveServer


def login(server: LiveServer, username: str) -> ApiClient:
    api = ApiClient(server.url)
    api.login(username, DEMO_PASSWORD)
    return api


def values(answer: dict) -> dict:
    return {s["name"]: s["value"] for s in answer["settings"]}


def test_an_admin_reads_every_setting_with_its_label_range_and_default(
    live_server: LiveServer,
) -> None:
    answer = login(live_server, "admin").get("/admin/settings")
    names = [s["name"] for s in answer["settings"]]
    assert names == list(REGISTRY)
    accept = next(s for s in answer["settings"] if s["name"] == "accept_timeout_seconds")
    assert accept["label"] == "分派后接入时限"
    assert (accept["kind"], accept["default"], accept["value"]) == ("int", 60, 60)
    assert (accept["minimum"], accept["maximum"]) == (10, 3600)


def test_a_change_is_saved_audited_and_read_by_the_server(live_server: LiveServer) -> None:
    api = login(live_server, "admin")
    answer = api.put("/admin/settings", {"accept_timeout_seconds": 90, "alert_share": 0.8})
    assert values(answer)["accept_timeout_seconds"] == 90
    assert values(api.get("/admin/settings"))["alert_share"] == 0.8
    with live_server.db() as db:
        assert setting(db, "accept_timeout_seconds") == 90
        rows = db.scalars(select(m.AuditLog).where(m.AuditLog.action == "settings.change")).all()
    changed = {row.target_id: row.detail for row in rows}
    assert changed["accept_timeout_seconds"] == {"before": 60, "after": 90}
    assert set(changed) == {"accept_timeout_seconds", "alert_share"}
    # Saving the same value again changes nothing and audits nothing.
    api.put("/admin/settings", {"accept_timeout_seconds": 90})
    with live_server.db() as db:
        count = len(
            db.scalars(select(m.AuditLog).where(m.AuditLog.action == "settings.change")).all()
        )
    assert count == 2


@pytest.mark.parametrize(
    ("edits", "field", "words"),
    [
        ({"accept_timeout_seconds": "abc"}, "accept_timeout_seconds", "应为数字"),
        ({"accept_timeout_seconds": 5}, "accept_timeout_seconds", "不能小于 10 秒"),
        ({"accept_timeout_seconds": 1.5}, "accept_timeout_seconds", "应为整数"),
        ({"auto_assign": 1}, "auto_assign", "应为是或否"),
        ({"alert_share": 2}, "alert_share", "不能大于 0.99"),
        ({"agent_capacity_default": True}, "agent_capacity_default", "应为数字"),
        ({"no_such_thing": 1}, "no_such_thing", "没有这项设置"),
    ],
)
def test_a_bad_value_is_refused_by_name_and_nothing_is_half_saved(
    live_server: LiveServer, edits: dict, field: str, words: str
) -> None:
    api = login(live_server, "admin")
    with pytest.raises(Refused) as refused:
        api.put("/admin/settings", {"skill_wait_seconds": 45, **edits})
    assert refused.value.status == 422
    assert words in str(refused.value)
    assert values(api.get("/admin/settings"))["skill_wait_seconds"] == 30  # not saved


def test_only_admins_see_or_change_settings(live_server: LiveServer) -> None:
    for username in ("agent", "lead"):
        api = login(live_server, username)
        with pytest.raises(Forbidden):
            api.get("/admin/settings")
        with pytest.raises(Forbidden):
            api.put("/admin/settings", {"accept_timeout_seconds": 90})
