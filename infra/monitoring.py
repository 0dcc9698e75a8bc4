"""Alarms and the operations dashboard, added to the stack by ``infra.template``.

Every alarm notifies the operators topic (``stack.named["OperatorsTopic"]``) when it fires
and when it clears:

* API 5xx rate (share of API Gateway requests answered 5xx) and p95 latency;
* Lambda throttles and errors of the Zappa function (``nimbus-<stage>``);
* Step Functions executions failed, timed out or aborted, per state machine;
* Nimbus's own EMF metrics (``project.telemetry``): a spike of authentication failures;
* dead-letter queues not empty: made by ``infra.parts.events`` next to each DLQ.

On AWS, Step Functions runs workflows and SQS keeps dead letters, so the Nimbus metrics
that only the local workflow engine and the local bus record (:data:`LOCAL_ONLY_METRICS`)
are neither alarmed on nor plotted: their AWS counterparts above are. The dashboard opens
on the last 24 hours, its first rows the admin dashboard's five charts by title
(:data:`LAST_DAY_TITLES`: uploads, accepted/rejected, events delivered/failed/dead-lettered,
workflow outcomes, p95 request latency) drawn hourly from AWS's metrics, then the alarmed
series and the event and rate-limit counts. Thresholds live in :data:`THRESHOLDS` so an
operator tunes them in one place.
"""

from __future__ import annotations

import json
from typing import Any

from troposphere import GetAtt, Ref, Sub, cloudwatch

from infra.context import Stack

NAMESPACE = "Nimbus"  # project.telemetry.NAMESPACE (not imported: infra stays Django-free)

#: Metrics recorded only by the local workflow engine (apps.workflows.driver) and the local
#: bus's dead letters (apps.events.delivery): never emitted on AWS, where the per-state-
#: machine AWS/States alarms and the per-queue DLQ alarms watch the same things.
LOCAL_ONLY_METRICS = frozenset(
    {
        "WorkflowExecutions",
        "WorkflowFailures",
        "WorkflowDuration",
        "EventsDeadLettered",
        # per-request durations: API Gateway's Latency measures every request on AWS
        "RequestDuration",
    }
)

THRESHOLDS: dict[str, float] = {
    "api_5xx_percent": 5.0,  # over 5 minutes, with at least some traffic
    "api_p95_latency_ms": 3000.0,
    "auth_failures_per_5min": 50.0,
    "lambda_errors_per_5min": 5.0,
}


def add_monitoring(stack: Stack) -> None:
    """Add every alarm and the dashboard to ``stack.template``."""
    _api_alarms(stack)
    _function_alarms(stack)
    _workflow_alarms(stack)
    _nimbus_metric_alarms(stack)
    _dashboard(stack)


def _notify(stack: Stack) -> dict[str, Any]:
    topic = Ref(stack.named["OperatorsTopic"])
    return {"AlarmActions": [topic], "OKActions": [topic], "TreatMissingData": "notBreaching"}


def _dims(**values: Any) -> list[cloudwatch.MetricDimension]:
    return [cloudwatch.MetricDimension(Name=k, Value=v) for k, v in values.items()]


def _stat(
    id_: str, namespace: str, name: str, stat: str, dims: dict[str, Any], *, period: int = 300
) -> cloudwatch.MetricDataQuery:
    return cloudwatch.MetricDataQuery(
        Id=id_,
        ReturnData=False,
        MetricStat=cloudwatch.MetricStat(
            Metric=cloudwatch.Metric(
                Namespace=namespace, MetricName=name, Dimensions=_dims(**dims)
            ),
            Period=period,
            Stat=stat,
        ),
    )


def _api_alarms(stack: Stack) -> None:
    api = {"ApiName": stack.prefix}  # Zappa names the REST API after the function
    stack.add(
        cloudwatch.Alarm(
            "Api5xxRateAlarm",
            AlarmName=f"{stack.prefix}-api-5xx-rate",
            AlarmDescription="More than 5% of API requests failed with a 5xx over 5 minutes.",
            Metrics=[
                _stat("errors", "AWS/ApiGateway", "5XXError", "Sum", api),
                _stat("requests", "AWS/ApiGateway", "Count", "Sum", api),
                cloudwatch.MetricDataQuery(
                    Id="rate",
                    Expression="IF(requests >= 10, 100 * errors / requests, 0)",
                    Label="5xx %",
                    ReturnData=True,
                ),
            ],
            EvaluationPeriods=1,
            Threshold=THRESHOLDS["api_5xx_percent"],
            ComparisonOperator="GreaterThanThreshold",
            **_notify(stack),
        )
    )
    stack.add(
        cloudwatch.Alarm(
            "ApiLatencyP95Alarm",
            AlarmName=f"{stack.prefix}-api-latency-p95",
            AlarmDescription="p95 API latency above 3 s for 3 of 5 minutes.",
            Namespace="AWS/ApiGateway",
            MetricName="Latency",
            Dimensions=_dims(**api),
            ExtendedStatistic="p95",
            Period=60,
            EvaluationPeriods=5,
            DatapointsToAlarm=3,
            Threshold=THRESHOLDS["api_p95_latency_ms"],
            ComparisonOperator="GreaterThanThreshold",
            **_notify(stack),
        )
    )


