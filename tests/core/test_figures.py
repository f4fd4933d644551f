"""The team's figures from a fixed set of sessions, against numbers worked out by hand
(see tests/figures_data.py for the sessions)."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from core.calendar import WorkCalendar
from core.figures import (
    Period,
    RectificationFacts,
    SessionFacts,
    TeamFigures,
    compute_figures,
    duration_text,
    escalation_status,
    is_one_contact,
    percentile_nearest_rank,
    period_label,
    period_range,
)
from core.figures_export import write_csv, write_xlsx
from tests.figures_data import DAY, NOW, RECTIFICATIONS, SESSIONS, wire_session

NAMES = {1: "李晓雯", 2: "王芳", 3: "刘洋"}


def facts() -> list[SessionFacts]:
    return [SessionFacts.from_wire(wire_session(s)) for s in SESSIONS]


def scores() -> dict[str, int]:
    return {f"fig-{s['ref']}": s["score"] for s in SESSIONS if s.get("score")}


def rectifications() -> list[RectificationFacts]:
    return [
        RectificationFacts.from_wire(
            {
                "id": r["id"],
                "session_id": f"fig-{r['ref']}",
                "state": r["state"],
                "assignee_id": r["agent"],
                "deadline": r["deadline"],
            }
        )
        for r in RECTIFICATIONS
    ]


def day_figures(period: Period = Period.DAY, now: datetime = NOW) -> TeamFigures:
    return compute_figures(
        period=period,
        day=DAY,
        sessions=facts(),
        scores=scores(),
        rectifications=rectifications(),
        agents=NAMES,
        calendar=WorkCalendar.builtin(),
        target_seconds=60,
        now=now,
    )


def test_team_figures_of_the_day() -> None:
    team = day_figures().team
    # H arrived the day before: 9 of the 10 sessions count.
    assert team.sessions == 9
    assert dict(team.by_service) == {"consult": 6, "guide": 2, "assist": 1}
    assert dict(team.by_channel) == {
        "hotline": 4,
        "phone": 2,
        "web_chat": 1,
        "mini_program": 1,
        "video": 1,
        "referral": 0,
        "walk_in": 0,
    }
    # First responses 5, 10, 20, 30, 45, 60, 120 s: median 30, nearest-rank p90 = 7th.
    assert (team.first_response.count, team.first_response.median, team.first_response.p90) == (
        7,
        30.0,
        120.0,
    )
    # Six within 60 s (60 itself counts); F waited 90 s unanswered and counts as missed;
    # G has waited 30 s and could still make it, so it is left out.
    assert (team.target.within, team.target.considered) == (6, 8)
    assert team.target.rate == 0.75
    # Handling 300, 600, 1200, 1800, 10790 s.
    assert (team.handling.count, team.handling.median, team.handling.p90) == (5, 1200.0, 10790.0)
    # Closed A, B, C, E, I; one contact: A, and C (a reassignment does not count against it).
    assert (team.closed, team.one_contact, team.one_contact_rate) == (5, 2, 0.4)
    # I answered by its close, in time; E answered late; D still within its deadline.
    assert (team.escalations_on_time, team.escalations_late, team.escalations_pending) == (1, 1, 1)
    assert team.escalation_rate == 0.5
    # Ratings of A 5, B 4, I 3, C 2, E 1 (H's 5 is of the day before).
    assert dict(team.ratings.counts) == {5: 1, 4: 1, 3: 1, 2: 1, 1: 1}
    assert (team.ratings.rated, team.ratings.satisfied, team.ratings.rate) == (5, 2, 0.4)
    assert (team.open_rectifications, team.overdue_rectifications) == (2, 1)


def test_figures_per_agent() -> None:
    figures = day_figures()
    by_id = {a.agent_id: a for a in figures.agents}
    assert [a.name for a in figures.agents] == ["李晓雯", "王芳", "刘洋"]

    one = by_id[1].figures  # A, B, I, J
    assert one.sessions == 4
    assert (one.first_response.median, one.first_response.p90) == (25.0, 120.0)
    assert (one.target.within, one.target.considered) == (3, 4)
    assert (one.handling.median, one.handling.p90) == (600.0, 1800.0)
    assert (one.closed, one.one_contact) == (3, 1)
    assert one.one_contact_rate == pytest.approx(1 / 3)
    assert (one.escalations_on_time, one.escalations_late, one.escalation_rate) == (1, 0, 1.0)
    assert (one.ratings.rated, one.ratings.satisfied) == (3, 2)
    assert (one.open_rectifications, one.overdue_rectifications) == (1, 1)

    two = by_id[2].figures  # C, D, E
    assert two.sessions == 3
    assert (two.first_response.median, two.first_response.p90) == (45.0, 60.0)
    assert two.target.rate == 1.0
    # Two values: the median is their mean.
    assert (two.handling.median, two.handling.p90) == (5995.0, 10790.0)
    assert two.one_contact_rate == 0.5
    assert (two.escalations_on_time, two.escalations_late, two.escalations_pending) == (0, 1, 1)
    assert two.escalation_rate == 0.0
    assert two.ratings.rate == 0.0
    assert (two.open_rectifications, two.overdue_rectifications) == (1, 0)

    three = by_id[3].figures
    assert three.sessions == 0
    assert three.first_response.median is None and three.target.rate is None
    assert three.one_contact_rate is None and three.ratings.rate is None


def test_open_rectifications_count_working_days_on_the_calendar() -> None:
    rows = day_figures().rectifications
    assert [r.id for r in rows] == ["R2", "R1"]  # soonest deadline first; R3 is closed
    r2, r1 = rows
    # Friday 27 Feb → Monday 2 Mar: Saturday 28 Feb is a working day (调休), and Monday.
    assert r2.working_days_left == -2 and r2.overdue
    # Monday 2 Mar → Friday 6 Mar: four working days left.
    assert r1.working_days_left == 4 and not r1.overdue


def test_later_the_unanswered_escalation_and_the_waiting_callers_are_late() -> None:
    team = day_figures(now=datetime(2026, 3, 20, 9, 0)).team
    assert (team.target.within, team.target.considered) == (6, 9)
    assert (team.escalations_on_time, team.escalations_late, team.escalations_pending) == (1, 2, 0)


def test_week_and_month_take_the_sessions_of_their_span() -> None:
    # The ISO week of Monday 2 March starts that day: H (Sunday 1 March) is not in it.
    assert day_figures(Period.WEEK).team.sessions == 9
    assert day_figures(Period.MONTH).team.sessions == 10


def test_period_ranges_and_labels() -> None:
    assert period_range("week", date(2026, 3, 4)) == (
        datetime(2026, 3, 2),
        datetime(2026, 3, 9),
    )
    assert period_range("month", date(2026, 12, 31)) == (
        datetime(2026, 12, 1),
        datetime(2027, 1, 1),
    )
    assert period_range("day", date(2026, 2, 28)) == (datetime(2026, 2, 28), datetime(2026, 3, 1))
    assert period_label("week", date(2026, 3, 4)) == "2026年第10周（03-02 至 03-08）"
    assert period_label("month", date(2026, 3, 4)) == "2026年3月"
    with pytest.raises(ValueError):
        period_range("year", date(2026, 3, 4))


def test_definitions_on_single_sessions() -> None:
    by_ref = {s.id[4:]: s for s in facts()}
    assert is_one_contact(by_ref["A"]) and is_one_contact(by_ref["C"])
    assert not is_one_contact(by_ref["B"])  # transferred
    assert not is_one_contact(by_ref["J"])  # not closed
    assert escalation_status(by_ref["A"], NOW) is None
    assert percentile_nearest_rank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9.0
    assert percentile_nearest_rank([7], 0.9) == 7.0
    assert [duration_text(v) for v in (None, 45, 192, 600, 3900)] == [
        "—",
        "45秒",
        "3分12秒",
        "10分",
        "1小时05分",
    ]


def test_malformed_records_are_refused_by_name() -> None:
    with pytest.raises(ValueError):
        SessionFacts.from_wire({"id": "x", "created_at": "yesterday"})
    with pytest.raises(ValueError):
        RectificationFacts.from_wire({"id": "r", "deadline": None})


def test_the_wire_shape_round_trips() -> None:
    figures = day_figures()
    again = TeamFigures.from_wire(figures.to_wire())
    assert again.team == figures.team
    assert again.agents == figures.agents
    assert again.rectifications == figures.rectifications


def test_export_to_csv_reads_back_with_chinese_and_numbers(tmp_path: Path) -> None:
    path = tmp_path / "figures.csv"
    write_csv(path, day_figures(), "综合咨询组")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads UTF-8"
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["班组统计", "综合咨询组", "2026-03-02"]
    header = next(i for i, r in enumerate(rows) if r and r[0] == "指标")
    assert rows[header] == ["指标", "班组合计", "李晓雯", "王芳", "刘洋"]
    table = {r[0]: r[1:] for r in rows[header + 1 :] if r and r[0]}
    assert table["会话总数"] == ["9", "4", "3", "0"]
    assert table["首次响应 中位数（秒）"] == ["30.0", "25.0", "45.0", ""]
    assert table["首响达标率"] == ["75.0%", "75.0%", "100.0%", ""]
    assert table["一次办结率"] == ["40.0%", "33.3%", "50.0%", ""]
    assert table["好差评 · 非常不满意"] == ["1", "0", "1", "0"]
    assert table["满意率（满意及以上）"] == ["40.0%", "66.7%", "0.0%", ""]
    start = next(i for i, r in enumerate(rows) if r and r[0] == "未结差评整改")
    assert rows[start + 1][0] == "会话"
    assert [r[2] for r in rows[start + 2 :]] == ["2026-02-27", "2026-03-06"]
    assert [r[6] for r in rows[start + 2 :]] == ["逾期", ""]


def test_export_to_xlsx_reads_back_with_numbers_and_formats(tmp_path: Path) -> None:
    path = tmp_path / "figures.xlsx"
    write_xlsx(path, day_figures(), "综合咨询组")
    book = load_workbook(path)
    assert book.sheetnames == ["汇总", "差评整改"]
    sheet = book["汇总"]
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    header = next(i for i, r in enumerate(rows) if r[0] == "指标")
    assert rows[header] == ["指标", "班组合计", "李晓雯", "王芳", "刘洋"]
    table = {r[0]: r[1:] for r in rows[header + 1 :]}
    assert table["会话总数"] == [9, 4, 3, 0]
    assert table["办理时长 90分位（秒）"] == [10790, 1800, 10790, None]
    assert table["首响达标率"] == [0.75, 0.75, 1, None]
    rate_row = next(r for r in sheet.iter_rows() if r[0].value == "首响达标率")
    assert rate_row[1].number_format == "0.0%"
    rect = [[c.value for c in r] for r in book["差评整改"].iter_rows()]
    assert rect[0][:3] == ["会话", "评价", "整改期限"]
    assert [r[3] for r in rect[1:]] == [-2, 4]
    assert [r[5] for r in rect[1:]] == ["李晓雯", "王芳"]


def test_export_file_names_are_in_words() -> None:
    from core.figures_export import export_file_name

    assert export_file_name("month", date(2026, 11, 17)) == "班组统计_2026年11月.xlsx"
    assert (
        export_file_name("month", date(2026, 11, 17), "综合咨询组")
        == "班组统计_综合咨询组_2026年11月.xlsx"
    )
    assert export_file_name("week", date(2026, 11, 27), "综合咨询组") == (
        "班组统计_综合咨询组_2026年第48周.xlsx"
    )
    assert export_file_name("day", date(2026, 3, 2), suffix=".csv") == "班组统计_2026年3月2日.csv"
    # Nothing Windows refuses in a file name, and no English period words.
    name = export_file_name("day", date(2026, 3, 2), "综合/咨询:组")
    assert name == "班组统计_综合咨询组_2026年3月2日.xlsx"
    assert "month" not in export_file_name("month", date(2026, 1, 5))
