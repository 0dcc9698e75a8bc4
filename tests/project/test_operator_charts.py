"""The admin dashboard's charts of the last 24 hours, from the stored metric samples."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from apps.users.models import User
from project.models import MetricSample
from project.operator_charts import CHARTS, chart_values, percentile

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 15, 40, tzinfo=UTC)


def sample(name: str, value: float, hours_ago: float, **dimensions: str) -> None:
    MetricSample.objects.create(
        name=name,
        value=value,
        unit="Count",
        dimensions=dimensions,
        recorded_at=NOW - timedelta(hours=hours_ago),
    )


def by_key() -> dict[str, object]:
    return {value.chart.key: value for value in chart_values(now=NOW)}


def test_nearest_rank_percentile() -> None:
    assert percentile([]) is None
    assert percentile([7.0]) == 7.0
    assert percentile([float(v) for v in range(1, 101)]) == 95.0
    assert percentile([float(v) for v in range(1, 21)]) == 19.0


def test_counts_are_summed_by_hour_over_the_last_day_only() -> None:
    sample("UploadsStarted", 1, 0.1)  # 15:34, the current hour
    sample("UploadsStarted", 1, 0.5)  # 15:10
    sample("UploadsStarted", 1, 2)  # 13:40
    sample("UploadsStarted", 1, 24)  # 15:40 yesterday: before the first hour (16:00)
    sample("UploadsAccepted", 3, 1)
    sample("UploadsRejected", 1, 1, reason="too_large")
    charts = by_key()
    uploads = charts["uploads"]
    assert uploads.hours[0] == datetime(2026, 3, 1, 16, tzinfo=UTC)
    assert uploads.hours[-1] == datetime(2026, 3, 2, 15, tzinfo=UTC)
    (started,) = uploads.lines
    assert started.values[-1] == 2
    assert started.values[-3] == 1
    assert started.total == 3
    accepted, rejected = charts["inspection"].lines
    assert (accepted.values[-2], rejected.values[-2]) == (3, 1)


def test_workflow_outcomes_are_split_by_their_outcome_dimension() -> None:
    for outcome in ("succeeded", "succeeded", "failed", "timed_out"):
        sample("WorkflowExecutions", 1, 3, workflow="file_review", outcome=outcome)
    lines = {line.label: line.values[-4] for line in by_key()["workflows"].lines}
    assert lines == {"Succeeded": 2, "Failed": 1, "Timed out": 1, "Aborted": 0}


def test_latency_is_the_hours_p95_with_gaps_where_no_request_came() -> None:
    for ms in range(1, 101):
        sample("RequestDuration", float(ms), 0.2, area="page")
    sample("RequestDuration", 40.0, 5, area="api")
    (p95,) = by_key()["latency"].lines
    assert p95.values[-1] == 95.0
    assert p95.values[-6] == 40.0
    assert p95.values[-2] is None


def test_each_chart_is_an_accessible_svg_with_its_figures_in_words() -> None:
    sample("EventsProcessed", 5, 1, receiver="r")
    sample("EventsDeadLettered", 1, 1, receiver="r")
    events = by_key()["events"]
    svg = str(events.svg)
    assert 'role="img"' in svg
    assert 'aria-labelledby="chart-events-title chart-events-desc"' in svg
    assert '<title id="chart-events-title">Events delivered, failed and dead-lettered' in svg
    desc = re.search(r'<desc id="chart-events-desc">(.*?)</desc>', svg).group(1)
    assert "Delivered: 5 in all, most at 14:00 (5)" in desc
    assert "Failed: none" in desc
    assert "Dead-lettered: 1 in all" in desc
    # one line per series, told apart by dash pattern as well as colour
    assert len(re.findall(r'<polyline class="series"', svg)) == 3
    assert len(set(re.findall(r'stroke-dasharray="([^"]+)"', svg))) == 2
    assert events.rows[-2][1] == ["5", "0", "1"]


def test_the_admin_index_shows_the_charts_to_operators(client: Client) -> None:
    sample("UploadsStarted", 4, 0)
    root = User.objects.create_superuser("root@example.com", "pw-1234567890")
    client.force_login(root)
    html = client.get("/admin/").content.decode()
    assert "Last 24 hours" in html
    for chart in CHARTS:
        assert f'data-chart="{chart.key}"' in html
    assert "<caption>Uploads, per hour, by hour (UTC)</caption>" in html
    assert "<script" not in html.split("Last 24 hours")[1].split("</section>")[0]


def test_staff_who_are_not_operators_see_no_charts(client: Client) -> None:
    staff = User.objects.create_user("staff@example.com", "pw-1234567890", is_staff=True)
    client.force_login(staff)
    response = client.get("/admin/", follow=True)
    assert "Last 24 hours" not in response.content.decode()


def test_requests_are_timed_by_area_when_request_metrics_are_on(client: Client, settings) -> None:
    from project import telemetry

    settings.NIMBUS_REQUEST_METRICS = True
    telemetry.metrics.default.samples.clear()
    client.get("/healthz")
    client.get("/api/no-such-thing")
    client.get("/")
    client.get(settings.STATIC_URL + "nimbus/site.css")
    timed = [(s[0], s[3]) for s in telemetry.metrics.default.samples if s[0] == "RequestDuration"]
    assert timed == [("RequestDuration", {"area": "api"}), ("RequestDuration", {"area": "page"})]
    settings.NIMBUS_REQUEST_METRICS = False
    client.get("/")
    assert len([s for s in telemetry.metrics.default.samples if s[0] == "RequestDuration"]) == 2
