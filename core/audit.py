"""The audit trail in words: action names, the rows as people read them, and the CSV
export (UTF-8 with a byte-order mark, so Excel shows the Chinese headers). Both the
server's ``GET /api/v1/admin/audit?format=csv`` and the client's 审计日志 export call
:func:`audit_csv`, so the two files are the same."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ACTION_LABELS: dict[str, str] = {
    "auth.login": "登录",
    "auth.login_failed": "登录失败",
    "auth.logout": "退出登录",
    "session.reveal": "查看完整号码",
    "session.reassign": "改派会话",
    "calendar.create": "新增工作日历",
    "calendar.update": "修改工作日历",
    "user.create": "新建用户",
    "share.create": "发起屏幕共享",
    "share.revoke": "撤销屏幕共享",
    "share.consent": "群众同意共享屏幕",
    "walkthrough.publish": "发布导办脚本",
    "walkthrough.review": "复核导办脚本",
    "rectification.assign": "分派差评整改",
    "rectification.record": "记录整改情况",
    "rectification.close": "办结差评整改",
    "audit.export": "导出审计日志",
}

MUTATION_LABELS: dict[str, str] = {
    "session.create": "新建会话",
    "session.transition": "变更会话状态",
    "session.transfer": "转交会话",
    "session.reassign": "改派会话",
    "session.reveal": "查看完整号码",
    "session_note.create": "添加备注",
    "evaluation.create": "记录好差评",
    "walkthrough_run.save": "保存导办进度",
    "knowledge_feedback.create": "知识纠错/新问题",
    "rectification.assign": "分派差评整改",
    "rectification.record": "记录整改情况",
    "rectification.close": "办结差评整改",
}

TARGET_LABELS = {
    "session": "会话",
    "session_note": "备注",
    "evaluation": "好差评",
    "share_link": "屏幕共享",
    "calendar": "工作日历",
    "user": "用户",
    "walkthrough": "导办脚本",
    "walkthrough_run": "导办进度",
    "rectification": "差评整改",
    "knowledge_feedback": "知识反馈",
    "audit_log": "审计日志",
}

STATUS_LABELS = {
    "applied": "已执行",
    "rejected": "被拒绝",
    "conflict": "冲突",
    "duplicate": "重复",
}

CSV_HEADERS = [
    "编号",
    "时间",
    "操作人编号",
    "操作人",
    "操作",
    "操作代码",
    "对象类型",
    "对象编号",
    "来源地址",
    "原因",
    "详情",
]


def action_label(action: str) -> str:
    """``session.reveal`` → 查看完整号码; a pushed action ``mutation.session.transfer`` →
    「同步操作：转交会话」; an action without words keeps its code."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    if action.startswith("mutation."):
        inner = action.removeprefix("mutation.")
        return "同步操作：" + MUTATION_LABELS.get(inner, inner)
    return action


@dataclass(frozen=True)
class AuditRow:
    """One audit row as the read API answers it."""

    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    action: str
    target_kind: str
    target_id: str
    source_ip: str | None = None
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return action_label(self.action)

    @property
    def target_text(self) -> str:
        """「会话 1f3c…」: the kind in words and the id."""
        kind = TARGET_LABELS.get(self.target_kind, self.target_kind)
        return f"{kind} {self.target_id}".strip()

    @property
    def actor_text(self) -> str:
        if self.actor_name:
            return self.actor_name
        return "系统/命令行" if self.actor_id is None else f"用户 {self.actor_id}"

    def detail_text(self) -> str:
        if not self.detail:
            return ""
        return json.dumps(self.detail, ensure_ascii=False, sort_keys=True, default=str)

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(timespec="seconds"),
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "action": self.action,
            "action_label": self.label,
            "target_kind": self.target_kind,
            "target_id": self.target_id,
            "source_ip": self.source_ip,
            "reason": self.reason,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AuditRow:
        return cls(
            id=int(data["id"]),
            at=datetime.fromisoformat(str(data["at"])),
            actor_id=data.get("actor_id"),
            actor_name=str(data.get("actor_name") or ""),
            action=str(data["action"]),
            target_kind=str(data.get("target_kind") or ""),
            target_id=str(data.get("target_id") or ""),
            source_ip=data.get("source_ip"),
            reason=data.get("reason"),
            detail=dict(data.get("detail") or {}),
        )


def audit_csv(rows: Iterable[AuditRow]) -> bytes:
    """The export: a header row in Chinese, one line per row, UTF-8 with BOM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADERS)
    for r in rows:
        writer.writerow(
            [
                r.id,
                r.at.strftime("%Y-%m-%d %H:%M:%S"),
                "" if r.actor_id is None else r.actor_id,
                r.actor_text,
                r.label,
                r.action,
                r.target_kind,
                r.target_id,
                r.source_ip or "",
                r.reason or "",
                r.detail_text(),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
