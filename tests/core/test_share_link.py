"""The client's view of a share link: reading records, states, and the words sent out."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.share_link import (
    ShareLinkInfo,
    group_code,
    newest,
    remaining_text,
    sms_text,
)

CREATED = datetime(2026, 3, 2, 14, 5, 0)


def record(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": "link-1",
        "session_id": "s-1",
        "code": "482913",
        "check_phrase": "熊猫 灯塔",
        "state": "live",
        "created_at": CREATED.isoformat(),
        "expires_at": (CREATED + timedelta(minutes=30)).isoformat(),
        "join_url": "https://bangban.example.gov.cn/j/482913",
        "helper": {"name": "李晓雯", "staff_number": "JN-0107", "office": "江宁市政务服务中心"},
    }
    data.update(changes)
    return data


def test_a_record_is_read_and_expires_by_the_clock() -> None:
    link = ShareLinkInfo.from_wire(record())
    assert link.words == ["熊猫", "灯塔"] and link.helper_number == "JN-0107"
    assert link.state_at(CREATED + timedelta(minutes=29)) == "live"
    assert link.state_at(CREATED + timedelta(minutes=30)) == "expired"
    revoked = ShareLinkInfo.from_wire(record(state="revoked"))
    assert revoked.state_at(CREATED + timedelta(hours=1)) == "revoked"


def _without(key: str) -> dict[str, object]:
    data = record()
    data.pop(key)
    return data


@pytest.mark.parametrize(
    "broken",
    [
        _without("session_id"),
        record(created_at="yesterday"),
        record(helper="nobody"),
        {"id": "x"},
    ],
)
def test_malformed_records_are_refused(broken: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ShareLinkInfo.from_wire(broken)


def test_the_newest_readable_link_is_shown() -> None:
    later = (CREATED + timedelta(minutes=5)).isoformat()
    records = [record(), record(id="link-2", created_at=later), {"id": "garbage"}]
    assert newest(records).id == "link-2"
    assert newest([]) is None


def test_codes_are_grouped_for_reading_out() -> None:
    assert group_code("482913") == "482 913"
    assert group_code("4829137") == "482 9137"
    assert group_code("48291375") == "4829 1375"
    assert group_code("482913756") == "482 913 756"
    assert group_code("4829137560") == "482 913 7560"


def test_the_countdown_text() -> None:
    assert remaining_text(29 * 60 + 5) == "29:05"
    assert remaining_text(3723) == "1:02:03"
    assert remaining_text(-4) == "0:00"


def test_the_sms_names_the_helper_and_never_the_phrase() -> None:
    text = sms_text(ShareLinkInfo.from_wire(record()))
    assert "李晓雯" in text and "JN-0107" in text and "江宁市政务服务中心" in text
    assert "482913" in text and "https://bangban.example.gov.cn/j/482913" in text
    assert "14:35前有效" in text
    assert "不会索要验证码" in text
    assert "熊猫" not in text and "灯塔" not in text
