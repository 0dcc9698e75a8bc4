"""The admin dashboard's charts of the last 24 hours, drawn as SVG on the server.

Each chart reads the metric samples Nimbus already stores (``project.models.MetricSample``,
written by ``project.telemetry.LocalMetrics``) in hourly buckets: a sum per hour for counts,
the 95th percentile (nearest rank, as CloudWatch's ``p95``) for request durations. The
same figures are on the CloudWatch dashboard on AWS (``infra.monitoring``, whose first row
has these titles; a test keeps the two lists the same).

Hand-drawn SVG, not a charting library: the site's CSP runs scripts from its own origin
only, so a browser library would be a vendored bundle of a few hundred kB for five small
line charts, and the server-side ones are either heavy for a Lambda package (matplotlib)
or a dependency (pygal, LGPL) whose interactive output needs its own scripts anyway. A
line chart is a polyline, a few grid lines and labels: about a hundred lines here, no
script, printable, and readable without colour (each series has its own dash pattern).

Accessibility: each SVG is ``role="img"`` with a ``<title>`` and a ``<desc>`` giving the
totals and the peak hour, and the template puts the hourly figures in a table beside it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

HOURS = 24
WIDTH, HEIGHT = 340, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 20, 10, 24
#: Okabe-Ito colours (distinguishable with the common colour-vision deficiencies).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
DASHES = ("", "6 3", "2 3", "8 3 2 3")


@dataclass(frozen=True)
class Series:
    label: str
    metric: str
    #: Only samples whose dimensions include these values.
    where: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    unit: str
    series: tuple[Series, ...]
    #: "sum" (a count per hour) or "p95" (the hour's 95th percentile).
    statistic: str = "sum"


CHARTS: tuple[Chart, ...] = (
    Chart("uploads", "Uploads", "per hour", (Series("Started", "UploadsStarted"),)),
    Chart(
        "inspection",
        "Accepted and rejected",
        "per hour",
        (Series("Accepted", "UploadsAccepted"), Series("Rejected", "UploadsRejected")),
    ),
    Chart(
        "events",
        "Events delivered, failed and dead-lettered",
        "per hour",
        (
            Series("Delivered", "EventsProcessed"),
            Series("Failed", "EventsFailed"),
            Series("Dead-lettered", "EventsDeadLettered"),
        ),
    ),
    Chart(
        "workflows",
        "Workflow outcomes",
        "per hour",
        (
            Series("Succeeded", "WorkflowExecutions", {"outcome": "succeeded"}),
            Series("Failed", "WorkflowExecutions", {"outcome": "failed"}),
            Series("Timed out", "WorkflowExecutions", {"outcome": "timed_out"}),
            Series("Aborted", "WorkflowExecutions", {"outcome": "aborted"}),
        ),
    ),
    Chart(
        "latency",
        "Request latency (p95)",
        "ms",
        (Series("p95", "RequestDuration"),),
        statistic="p95",
    ),
)


@dataclass
class Line:
    label: str
    colour: str
    dash: str
    values: list[float | None]

    @property
    def total(self) -> float:
        return sum(v for v in self.values if v is not None)

    @property
    def peak(self) -> float | None:
        present = [v for v in self.values if v is not None]
        return max(present) if present else None


@dataclass
class ChartValue:
    chart: Chart
    hours: list[datetime]
    lines: list[Line]
    svg: SafeString = field(default_factory=lambda: SafeString(""))

    @property
    def rows(self) -> list[tuple[datetime, list[str]]]:
        """The hourly figures, for the table beside the chart."""
        return [
            (hour, [_number(line.values[i]) for line in self.lines])
            for i, hour in enumerate(self.hours)
        ]


def percentile(values: list[float], share: float = 0.95) -> float | None:
    """Nearest-rank percentile (the smallest value at least ``share`` of them do not exceed)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def _hours(now: datetime) -> list[datetime]:
    last = now.replace(minute=0, second=0, microsecond=0)
    return [last - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]


def _matches(dimensions: Any, where: dict[str, str]) -> bool:
    dims = dimensions if isinstance(dimensions, dict) else {}
    return all(str(dims.get(k)) == v for k, v in where.items())


