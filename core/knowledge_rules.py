"""Rules of an edited knowledge entry, shared by the server's edit routes and the import.

One function checks the fields of an entry as an editor (or an import file) gives
them and answers every problem by field, in Chinese; the same checks run for a
draft saved through the API and for each row of an import, so the two never differ.
Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from core.enums import ServiceType

TITLE_MAX = 128
ANSWER_MAX = 20000
SHORT_MAX = 128
CATEGORY_MAX = 256
SOURCE_MAX = 256
KEYWORDS_MAX = 30
KEYWORD_MAX = 32
KINDS = ("日常咨询", "办事指南", "热点问答", "通知公告", "业务指引", "法律法规", "政策解读")
SERVICE_TYPES = tuple(t.value for t in ServiceType)
SCOPES = ("", "国家", "省", "市", "区县", "街道")

FIELD_LABELS: dict[str, str] = {
    "title": "标题",
    "answer": "答复内容",
    "category": "分类路径",
    "issuing_unit": "发布单位",
    "kind": "材料性质",
    "keywords": "关键词",
    "scope": "适用层级",
    "region": "适用地区",
    "matter_code": "事项编码",
    "department": "部门",
    "service_type": "服务类型",
    "effective_date": "生效日期",
    "expiry_date": "失效日期",
    "source": "依据来源",
}
"""Every editable field with the column title used by the import template and export."""

EDITABLE = tuple(FIELD_LABELS)


@dataclass(frozen=True)
class FieldProblem:
    """One problem of one field: ``field`` is the wire name, ``message`` Chinese."""

    field: str
    message: str

    @property
    def label(self) -> str:
        return FIELD_LABELS.get(self.field, self.field)


def parse_day(value: Any) -> date | None:
    """A date from an ISO string, ``2026/1/5``, ``2026年1月5日`` or a date/datetime;
    ``None`` for blank. Raises ``ValueError`` for anything else."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    for ch in ("/", ".", "年", "月"):
        text = text.replace(ch, "-")
    text = text.rstrip("日").strip()
    if " " in text:
        text = text.split(" ", 1)[0]
    if "T" in text:
        text = text.split("T", 1)[0]
    parts = text.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(value)
    return date(int(parts[0]), int(parts[1]), int(parts[2]))


def split_keywords(value: Any) -> list[str]:
    """Keywords from a list or a text separated by commas, 、, ；, spaces or new lines."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        text = str(value)
        for sep in ("，", "、", "；", ";", "\n", " ", "\t"):
            text = text.replace(sep, ",")
        items = text.split(",")
    return list(dict.fromkeys(i.strip() for i in items if i.strip()))


def clean_entry(raw: dict[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The editable fields of ``raw`` in their wire shape, and every problem found.

    Missing optional fields get their defaults; dates become ISO strings.
    """
    problems: list[FieldProblem] = []
    out: dict[str, Any] = {}

    def text(name: str, limit: int, *, required: bool = False, default: str = "") -> None:
        value = raw.get(name)
        value = "" if value is None else str(value).strip()
        value = value or default
        if "\x00" in value:
            problems.append(FieldProblem(name, f"{FIELD_LABELS[name]}含有不允许的控制字符"))
            value = value.replace("\x00", "")
        if required and not value:
            problems.append(FieldProblem(name, f"缺少{FIELD_LABELS[name]}"))
        if len(value) > limit:
            problems.append(
                FieldProblem(name, f"{FIELD_LABELS[name]}超过 {limit} 字（现为 {len(value)} 字）")
            )
        out[name] = value

    text("title", TITLE_MAX, required=True)
    text("answer", ANSWER_MAX, required=True)
    text("category", CATEGORY_MAX)
    text("issuing_unit", SHORT_MAX)
    text("kind", 16, default="日常咨询")
    if out["kind"] and out["kind"] not in KINDS:
        problems.append(FieldProblem("kind", f"材料性质应为{'、'.join(KINDS)}之一"))
    text("scope", 16)
    if out["scope"] not in SCOPES:
        problems.append(
            FieldProblem("scope", f"适用层级应为{'、'.join(s for s in SCOPES if s)}之一")
        )
    text("region", 64)
    text("department", SHORT_MAX)
    text("service_type", 16, default="consult")
    by_label = {t.label: t.value for t in ServiceType}
    out["service_type"] = by_label.get(out["service_type"], out["service_type"])
    if out["service_type"] not in SERVICE_TYPES:
        problems.append(FieldProblem("service_type", f"服务类型应为{'、'.join(SERVICE_TYPES)}之一"))
    text("source", SOURCE_MAX)
    code = raw.get("matter_code")
    code = str(code).strip() if code is not None else ""
    if len(code) > 64:
        problems.append(FieldProblem("matter_code", "事项编码超过 64 字"))
    out["matter_code"] = code or None
    keywords = split_keywords(raw.get("keywords"))
    if len(keywords) > KEYWORDS_MAX:
        problems.append(FieldProblem("keywords", f"关键词超过 {KEYWORDS_MAX} 个"))
    if any(len(k) > KEYWORD_MAX for k in keywords):
        problems.append(FieldProblem("keywords", f"单个关键词超过 {KEYWORD_MAX} 字"))
    out["keywords"] = keywords
    days: dict[str, date | None] = {}
    for name in ("effective_date", "expiry_date"):
        try:
            days[name] = parse_day(raw.get(name))
        except (ValueError, OverflowError):
            problems.append(
                FieldProblem(
                    name, f"{FIELD_LABELS[name]}「{raw.get(name)}」不是日期（如 2026-01-31）"
                )
            )
            days[name] = None
        day = days[name]
        out[name] = day.isoformat() if day else None
    start, end = days["effective_date"], days["expiry_date"]
    if start and end and end < start:
        problems.append(FieldProblem("expiry_date", "失效日期早于生效日期"))
    return out, problems


def title_key(title: str) -> str:
    """Titles compared for duplicates: without spaces and a trailing question mark."""
    return "".join(title.split()).rstrip("？?").lower()