def _function_alarms(stack: Stack) -> None:
    function = {"FunctionName": stack.prefix}
    stack.add(
        cloudwatch.Alarm(
            "FunctionThrottlesAlarm",
            AlarmName=f"{stack.prefix}-lambda-throttles",
            AlarmDescription="The function was throttled (concurrency limit reached).",
            Namespace="AWS/Lambda",
            MetricName="Throttles",
            Dimensions=_dims(**function),
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            **_notify(stack),
        )
    )
    stack.add(
        cloudwatch.Alarm(
            "FunctionErrorsAlarm",
            AlarmName=f"{stack.prefix}-lambda-errors",
            AlarmDescription="Invocations ended in an unhandled error (see the function's logs).",
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=_dims(**function),
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=THRESHOLDS["lambda_errors_per_5min"],
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            **_notify(stack),
        )
    )


def _machine_logical(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def _workflow_alarms(stack: Stack) -> None:
    for name, machine in sorted(stack.state_machines.items()):
        arn = {"StateMachineArn": Ref(machine)}
        stack.add(
            cloudwatch.Alarm(
                f"Workflow{_machine_logical(name)}FailuresAlarm",
                AlarmName=f"{stack.prefix}-workflow-{name}-failures",
                AlarmDescription=(
                    f"Executions of the {name} workflow failed, timed out or were aborted: "
                    "see Workflow executions in the admin."
                ),
                Metrics=[
                    _stat("failed", "AWS/States", "ExecutionsFailed", "Sum", arn),
                    _stat("timedout", "AWS/States", "ExecutionsTimedOut", "Sum", arn),
                    _stat("aborted", "AWS/States", "ExecutionsAborted", "Sum", arn),
                    cloudwatch.MetricDataQuery(
                        Id="total",
                        Expression="failed + timedout + aborted",
                        Label="unsuccessful executions",
                        ReturnData=True,
                    ),
                ],
                EvaluationPeriods=1,
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
                **_notify(stack),
            )
        )


def _nimbus_metric_alarms(stack: Stack) -> None:
    stage = {"Stage": stack.inputs.stage}
    alarms = [
        (
            "AuthFailuresSpikeAlarm",
            "auth-failures-spike",
            "AuthFailures",
            THRESHOLDS["auth_failures_per_5min"],
            "Many failed sign-ins or rejected tokens in 5 minutes (credential stuffing?).",
        ),
    ]
    for logical, suffix, metric, threshold, description in alarms:
        stack.add(
            cloudwatch.Alarm(
                logical,
                AlarmName=f"{stack.prefix}-{suffix}",
                AlarmDescription=description,
                Namespace=NAMESPACE,
                MetricName=metric,
                Dimensions=_dims(**stage),
                Statistic="Sum",
                Period=300,
                EvaluationPeriods=1,
                Threshold=threshold,
                ComparisonOperator="GreaterThanThreshold",
                **_notify(stack),
            )
        )


# --- dashboard ---------------------------------------------------------------------------


#: The admin dashboard's charts of the last day (``project.operator_charts.CHARTS``), by
#: title and in order: the dashboard's first row shows the same figures from AWS's metrics
#: (hourly, over 24 hours). tests/infra/test_monitoring.py keeps the two lists equal.
LAST_DAY_TITLES = (
    "Uploads",
    "Accepted and rejected",
    "Events delivered, failed and dead-lettered",
    "Workflow outcomes",
    "Request latency (p95)",
)
HOUR = 3600


def _widget(
    title: str, metrics: list[list[Any]], *, x: int, y: int, width: int = 12, **props: Any
) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": width,
        "height": 6,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "stacked": False,
            "period": 300,
            "metrics": metrics,
            **props,
        },
    }


def _machines(stack: Stack, variables: dict[str, Any]) -> list[list[Any]]:
    """Each state machine's executions by outcome (the admin's "Workflow outcomes")."""
    metrics: list[list[Any]] = []
    outcomes = (
        ("ExecutionsSucceeded", "succeeded"),
        ("ExecutionsFailed", "failed"),
        ("ExecutionsTimedOut", "timed out"),
        ("ExecutionsAborted", "aborted"),
    )
    for i, (name, machine) in enumerate(sorted(stack.state_machines.items())):
        variables[f"Machine{i}"] = Ref(machine)
        for metric, label in outcomes:
            metrics.append(
                [
                    "AWS/States",
                    metric,
                    "StateMachineArn",
                    f"${{Machine{i}}}",
                    {"label": f"{name} {label}", "stat": "Sum"},
                ]
            )
    return metrics