def chart_values(
    *, now: datetime | None = None, charts: tuple[Chart, ...] = CHARTS
) -> list[ChartValue]:
    """Every chart's hourly figures for the 24 hours up to ``now`` (the last hour so far)."""
    from project.models import MetricSample

    hours = _hours(now or timezone.now())
    index = {hour: i for i, hour in enumerate(hours)}
    names = {s.metric for c in charts for s in c.series}
    samples: dict[str, list[tuple[int, Any, float]]] = defaultdict(list)
    rows = MetricSample.objects.filter(recorded_at__gte=hours[0], name__in=names).values_list(
        "name", "recorded_at", "dimensions", "value"
    )
    for name, at, dimensions, value in rows.iterator():
        bucket = index.get(
            at.astimezone(hours[0].tzinfo).replace(minute=0, second=0, microsecond=0)
        )
        if bucket is not None:
            samples[name].append((bucket, dimensions, value))
    values: list[ChartValue] = []
    for chart in charts:
        lines = []
        for i, series in enumerate(chart.series):
            buckets: list[list[float]] = [[] for _ in hours]
            for bucket, dimensions, figure in samples[series.metric]:
                if _matches(dimensions, series.where):
                    buckets[bucket].append(figure)
            if chart.statistic == "p95":
                figures = [percentile(b) for b in buckets]
            else:
                figures = [float(sum(b)) for b in buckets]
            lines.append(Line(series.label, COLOURS[i % 4], DASHES[i % 4], figures))
        drawn = ChartValue(chart, hours, lines)
        drawn.svg = render_svg(drawn)
        values.append(drawn)
    return values


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _ceiling(value: float) -> float:
    """The next 1, 2 or 5 times a power of ten at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= value))


def describe(value: ChartValue) -> str:
    """The chart in words: each line's total (or peak) and when it peaked."""
    parts = []
    for line in value.lines:
        peak = line.peak
        if peak is None or (value.chart.statistic == "sum" and line.total == 0):
            parts.append(f"{line.label}: none")
            continue
        hour = value.hours[line.values.index(peak)].strftime("%H:00")
        if value.chart.statistic == "sum":
            parts.append(
                f"{line.label}: {_number(line.total)} in all, most at {hour} ({_number(peak)})"
            )
        else:
            parts.append(f"{line.label}: highest {_number(peak)} {value.chart.unit} at {hour}")
    span = f"{value.hours[0]:%H:00} to {value.hours[-1]:%H:00} UTC"
    return f"{value.chart.title}, {value.chart.unit}, hourly from {span}. " + "; ".join(parts) + "."


def render_svg(value: ChartValue) -> SafeString:
    """A small line chart; all text escaped."""
    key = escape(value.chart.key)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    peaks = [line.peak for line in value.lines if line.peak is not None]
    top = _ceiling(max(peaks, default=0.0))

    def x(i: int) -> float:
        return LEFT + plot_w * i / (HOURS - 1)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nimbus-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-labelledby="chart-{key}-title chart-{key}-desc">',
        f'<title id="chart-{key}-title">{escape(value.chart.title)} (last 24 hours)</title>',
        f'<desc id="chart-{key}-desc">{escape(describe(value))}</desc>',
    ]
    for level in (0.0, top / 2, top):
        gy = y(level)
        parts.append(
            f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{WIDTH - RIGHT}" y2="{gy:.1f}" '
            'stroke="currentColor" stroke-opacity="0.18"/>'
            f'<text x="{LEFT - 4}" y="{gy + 4:.1f}" text-anchor="end" font-size="10" '
            f'fill="currentColor">{escape(_number(level))}</text>'
        )
    for i in (0, 6, 12, 18, HOURS - 1):
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="10" '
            f'fill="currentColor">{value.hours[i]:%H:00}</text>'
        )
    for line in value.lines:
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        for run in _runs(line.values):
            if len(run) == 1:
                i = run[0]
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(line.values[i] or 0):.1f}" r="2.5" '
                    f'fill="{line.colour}"/>'
                )
                continue
            points = " ".join(f"{x(i):.1f},{y(line.values[i] or 0):.1f}" for i in run)
            parts.append(
                f'<polyline class="series" data-series="{escape(line.label)}" points="{points}" '
                f'fill="none" stroke="{line.colour}" stroke-width="2"{dash}/>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped)


def _runs(values: list[float | None]) -> list[list[int]]:
    """Indexes of the consecutive hours that have a figure (a gap breaks the line)."""
    runs: list[list[int]] = []
    for i, v in enumerate(values):
        if v is None:
            continue
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs
