"""Masking of personal data (phone and ID numbers) for the screen and the logs."""

from __future__ import annotations

import re
from typing import Any

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID = re.compile(r"(?<![\dXx])(\d{4})(\d{10})(\d{3}[\dXx])(?![\dXx])")


def mask_phone(phone: str | None) -> str:
    """``13812345678`` → ``138****5678``; other numbers keep their first 3 and last 4."""
    if not phone:
        return ""
    digits = phone.strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(id_number: str | None) -> str:
    """``320102199001011234`` → ``3201**********1234``."""
    if not id_number:
        return ""
    value = id_number.strip()
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_text(text: str) -> str:
    """Mask every mobile and ID number found in free text (log lines, notes in logs)."""
    text = _ID.sub(lambda m: m.group(1) + "*" * 10 + m.group(3)[-4:], text)
    return _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(3), text)


CALLER_NUMBER_FIELDS = ("caller_phone", "caller_id_number")


def mask_caller_numbers(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a session's wire dict with the caller's numbers masked (a masked number
    stays as it is). The client cache keeps only this; the full numbers come from the
    audited reveal and live in memory while the session is on screen."""
    out = dict(data)
    if "caller_phone" in out:
        out["caller_phone"] = mask_phone(out.get("caller_phone"))
    if "caller_id_number" in out:
        out["caller_id_number"] = mask_id_number(out.get("caller_id_number"))
    return out
