"""The audit trail in words and its CSV (core/audit.py), shared by server and client."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from core.audit import AuditRow, action_label, audit_csv
from core.masking import mask_caller_numbers


def test_actions_read_as_words() -> None:
    assert action_label("session.reveal") == "查看完整号码"
    assert action_label("mutation.session.transfer") == "同步操作：转交会话"
    assert action_label("mutation.something.new") == "同步操作：something.new"
    assert action_label("unknown.thing") == "unknown.thing"


def test_the_csv_has_a_bom_chinese_headers_and_one_line_per_row() -> None:
    rows = [
        AuditRow(
            id=7,
            at=datetime(2026, 12, 3, 9, 30, 5),
            actor_id=None,
            actor_name="",
            action="user.create",
            target_kind="user",
            target_id="12",
            detail={"username": "zhangsan", "note": "含,逗号"},
        ),
        AuditRow.from_wire(
            {
                "id": 8,
                "at": "2026-12-03T09:31:00",
                "actor_id": 2,
                "actor_name": "李晓雯",
                "action": "session.reveal",
                "target_kind": "session",
                "target_id": "s1",
                "source_ip": "10.0.0.8",
                "reason": None,
                "detail": {"field": "phone"},
            }
        ),
    ]
    data = audit_csv(rows)
    assert data.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == [
        "编号", "时间", "操作人编号", "操作人", "操作", "操作代码",
        "对象类型", "对象编号", "来源地址", "原因", "详情",
    ]  # fmt: skip
    assert table[1][:5] == ["7", "2026-12-03 09:30:05", "", "系统/命令行", "新建用户"]
    assert "含,逗号" in table[1][10]
    assert table[2][3:5] == ["李晓雯", "查看完整号码"] and table[2][8] == "10.0.0.8"
    assert rows[1].target_text == "会话 s1"
    assert AuditRow.from_wire(rows[1].to_wire()) == rows[1]


def test_caller_numbers_are_masked_once_and_stay_masked() -> None:
    data = {"id": "s", "caller_phone": "13812345678", "caller_id_number": "320102199001011234"}
    masked = mask_caller_numbers(data)
    assert masked == {
        "id": "s",
        "caller_phone": "138****5678",
        "caller_id_number": "3201**********1234",
    }
    assert mask_caller_numbers(masked) == masked
    assert data["caller_phone"] == "13812345678"  # a copy
    assert mask_caller_numbers({"id": "x"}) == {"id": "x"}
    assert mask_caller_numbers({"caller_phone": ""})["caller_phone"] == ""
