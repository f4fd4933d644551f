"""The printable 一次性告知书: an A4 page built from a :class:`core.walkthrough.Notice`.

``notice_html`` is plain string building (no widgets), so the page can be checked
without printing; ``print_notice`` lays it out with ``QTextDocument`` on any
``QPrinter`` — a PDF file or a real printer chosen in ``QPrintDialog``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QFont,
    QPageLayout,
    QPageSize,
    QPainter,
    QTextDocument,
)
from PySide6.QtPrintSupport import QPrinter

from core.walkthrough import Notice, NoticeItem

# A Latin face first, as Chinese official documents pair 宋体 with Times: Qt's PDF writer
# gives the digits of the CJK fonts no text layer (a search for 工号 JN-0107 would fail),
# while digits and Latin set in a Latin face stay searchable and copyable.
PRINT_FONTS = [
    "Liberation Serif",
    "Times New Roman",
    "DejaVu Serif",
    "Noto Serif CJK SC",
    "SimSun",
    "Songti SC",
    "Noto Sans CJK SC",
    "serif",
]
_NUMERALS = "一二三四五六七八九十"


@dataclass(frozen=True)
class NoticeMeta:
    """Who gives the notice to whom, and when.

    Attributes:
        caller_name: The caller as addressed, e.g. 韩先生; empty when unknown.
        staff_name: The agent's name.
        staff_number: The agent's staff number (工号).
        office: The agent's office, e.g. 江宁市政务服务中心.
        day: The date printed on the notice.
    """

    caller_name: str
    staff_name: str
    staff_number: str
    office: str = ""
    day: date | None = None


def _items(items: tuple[NoticeItem, ...]) -> str:
    if not items:
        return "<p>无</p>"
    rows = "".join(f"<li>{html.escape(item.describe())}</li>" for item in items)
    return f"<ol>{rows}</ol>"


def notice_html(notice: Notice, meta: NoticeMeta) -> str:
    """Return the notice as a printable HTML page (Qt's rich-text subset).

    Args:
        notice: Built by :func:`core.walkthrough.build_notice`.
        meta: Caller, staff and date.

    Returns:
        HTML for ``QTextDocument``.
    """
    e = html.escape
    day = meta.day or date.today()
    when = f"{day.year} 年 {day.month} 月 {day.day} 日"
    caller = meta.caller_name or "办事群众"
    greeting = f"{caller}：" if meta.caller_name else "您好："
    sections: list[tuple[str, str]] = []
    has_materials = bool(notice.have or notice.missing or notice.optional_missing)
    if has_materials or notice.outcome not in ("not_eligible", "referred"):
        sections.append(("您已备齐的材料", _items(notice.have)))
        sections.append(("还需补充的材料", _items(notice.missing)))
    if notice.optional_missing:
        sections.append(("可选材料（有则一并提供）", _items(notice.optional_missing)))
    if notice.next_steps:
        steps = "".join(f"<li>{e(text)}</li>" for text in notice.next_steps)
        sections.append(("下一步", f"<ol>{steps}</ol>"))
    if notice.where_to_submit:
        sections.append(("办理地点和方式", f"<p>{e(notice.where_to_submit)}</p>"))
    body = "".join(
        f"<h3>{_NUMERALS[i]}、{e(heading)}</h3>{content}"
        for i, (heading, content) in enumerate(sections)
    )
    closing = (
        "请按以上清单一次备齐材料，避免往返。如有疑问，欢迎再次联系我们。"
        if notice.missing
        else "如有疑问，欢迎再次联系我们。"
    )
    staff = e(meta.staff_name)
    if meta.staff_number:
        staff += f"（工号 {e(meta.staff_number)}）"
    office = f"<p align='right'>{e(meta.office)}</p>" if meta.office else ""
    return f"""
<html><body>
<h1 align="center">一次性告知书</h1>
<p align="center">{e(notice.matter_name)}</p>
<table width="100%" cellspacing="0" cellpadding="6" border="1" style="border-collapse:collapse">
<tr><td width="22%">办事人</td><td>{e(caller)}</td></tr>
<tr><td>办理事项</td><td>{e(notice.matter_name)}（{e(notice.matter_code)}）</td></tr>
<tr><td>办理结论</td><td><b>{e(notice.outcome_label)}</b></td></tr>
<tr><td>告知日期</td><td>{when}</td></tr>
</table>
<p style="margin-top:12px">{e(greeting)}</p>
<p>关于您咨询的“{e(notice.matter_name)}”，经核对，现将办理所需事项一次性告知如下：</p>
{body}
<p style="margin-top:12px">{closing}</p>
<p>&nbsp;</p>
<p align="right">告知人：{staff}</p>
{office}
<p align="right">{when}</p>
<p style="font-size:8pt; color:#757575">
依据“{e(notice.matter_name)}”导办规程（第 {notice.version} 版）出具。</p>
</body></html>
"""


def pdf_printer(path: str | Path) -> QPrinter:
    """A high-resolution A4 printer writing a PDF file at ``path``."""
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(path))
    prepare_printer(printer)
    return printer


def prepare_printer(printer: QPrinter) -> None:
    """A4 with margins a hall's stamp and binding fit into."""
    printer.setDocName("一次性告知书")
    printer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    printer.setPageMargins(QMarginsF(22, 18, 22, 16), QPageLayout.Unit.Millimeter)


def print_notice(page_html: str, printer: QPrinter) -> int:
    """Lay out ``page_html`` on ``printer``'s pages and print it (a file or a device).

    The page is laid out for the printer itself, inside its margins (``QTextDocument.print``
    would add 2 cm more on every side and page numbers). A page footer 「第 1 页，共 2 页」
    appears only when the notice needs more than one page.

    Returns:
        The number of pages printed.

    Raises:
        OSError: The printer or the PDF file could not be opened.
    """
    document = QTextDocument()
    font = QFont()
    font.setFamilies(PRINT_FONTS)
    font.setPointSizeF(11)
    document.setDefaultFont(font)
    document.setDefaultStyleSheet(
        "h1 { font-size: 19pt; margin-bottom: 2px; } h3 { font-size: 12pt; margin-top: 8px;"
        " margin-bottom: 2px; } li { margin-bottom: 2px; } p { margin-top: 3px;"
        " margin-bottom: 3px; }"
    )
    document.setHtml(page_html)
    document.setDocumentMargin(0)  # the printer's margins are the page's margins
    layout = document.documentLayout()
    layout.setPaintDevice(printer)
    page = printer.pageRect(QPrinter.Unit.DevicePixel)
    document.setPageSize(page.size())
    footer = 0.0
    if document.pageCount() > 1:
        footer = printer.logicalDpiY() * 0.35  # about 9 mm for 「第 1 页，共 2 页」
        document.setPageSize(QSizeF(page.width(), page.height() - footer))
    height = page.height() - footer
    pages = document.pageCount()
    painter = QPainter()
    if not painter.begin(printer):
        raise OSError("无法打开打印机或写入 PDF 文件，请检查保存位置")
    try:
        for index in range(pages):
            if index:
                printer.newPage()
            painter.save()
            painter.setClipRect(QRectF(0, 0, page.width(), height))
            painter.translate(0, -index * height)
            context = QAbstractTextDocumentLayout.PaintContext()
            context.clip = QRectF(0, index * height, page.width(), height)
            layout.draw(painter, context)
            painter.restore()
            if footer:
                painter.setFont(QFont(font.families(), 9))
                painter.drawText(
                    QRectF(0, height, page.width(), footer),
                    int(Qt.AlignmentFlag.AlignCenter),
                    f"第 {index + 1} 页，共 {pages} 页",
                )
    finally:
        painter.end()
    return pages