def _dead_letters(stack: Stack, variables: dict[str, Any]) -> list[list[Any]]:
    """Messages waiting in each dead-letter queue: SQS counts no message it moves to a DLQ
    in NumberOfMessagesSent, so the queue's depth is what shows dead-lettering on AWS."""
    metrics: list[list[Any]] = []
    for i, (logical, queue) in enumerate(sorted(stack.dead_letter_queues.items())):
        variables[f"Dlq{i}"] = GetAtt(queue, "QueueName")
        metrics.append(
            [
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "QueueName",
                f"${{Dlq{i}}}",
                {"label": f"Dead-lettered, waiting ({logical})", "stat": "Maximum"},
            ]
        )
    return metrics


def _last_day(stack: Stack, variables: dict[str, Any]) -> list[dict[str, Any]]:
    """The admin dashboard's five charts, hourly: the first rows of the dashboard."""
    p, stage = stack.prefix, stack.inputs.stage

    def nimbus(metric: str, label: str) -> list[Any]:
        return [NAMESPACE, metric, "Stage", stage, {"label": label, "stat": "Sum"}]

    series = [
        [nimbus("UploadsStarted", "Started")],
        [nimbus("UploadsAccepted", "Accepted"), nimbus("UploadsRejected", "Rejected")],
        [
            nimbus("EventsProcessed", "Delivered"),
            nimbus("EventsFailed", "Failed"),
            *_dead_letters(stack, variables),
        ],
        _machines(stack, variables),
        [["AWS/ApiGateway", "Latency", "ApiName", p, {"label": "p95", "stat": "p95"}]],
    ]
    widgets = []
    for i, (title, metrics) in enumerate(zip(LAST_DAY_TITLES, series, strict=True)):
        if metrics:
            widgets.append(
                _widget(title, metrics, x=(i % 3) * 8, y=1 + (i // 3) * 6, width=8, period=HOUR)
            )
    return widgets


def dashboard_body(stack: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dashboard JSON (with ``${...}`` placeholders) and the values to substitute."""
    p, stage = stack.prefix, stack.inputs.stage
    variables: dict[str, Any] = {}
    nimbus = [NAMESPACE]
    header = {
        "type": "text",
        "x": 0,
        "y": 0,
        "width": 24,
        "height": 1,
        "properties": {
            "markdown": "## Last 24 hours, hourly (the same charts as the admin's dashboard)"
        },
    }
    below = 13
    widgets = [
        header,
        *_last_day(stack, variables),
        _widget(
            "API requests and errors",
            [
                ["AWS/ApiGateway", "Count", "ApiName", p, {"stat": "Sum"}],
                [".", "5XXError", ".", ".", {"stat": "Sum"}],
                [".", "4XXError", ".", ".", {"stat": "Sum"}],
            ],
            x=0,
            y=below,
        ),
        _widget(
            "API latency",
            [
                ["AWS/ApiGateway", "Latency", "ApiName", p, {"stat": "p50"}],
                ["...", {"stat": "p95"}],
                ["...", {"stat": "p99"}],
            ],
            x=12,
            y=below,
        ),
        _widget(
            "Function",
            [
                ["AWS/Lambda", "Invocations", "FunctionName", p, {"stat": "Sum"}],
                [".", "Errors", ".", ".", {"stat": "Sum"}],
                [".", "Throttles", ".", ".", {"stat": "Sum"}],
                [".", "ConcurrentExecutions", ".", ".", {"stat": "Maximum"}],
            ],
            x=0,
            y=below + 6,
        ),
        _widget(
            "Events published and processed",
            [
                [*nimbus, "EventsPublished", "Stage", stage, {"stat": "Sum"}],
                [*nimbus, "EventsProcessed", "Stage", stage, {"stat": "Sum"}],
                [*nimbus, "EventsFailed", "Stage", stage, {"stat": "Sum"}],
            ],
            x=12,
            y=below + 6,
        ),
        _widget(
            "Authentication failures and rate limits",
            [
                [*nimbus, "AuthFailures", "Stage", stage, {"stat": "Sum"}],
                [*nimbus, "RateLimited", "Stage", stage, {"stat": "Sum"}],
            ],
            x=0,
            y=below + 12,
        ),
    ]
    return {"start": "-PT24H", "periodOverride": "inherit", "widgets": widgets}, variables


def _dashboard(stack: Stack) -> None:
    body, variables = dashboard_body(stack)
    stack.add(
        cloudwatch.Dashboard(
            "OperationsDashboard",
            DashboardName=f"{stack.prefix}-operations",
            DashboardBody=Sub(json.dumps(body, separators=(",", ":")), variables),
        ),
        name="OperationsDashboard",
    )
