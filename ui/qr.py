"""QR codes of links, as pixmaps: a caller scans the screen-share or rating link from
the agent's screen (or a window's display) instead of typing it."""

from __future__ import annotations

import io

import segno
from PySide6.QtGui import QPixmap

QR_SCALE = 4
"""Pixels per module: a join URL's code (33 modules and the border) is 148 px, easy to
scan from a screen and narrow enough to sit beside the link's state in the tools area."""
QR_BORDER = 2


def qr_pixmap(text: str, scale: int = QR_SCALE, border: int = QR_BORDER) -> QPixmap:
    """A QR code of ``text`` (error correction M) as a pixmap, ``scale`` px per module."""
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=scale, border=border)
    pixmap = QPixmap()
    pixmap.loadFromData(buffer.getvalue(), "PNG")
    return pixmap
