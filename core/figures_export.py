"""Exporting the team's figures to CSV and XLSX (导出统计).

CSV is written as UTF-8 with a byte-order mark, which is how Excel recognises UTF-8
and shows Chinese correctly; XLSX is written with openpyxl (pure Python). Both hold
the same table: one row per indicator, one column for the team and one per agent,
then the open rectifications. Times are in seconds and rates are fractions (shown as
percentages in XLSX, written as "87.5%" in CSV), so the files can be computed on.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from core.enums import EVALUATION_LABELS
from core.figures import Indicator, Period, TeamFigures, indicator_value, indicators, period_range

RECTIFICATION_STATES = {"open": "待分派", "assigned": "整改中", "closed": "已办结"}

SUMMARY_SHEET = "汇总"
RECTIFICATION_SHEET = "差评整改"


_UNSAFE_IN_NAMES = re.compile(r'[\\/:*?"<>|\s]+')


def export_file_name(
    period: Period | str, day: date, team_name: str = "", suffix: str = ".xlsx"
) -> str:
    """The suggested file name of an export, in words a person files by.

    ``班组统计_综合咨询组_2026年11月.xlsx`` for a month, ``…_2026年第48周.xlsx`` for a week,
    ``…_2026年11月27日.xlsx`` for a day; no internal ids or English period names.
    Characters that Windows refuses in file names are dropped from the team's name.
    """
    period = Period(period)
    start = period_range(period, day)[0].date()
    if period is Period.DAY:
        span = f"{start.year}年{start.month}月{start.day}日"
    elif period is Period.WEEK:
        year, week, _ = start.isocalendar()
        span = f"{year}年第{week}周"
    else:
        span = f"{start.year}年{start.month}月"
    team = _UNSAFE_IN_NAMES.sub("", team_name)
    parts = ["班组统计", team, span] if team else ["班组统计", span]
    return "_".join(parts) + suffix


def _header_label(indicator: Indicator) -> str:
    return f"{indicator.label}（秒）" if indicator.kind == "seconds" else indicator.label


def _raw(indicator: Indicator, value: float | int | None) -> float | int | None:
    if value is None:
        return None
    if indicator.kind == "seconds":
        return round(float(value), 1)
    return value


def meta_rows(figures: TeamFigures, team_name: str) -> list[list[Any]]:
    """The lines above the table: what the file is about."""
    return [
        ["班组统计", team_name, figures.label],
        [
            "统计区间",
            figures.start.strftime("%Y-%m-%d %H:%M"),
            figures.end.strftime("%Y-%m-%d %H:%M"),
        ],
        ["首次响应目标（秒）", figures.target_seconds],
        ["生成时间", figures.generated_at.strftime("%Y-%m-%d %H:%M:%S")],
    ]


def summary_rows(figures: TeamFigures) -> list[list[Any]]:
    """The indicator table: a header, then one row per indicator (raw values: counts,
    seconds, rates as fractions; None where nothing can be computed)."""
    header: list[Any] = ["指标", "班组合计", *(a.name for a in figures.agents)]
    rows: list[list[Any]] = [header]
    for ind in indicators():
        row: list[Any] = [_header_label(ind), _raw(ind, indicator_value(figures.team, ind.key))]
        row += [_raw(ind, indicator_value(a.figures, ind.key)) for a in figures.agents]
        rows.append(row)
    return rows


def rectification_rows(figures: TeamFigures) -> list[list[Any]]:
    """The open rectifications: a header, then one row each, soonest deadline first."""
    rows: list[list[Any]] = [
        ["会话", "评价", "整改期限", "剩余工作日", "状态", "负责人", "是否逾期"]
    ]
    for r in figures.rectifications:
        deadline = r.deadline.isoformat() + ("（暂定）" if r.provisional else "")
        rows.append(
            [
                r.summary or r.session_id,
                EVALUATION_LABELS.get(r.score or 0, ""),
                deadline,
                r.working_days_left,
                RECTIFICATION_STATES.get(r.state, r.state),
                figures.agent_names.get(r.assignee_id or -1, "") if r.assignee_id else "",
                "逾期" if r.overdue else "",
            ]
        )
    return rows


def _csv_cell(indicator: Indicator | None, value: Any) -> Any:
    if value is None:
        return ""
    if indicator is not None and indicator.kind == "rate":
        return f"{value * 100:.1f}%"
    return value


def write_csv(path: Path | str, figures: TeamFigures, team_name: str = "") -> None:
    """Write the figures as CSV (UTF-8 with BOM, so that Excel reads the Chinese)."""
    import csv

    kinds = [None, *indicators()]
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows(meta_rows(figures, team_name))
        writer.writerow([])
        for i, row in enumerate(summary_rows(figures)):
            ind = kinds[i]
            writer.writerow([row[0], *(_csv_cell(ind, v) for v in row[1:])])
        writer.writerow([])
        writer.writerow(["未结差评整改"])
        writer.writerows(rectification_rows(figures))


def write_xlsx(path: Path | str, figures: TeamFigures, team_name: str = "") -> None:
    """Write the figures as an Excel workbook: the indicator table and the open
    rectifications on their own sheets, rates formatted as percentages."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = SUMMARY_SHEET
    bold = Font(bold=True)
    for row in meta_rows(figures, team_name):
        sheet.append(row)
    sheet.append([None])
    table = summary_rows(figures)
    sheet.append(table[0])
    header_row = sheet.max_row
    kinds: dict[int, Indicator] = {}
    for ind, row in zip(indicators(), table[1:], strict=True):
        sheet.append(row)
        kinds[sheet.max_row] = ind
    for cell in sheet[header_row]:
        cell.font = bold
        cell.fill = PatternFill("solid", fgColor="DCE6F2")
    for row_number, ind in kinds.items():
        if ind.kind == "rate":
            for cell in sheet[row_number][1:]:
                cell.number_format = "0.0%"
        elif ind.kind == "seconds":
            for cell in sheet[row_number][1:]:
                cell.number_format = "0.0"
    sheet.column_dimensions["A"].width = 30
    for col in range(2, len(table[0]) + 1):
        sheet.column_dimensions[get_column_letter(col)].width = 12
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=2)

    rect = book.create_sheet(RECTIFICATION_SHEET)
    for row in rectification_rows(figures):
        rect.append(row)
    for cell in rect[1]:
        cell.font = bold
    for letter, width in zip("ABCDEFG", (40, 12, 16, 12, 10, 12, 10), strict=True):
        rect.column_dimensions[letter].width = width
    book.save(path)
