"""workflows.W001: every Task that invokes the Lambda on AWS retries Lambda's own errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core import checks

from apps.workflows import registry
from apps.workflows.engine import Interpreter, StatesError, walk_states
from apps.workflows.engine.aws import LAMBDA_SERVICE_ERRORS

LAMBDA_RETRIER = {
    "ErrorEquals": list(LAMBDA_SERVICE_ERRORS),
    "IntervalSeconds": 1,
    "BackoffRate": 2,
    "MaxAttempts": 6,
    "JitterStrategy": "FULL",
}


def _warnings(tmp_path: Path, **tasks: dict[str, Any]) -> dict[str, str]:
    """W001 messages by state name, for one definition made of the given Task states."""
    names = list(tasks)
    states = {
        name: {"Type": "Task", "Resource": "step:tests.echo", **body}
        | ({"Next": names[i + 1]} if i + 1 < len(names) else {"End": True})
        for i, (name, body) in enumerate(tasks.items())
    }
    path = tmp_path / "retries.asl.json"
    path.write_text(json.dumps({"StartAt": names[0], "States": states}))
    registry.load_definitions([tmp_path])
    found = [m for m in checks.run_checks(tags=["workflows"]) if m.id == "workflows.W001"]
    assert all(m.level == checks.WARNING for m in found)
    return {name: m.msg for m in found for name in names if f"state {name!r}" in m.msg}


def test_lambda_tasks_without_a_retry_for_the_service_errors_are_warned_about(tmp_path):
    warned = _warnings(
        tmp_path,
        NoRetry={},
        OwnErrorsOnly={"Retry": [{"ErrorEquals": ["ReviewTransientError"]}]},
        ThreeOfFour={"Retry": [{**LAMBDA_RETRIER, "ErrorEquals": list(LAMBDA_SERVICE_ERRORS[:3])}]},
        NeverRetried={"Retry": [{**LAMBDA_RETRIER, "MaxAttempts": 0}]},
        Shadowed={
            "Retry": [
                {"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 0},
                {"ErrorEquals": ["States.ALL"]},
            ]
        },
        Waits={"Resource": "step:tests.echo.waitForTaskToken"},
    )
    assert set(warned) == {
        "NoRetry",
        "OwnErrorsOnly",
        "ThreeOfFour",
        "NeverRetried",
        "Shadowed",
        "Waits",
    }
    assert all(error in warned["NoRetry"] for error in LAMBDA_SERVICE_ERRORS)
    assert warned["ThreeOfFour"].endswith(
        "does not retry Lambda.TooManyRequestsException: one throttled invoke fails it."
    )
    assert "Lambda.ServiceException" not in warned["Shadowed"]


def test_the_recommended_retrier_and_the_wildcards_cover_the_service_errors(tmp_path):
    warned = _warnings(
        tmp_path,
        Recommended={"Retry": [LAMBDA_RETRIER, {"ErrorEquals": ["States.ALL"]}]},
        All={"Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]},
        # States.TaskFailed matches every Task error except States.Timeout.
        TaskFailed={"Retry": [{"ErrorEquals": ["States.TaskFailed"]}]},
        Split={
            "Retry": [
                {"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 6},
                {"ErrorEquals": list(LAMBDA_SERVICE_ERRORS[:3])},
            ]
        },
        NotLambda={"Resource": "arn:aws:states:::sqs:sendMessage", "Parameters": {"a": 1}},
    )
    assert warned == {}


def test_lambda_resources_written_for_aws_are_checked_too(tmp_path):
    warned = _warnings(
        tmp_path,
        Arn={"Resource": "arn:aws:lambda:us-east-1:123456789012:function:nimbus"},
        Invoke={"Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"}},
    )
    assert set(warned) == {"Arn", "Invoke"}


def test_shipped_definitions_retry_the_service_errors_first_in_every_lambda_task():
    registry.load_definitions(registry.definition_dirs())
    assert [m.id for m in checks.run_checks(tags=["workflows"])] == []
    assert registry.definitions  # there is something to check
    for definition in registry.definitions.values():
        assert definition.asl is not None
        for _name, state in walk_states(definition.asl):
            if state.get("Type") == "Task":
                assert state["Retry"][0] == {**LAMBDA_RETRIER, "BackoffRate": 2.0}


class Throttled:
    """Runs file_review's steps, the first invoke of Prepare throttled by Lambda."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, resource: str, payload: Any, *, context: dict[str, Any], token: Any) -> Any:
        self.calls.append(resource)
        if resource == "step:files.review_prepare" and len(self.calls) == 1:
            raise StatesError("Lambda.TooManyRequestsException", "Rate Exceeded.")
        if resource == "step:files.review_prepare":
            return {"file_id": payload["file_id"], "needs_approval": False}
        return {"status": "approved"}


def test_one_throttled_invoke_is_retried_instead_of_failing_the_review():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    clock = [now]
    asl = registry.definitions["file_review"].asl
    assert asl is not None
    tasks = Throttled()
    engine = Interpreter(asl, tasks=tasks, now=lambda: clock[0])
    run = engine.start({"file_id": "f"}, execution_id="e", name="n")
    engine.advance(run)
    assert run["status"] == "RUNNING"
    assert tasks.calls == ["step:files.review_prepare"]
    clock[0] = now.replace(minute=1)  # past the first retry's at most 1 s
    engine.advance(run)
    assert run["status"] == "SUCCEEDED"
    assert "step:files.review_fail" not in tasks.calls
    assert tasks.calls[:2] == ["step:files.review_prepare"] * 2
