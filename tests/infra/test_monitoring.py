"""The alarms and dashboard infra.monitoring adds to the rendered stack."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.checks import lint
from infra.monitoring import LOCAL_ONLY_METRICS
from infra.template import render
from tests.infra.conftest import sample_inputs


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: r["Properties"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return render(sample_inputs("prod"))


def test_the_stack_has_every_operations_alarm(template):
    names = {p["AlarmName"] for p in _alarms(template).values()}
    assert {
        "nimbus-prod-api-5xx-rate",
        "nimbus-prod-api-latency-p95",
        "nimbus-prod-lambda-throttles",
        "nimbus-prod-lambda-errors",
        "nimbus-prod-workflow-file_review-failures",
        "nimbus-prod-rules-dlq-not-empty",
        "nimbus-prod-files-dlq-not-empty",
        "nimbus-prod-tasks-dlq-not-empty",
        "nimbus-prod-auth-failures-spike",
    } <= names


def test_no_alarm_watches_a_nimbus_metric_production_never_emits(template):
    """Workflows run on Step Functions and dead letters wait in SQS on AWS: alarms on the
    local engine's and local bus's metrics would stay OK (notBreaching) forever."""
    from project import telemetry

    assert set(telemetry.METRIC_NAMES) >= LOCAL_ONLY_METRICS
    watched = {
        a["MetricName"] for a in _alarms(template).values() if a.get("Namespace") == "Nimbus"
    }
    assert watched
    assert watched <= set(telemetry.METRIC_NAMES) - LOCAL_ONLY_METRICS
    names = {p["AlarmName"] for p in _alarms(template).values()}
    assert not names & {"nimbus-prod-workflow-failures", "nimbus-prod-events-dead-lettered"}


def test_every_alarm_notifies_the_operators_topic_when_it_fires_and_clears(template):
    for name, alarm in _alarms(template).items():
        assert alarm["AlarmActions"] == [{"Ref": "OperatorsTopic"}], name
        assert alarm["OKActions"] == [{"Ref": "OperatorsTopic"}], name


def test_every_dead_letter_queue_and_state_machine_has_an_alarm(template):
    resources = template["Resources"]
    dlqs = {n for n, r in resources.items() if r["Type"] == "AWS::SQS::Queue" and "DeadLetter" in n}
    machines = {n for n, r in resources.items() if r["Type"] == "AWS::StepFunctions::StateMachine"}
    assert dlqs
    assert machines
    watched_queues = {
        d["Value"]["Fn::GetAtt"][0]
        for a in _alarms(template).values()
        for d in a.get("Dimensions", [])
        if d["Name"] == "QueueName"
    }
    assert dlqs <= watched_queues
    watched_machines = {
        d["Value"]["Ref"]
        for a in _alarms(template).values()
        for q in a.get("Metrics", [])
        if "MetricStat" in q
        for d in q["MetricStat"]["Metric"].get("Dimensions", [])
        if d["Name"] == "StateMachineArn"
    }
    assert machines == watched_machines


def test_5xx_alarm_is_a_rate_and_latency_alarm_uses_p95(template):
    alarms = {a["AlarmName"]: a for a in _alarms(template).values()}
    rate = alarms["nimbus-prod-api-5xx-rate"]
    (expression,) = [m for m in rate["Metrics"] if "Expression" in m]
    assert expression["Expression"] == "IF(requests >= 10, 100 * errors / requests, 0)"
    assert rate["Threshold"] == 5.0
    assert alarms["nimbus-prod-api-latency-p95"]["ExtendedStatistic"] == "p95"
    auth = alarms["nimbus-prod-auth-failures-spike"]
    assert (auth["Namespace"], auth["MetricName"]) == ("Nimbus", "AuthFailures")
    assert auth["Dimensions"] == [{"Name": "Stage", "Value": "prod"}]


def test_the_dashboard_shows_the_nimbus_metrics_production_emits(template):
    from project import telemetry

    dashboard = template["Resources"]["OperationsDashboard"]["Properties"]
    body_template, variables = dashboard["DashboardBody"]["Fn::Sub"]
    body = json.loads(body_template)
    shown = {
        m[1] for w in _metric_widgets(body) for m in w["properties"]["metrics"] if m[0] == "Nimbus"
    }
    assert set(telemetry.METRIC_NAMES) - LOCAL_ONLY_METRICS == shown
    assert {"EventsProcessed", "EventsFailed"} <= shown
    states = {
        (m[1], m[3])
        for w in _metric_widgets(body)
        for m in w["properties"]["metrics"]
        if m[0] == "AWS/States"
    }
    machines = {
        n
        for n, r in template["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    }
    assert machines
    assert {v["Ref"] for k, v in variables.items() if k.startswith("Machine")} == machines
    for placeholder in (k for k in variables if k.startswith("Machine")):
        assert ("ExecutionsFailed", f"${{{placeholder}}}") in states
        assert ("ExecutionsSucceeded", f"${{{placeholder}}}") in states
    assert set(variables) == {
        v
        for w in _metric_widgets(body)
        for m in w["properties"]["metrics"]
        for v in _placeholders(m)
    }


def _metric_widgets(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in body["widgets"] if w["type"] == "metric"]


def _dashboard(template: dict[str, Any]) -> dict[str, Any]:
    body_template, _ = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"][
        "Fn::Sub"
    ]
    return json.loads(body_template)


def test_the_dashboard_opens_on_the_admin_charts_of_the_last_day(template):
    """The admin dashboard's charts locally, the same figures from AWS's metrics on AWS."""
    from project.operator_charts import CHARTS

    body = _dashboard(template)
    assert body["start"] == "-PT24H"
    first = [w for w in _metric_widgets(body) if w["properties"]["period"] == 3600]
    assert [w["properties"]["title"] for w in first] == [c.title for c in CHARTS]
    by_title = {w["properties"]["title"]: w["properties"]["metrics"] for w in first}

    def names(title: str) -> list[tuple[str, str]]:
        return [(m[0], m[1]) for m in by_title[title]]

    assert names("Uploads") == [("Nimbus", "UploadsStarted")]
    assert names("Accepted and rejected") == [
        ("Nimbus", "UploadsAccepted"),
        ("Nimbus", "UploadsRejected"),
    ]
    events = names("Events delivered, failed and dead-lettered")
    assert events[:2] == [("Nimbus", "EventsProcessed"), ("Nimbus", "EventsFailed")]
    dlqs = [
        n
        for n, r in template["Resources"].items()
        if r["Type"] == "AWS::SQS::Queue" and "DeadLetter" in n
    ]
    # every dead-letter queue of the stack (the rules' target DLQs too)
    assert len(events[2:]) >= len(dlqs) > 0
    assert set(events[2:]) == {("AWS/SQS", "ApproximateNumberOfMessagesVisible")}
    outcomes = {m for _, m in names("Workflow outcomes")}
    assert outcomes == {
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
    }
    (latency,) = by_title["Request latency (p95)"]
    assert (latency[0], latency[1], latency[-1]["stat"]) == ("AWS/ApiGateway", "Latency", "p95")
    # the local chart's metrics that production does not emit have these AWS counterparts
    assert {s.metric for c in CHARTS for s in c.series} - {
        m[1] for w in first for m in w["properties"]["metrics"]
    } == {"EventsDeadLettered", "WorkflowExecutions", "RequestDuration"}


def _placeholders(metric: list[Any]) -> set[str]:
    return {
        part[2:-1]
        for part in metric
        if isinstance(part, str) and part.startswith("${") and part != "${AWS::Region}"
    }


@pytest.mark.slow
def test_the_stack_with_monitoring_is_cfn_lint_clean(template):
    assert lint(template) == []
