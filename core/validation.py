"""Checking what a person types: phone numbers, ID numbers, a session logged by hand.

The dialog shows these messages next to the fields; the server runs the same checks
on the mutation, so a client that skipped them is refused with the same words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from core.enums import Channel, ServiceType

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?[2-9]\d{6,7}(?:-\d{1,6})?$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_PROVINCES = frozenset(
    {
        11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
        41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
    }
)  # fmt: skip

MANUAL_CHANNELS = (Channel.PHONE, Channel.HOTLINE, Channel.REFERRAL, Channel.WALK_IN)
"""Where a session logged by hand comes from: a phone call, a referral or the window."""
INTAKE_CHANNELS = (
    Channel.HOTLINE,
    Channel.WEB_CHAT,
    Channel.MINI_PROGRAM,
    Channel.VIDEO,
    Channel.WALK_IN,
    Channel.REFERRAL,
)
"""Where a session sent by another system through the intake API may come from."""
MAX_TICKET = 16

MAX_NAME = 32
MAX_SUMMARY = 1000


def normalize_phone(text: str | None) -> str:
    """Drop spaces and a +86 prefix; keep the hyphens of a landline number."""
    value = re.sub(r"[\s　]", "", text or "")
    value = value.replace("－", "-")
    if value.startswith("+86"):
        value = value[3:]
    elif value.startswith("0086"):
        value = value[4:]
    return value


def phone_error(text: str | None, *, required: bool = True) -> str | None:
    """None when ``text`` is a mainland mobile or landline number (or empty and optional)."""
    value = normalize_phone(text)
    if not value:
        return "请填写联系电话" if required else None
    if _MOBILE.match(value) or _LANDLINE.match(value):
        return None
    if value.isdigit() and value.startswith("1"):
        return f"手机号应为 1 开头的 11 位数字（现为 {len(value)} 位）"
    return "联系电话格式不正确：手机号为 11 位数字，座机如 025-84561234"


def id_number_error(text: str | None, *, today: date | None = None) -> str | None:
    """None when ``text`` is a valid 18-character resident ID number (GB 11643-1999)."""
    value = (text or "").strip().upper()
    if not value:
        return None
    if len(value) != 18:
        return f"身份证号应为 18 位（现为 {len(value)} 位），最后一位可以是 X"
    body, check = value[:17], value[17]
    if not body.isdigit() or not (check.isdigit() or check == "X"):
        return "身份证号前 17 位应为数字，最后一位为数字或 X"
    if int(body[:2]) not in _PROVINCES:
        return "身份证号的前两位不是有效的省级行政区代码"
    try:
        born = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        return f"身份证号中的出生日期 {body[6:10]}-{body[10:12]}-{body[12:14]} 不存在"
    if born.year < 1900 or born > (today or date.today()):
        return "身份证号中的出生日期不合理"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != check:
        return "身份证号校验位不正确，请核对后重新输入"
    return None


def name_error(text: str | None, *, required: bool) -> str | None:
    value = (text or "").strip()
    if not value:
        return "请填写群众姓名（现场转介必填）" if required else None
    if len(value) > MAX_NAME:
        return f"姓名过长（最多 {MAX_NAME} 字）"
    if any(ch.isdigit() for ch in value):
        return "姓名中不应有数字"
    return None


def validate_new_session(fields: Mapping[str, Any]) -> dict[str, str]:
    """Check a session logged by hand; returns {field: message} (empty when all is well).

    Fields: ``channel``, ``service_type``, ``caller_name``, ``caller_phone``,
    ``caller_id_number``, ``summary`` (``matter_code`` is checked by whoever knows the
    catalog).
    """
    errors: dict[str, str] = {}
    channel = str(fields.get("channel") or "")
    if channel not in {c.value for c in MANUAL_CHANNELS}:
        errors["channel"] = "请选择来源渠道：窗口电话、12345热线、转介或现场"
    if str(fields.get("service_type") or "") not in {s.value for s in ServiceType}:
        errors["service_type"] = "请选择服务类型：咨询、导办或帮办"
    is_call = channel in (Channel.PHONE.value, Channel.HOTLINE.value)
    in_person = channel in (Channel.REFERRAL.value, Channel.WALK_IN.value)
    message = name_error(fields.get("caller_name"), required=in_person)
    if message:
        errors["caller_name"] = message
    message = phone_error(fields.get("caller_phone"), required=is_call)
    if message:
        errors["caller_phone"] = message
    message = id_number_error(fields.get("caller_id_number"))
    if message:
        errors["caller_id_number"] = message
    summary = str(fields.get("summary") or "").strip()
    if not summary:
        errors["summary"] = "请填写诉求描述"
    elif len(summary) > MAX_SUMMARY:
        errors["summary"] = f"诉求描述过长（最多 {MAX_SUMMARY} 字）"
    message = ticket_error(fields.get("ticket_number"))
    if message:
        errors["ticket_number"] = message
    return errors


def ticket_error(text: str | None) -> str | None:
    """None when ``text`` is empty or a queue ticket number (叫号: letters, digits, ``-``)."""
    value = (text or "").strip()
    if not value:
        return None
    if len(value) > MAX_TICKET:
        return f"排队号过长（最多 {MAX_TICKET} 个字符）"
    if not re.fullmatch(r"[A-Za-z0-9-]+", value):
        return "排队号只能由字母、数字和短横线组成，如 A023"
    return None
