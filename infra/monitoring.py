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
are neither alarmed on nor plotted: their AWS counterparts above are. The dashboard shows
the alarmed series plus upload, event and rate-limit counts. Thresholds live in
:data:`THRESHOLDS` so an operator tunes them in one place.
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
    {"WorkflowExecutions", "WorkflowFailures", "WorkflowDuration", "EventsDeadLettered"}
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


def _widget(
    title: str, metrics: list[list[Any]], *, x: int, y: int, **props: Any
) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
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


def dashboard_body(stack: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dashboard JSON (with ``${...}`` placeholders) and the values to substitute."""
    p, stage = stack.prefix, stack.inputs.stage
    variables: dict[str, Any] = {}
    machines: list[list[Any]] = []
    for i, (name, machine) in enumerate(sorted(stack.state_machines.items())):
        variables[f"Machine{i}"] = Ref(machine)
        machines.append(
            [
                "AWS/States",
                "ExecutionsFailed",
                "StateMachineArn",
                f"${{Machine{i}}}",
                {"label": f"{name} failed"},
            ]
        )
        machines.append(
            [
                "AWS/States",
                "ExecutionsSucceeded",
                "StateMachineArn",
                f"${{Machine{i}}}",
                {"label": f"{name} succeeded"},
            ]
        )
    dlqs: list[list[Any]] = []
    for i, (_logical, queue) in enumerate(sorted(stack.dead_letter_queues.items())):
        variables[f"Dlq{i}"] = GetAtt(queue, "QueueName")
        dlqs.append(["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"${{Dlq{i}}}"])
    nimbus = [NAMESPACE]
    widgets = [
        _widget(
            "API requests and errors",
            [
                ["AWS/ApiGateway", "Count", "ApiName", p, {"stat": "Sum"}],
                [".", "5XXError", ".", ".", {"stat": "Sum"}],
                [".", "4XXError", ".", ".", {"stat": "Sum"}],
            ],
            x=0,
            y=0,
        ),
        _widget(
            "API latency",
            [
                ["AWS/ApiGateway", "Latency", "ApiName", p, {"stat": "p50"}],
                ["...", {"stat": "p95"}],
                ["...", {"stat": "p99"}],
            ],
            x=12,
            y=0,
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
            y=6,
        ),
        _widget(
            "Uploads",
            [
                [*nimbus, "UploadsStarted", "Stage", stage, {"stat": "Sum"}],
                [*nimbus, "UploadsAccepted", "Stage", stage, {"stat": "Sum"}],
                [*nimbus, "UploadsRejected", "Stage", stage, {"stat": "Sum"}],
            ],
            x=12,
            y=6,
        ),
        _widget(
            "Events",
            [
                [*nimbus, "EventsPublished", "Stage", stage, {"stat": "Sum"}],
                [*nimbus, "EventsProcessed", "Stage", stage, {"stat": "Sum"}],
                [*nimbus, "EventsFailed", "Stage", stage, {"stat": "Sum"}],
            ],
            x=0,
            y=12,
        ),
        _widget(
            "Authentication failures and rate limits",
            [
                [*nimbus, "AuthFailures", "Stage", stage, {"stat": "Sum"}],
                [*nimbus, "RateLimited", "Stage", stage, {"stat": "Sum"}],
            ],
            x=0,
            y=18,
        ),
    ]
    if machines:
        widgets.append(_widget("Workflows (Step Functions executions)", machines, x=12, y=12))
    if dlqs:
        widgets.append(_widget("Dead-letter queues (messages)", dlqs, x=12, y=18, stat="Maximum"))
    return {"widgets": widgets}, variables


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
