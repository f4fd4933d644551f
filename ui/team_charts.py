"""Charts of the team's figures (QtCharts): sessions by service type and by channel,
the 好差评 distribution, and each agent's first-response times."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCharts import (
    QAbstractBarSeries,
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QStackedBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QGridLayout, QWidget

from core.enums import EVALUATION_LABELS, Channel, ServiceType
from core.figures import TeamFigures

BLUE = "#1565c0"
LIGHT_BLUE = "#90caf9"
SCORE_COLOURS = {5: "#2e7d32", 4: "#66bb6a", 3: "#fbc02d", 2: "#ef6c00", 1: "#c62828"}


class BarChart(QChartView):
    """One bar chart whose data can be replaced."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(220)
        self.values: dict[str, list[float]] = {}
        """What the chart shows: series name to its values (for tests and screenshots)."""
        self.categories: list[str] = []
        self.show_data([], [])

    def show_data(
        self,
        categories: Sequence[str],
        series: Sequence[tuple[str, Sequence[float], str]],
        *,
        colours: Sequence[str] | None = None,
        label_format: str = "@value",
        axis_title: str = "",
    ) -> None:
        """Replace the bars: ``series`` is (name, one value per category, colour).

        With ``colours`` a single series gets a colour per bar (drawn as one set per
        category, so each bar keeps its own colour).
        """
        chart = QChart()
        chart.setTitle(self.title)
        font = QFont()
        font.setPointSize(10)
        font.setBold(True)
        chart.setTitleFont(font)
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.setBackgroundRoundness(0)
        chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
        bars: QAbstractBarSeries
        self.categories = list(categories)
        self.values = {}
        if colours is not None and len(series) == 1:
            name, values, _ = series[0]
            self.values[name] = [float(v) for v in values]
            # Stacked, one set per category: each bar keeps its own colour, and the
            # empty slots of the other sets take no room.
            bars = QStackedBarSeries()
            for i, value in enumerate(values):
                bar = QBarSet(categories[i])
                for j in range(len(categories)):
                    bar.append(float(value) if j == i else 0.0)
                bar.setColor(QColor(colours[i]))
                bars.append(bar)
            chart.legend().hide()
        else:
            bars = QBarSeries()
            for name, values, colour in series:
                bar = QBarSet(name)
                bar.append([float(v) for v in values])
                bar.setColor(QColor(colour))
                bar.setLabelColor(QColor("#263238"))  # above the bar, on the chart's white
                bars.append(bar)
                self.values[name] = [float(v) for v in values]
            chart.legend().setVisible(len(series) > 1)
            chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.addSeries(bars)
        axis_x = QBarCategoryAxis()
        axis_x.append(list(categories) or [""])
        if len(categories) > 4:
            # Five or six names (渠道, 好差评) in a chart a quarter of the window wide: a
            # smaller face keeps more of them whole (the full name is in the table).
            small = QFont(axis_x.labelsFont())
            small.setPointSizeF(max(7.0, small.pointSizeF() - 1.5))
            axis_x.setLabelsFont(small)
        chart.addAxis(axis_x, Qt.AlignmentFlag.AlignBottom)
        bars.attachAxis(axis_x)
        axis_y = QValueAxis()
        top = max((v for values in self.values.values() for v in values), default=0.0)
        # Whole-number ticks (counts and seconds): an empty chart reads 0…5, not 0 0 0 0 1.
        step = integer_step(max(1.0, top * 1.15))
        axis_y.setRange(0, step * max(1, math.ceil(max(1.0, top * 1.15) / step)))
        axis_y.setTickType(QValueAxis.TickType.TicksDynamic)
        axis_y.setTickAnchor(0)
        axis_y.setTickInterval(step)
        axis_y.setLabelFormat("%d")
        if axis_title:
            axis_y.setTitleText(axis_title)
        chart.addAxis(axis_y, Qt.AlignmentFlag.AlignLeft)
        bars.attachAxis(axis_y)
        # Labels after the axes: Qt lays them out against the attached axes.
        bars.setLabelsFormat(label_format)
        if isinstance(bars, QBarSeries):
            bars.setLabelsPosition(QAbstractBarSeries.LabelsPosition.LabelsOutsideEnd)
        else:
            bars.setLabelsPosition(QAbstractBarSeries.LabelsPosition.LabelsCenter)
        bars.setLabelsVisible(True)
        old = self.chart()
        self.setChart(chart)
        if old is not None:
            old.deleteLater()


def integer_step(top: float, ticks: int = 5) -> int:
    """A round whole step (1, 2, 5, 10, 20, 50 …) giving about ``ticks`` steps up to ``top``."""
    raw = max(1.0, top / ticks)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return int(factor * magnitude)
    return int(10 * magnitude)


class FiguresCharts(QWidget):
    """Four charts of one set of team figures."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.by_service = BarChart(self.tr("会话数 · 按服务类型"))
        self.by_channel = BarChart(self.tr("会话数 · 按渠道"))
        self.ratings = BarChart(self.tr("好差评分布"))
        self.response = BarChart(self.tr("首次响应（秒）· 按坐席"))
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.by_service, 0, 0)
        layout.addWidget(self.by_channel, 0, 1)
        layout.addWidget(self.ratings, 1, 0)
        layout.addWidget(self.response, 1, 1)
        for i in (0, 1):  # two equal columns, whatever each chart would ask for
            layout.setColumnStretch(i, 1)
            layout.setRowStretch(i, 1)

    def charts(self) -> list[BarChart]:
        return [self.by_service, self.by_channel, self.ratings, self.response]

    def show_figures(self, figures: TeamFigures | None) -> None:
        if figures is None:
            for chart in self.charts():
                chart.show_data([], [])
            return
        team = figures.team
        services = list(ServiceType)
        self.by_service.show_data(
            [s.label for s in services],
            [(self.tr("会话数"), [team.by_service.get(s.value, 0) for s in services], BLUE)],
        )
        channels = list(Channel)
        self.by_channel.show_data(
            [c.label for c in channels],
            [(self.tr("会话数"), [team.by_channel.get(c.value, 0) for c in channels], BLUE)],
        )
        scores = (5, 4, 3, 2, 1)
        self.ratings.show_data(
            [EVALUATION_LABELS[s] for s in scores],
            [(self.tr("评价数"), [team.ratings.counts.get(s, 0) for s in scores], BLUE)],
            colours=[SCORE_COLOURS[s] for s in scores],
        )
        agents = figures.agents
        medians = [round(a.figures.first_response.median or 0.0) for a in agents]
        p90s = [round(a.figures.first_response.p90 or 0.0) for a in agents]
        self.response.show_data(
            [a.name for a in agents],
            [(self.tr("中位数"), medians, BLUE), (self.tr("90分位"), p90s, LIGHT_BLUE)],
        )
