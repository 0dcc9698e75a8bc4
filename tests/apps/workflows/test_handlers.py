"""On AWS, execution rows follow Step Functions' "Execution Status Change" events.

Each event arrives as EventBridge delivers it to the workflows group's queue (an SQS
record whose body is the event) through the Lambda entry, as on AWS.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from apps.workflows.models import Execution
from tests.apps.users.factories import user_create
from tests.conftest import load_aws_event

pytestmark = pytest.mark.django_db

FIXTURE = load_aws_event("eventbridge_sfn_status_change")
ARN = FIXTURE["detail"]["executionArn"]
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:nimbus-dev-workflows"


@pytest.fixture(autouse=True)
def aws_stage(settings):
    settings.NIMBUS_STAGE = "dev"
    settings.NIMBUS_PUSH = {"default": {"BACKEND": "apps.push.backends.dummy.DummyPushBackend"}}


@pytest.fixture
def pushed():
    from apps.push.backends import push_backend

    return push_backend()


@pytest.fixture
def owner():
    return user_create(email="owner@example.com")


@pytest.fixture
def execution(owner) -> Execution:
    """A file review Nimbus started on Step Functions (its row says RUNNING)."""
    return Execution.objects.create(
        workflow="file_review",
        name=FIXTURE["detail"]["name"],
        backend="aws",
        arn=ARN,
        input={"file_id": "3f1c2d4e-0000-4000-8000-000000000001", "owner_id": str(owner.pk)},
    )


def status_change(status: str, **detail: Any) -> dict[str, Any]:
    """The fixture's event with another id (each change is its own event) and ``status``."""
    event = copy.deepcopy(FIXTURE)
    event["id"] = str(uuid.uuid4())
    event["detail"].update(status=status, **detail)
    if status == "RUNNING":
        event["detail"].update(stopDate=None, output=None, outputDetails=None)
    return event


def as_sqs(*events: dict[str, Any]) -> dict[str, Any]:
    """EventBridge -> SQS: each event is the JSON body of one record of the group's queue."""
    template = load_aws_event("sqs_batch")["Records"][0]
    records = []
    for n, event in enumerate(events):
        record = copy.deepcopy(template)
        record.update(messageId=f"m-{n}", body=json.dumps(event), eventSourceARN=QUEUE_ARN)
        records.append(record)
    return {"Records": records}


@pytest.fixture
def deliver(lambda_entry, lambda_context, django_capture_on_commit_callbacks):
    def deliver(*events: dict[str, Any]) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            return lambda_entry(as_sqs(*events), lambda_context)

    return deliver


def test_succeeded_event_records_the_outcome_and_tells_the_owner(execution, owner, pushed, deliver):
    assert deliver(FIXTURE) == {"batchItemFailures": []}
    execution.refresh_from_db()
    assert execution.status == Execution.Status.SUCCEEDED
    assert execution.output == {"status": "approved"}
    assert execution.stopped_at == datetime(2026, 11, 27, 9, 2, 31, 881000, tzinfo=UTC)
    assert (execution.error, execution.cause) == ("", "")
    (frame,) = pushed.frames_for(owner.pk)
    assert frame["type"] == "workflow.step"
    assert frame["event"] == "ExecutionSucceeded"
    assert frame["status"] == "SUCCEEDED"
    assert frame["execution"] == str(execution.pk)
    assert frame["timestamp"] == "2026-11-27T09:02:31.881000+00:00"


def test_the_same_event_twice_changes_the_row_and_tells_the_owner_once(
    execution, owner, pushed, deliver
):
    assert deliver(FIXTURE, FIXTURE) == {"batchItemFailures": []}
    assert deliver(FIXTURE) == {"batchItemFailures": []}
    execution.refresh_from_db()
    assert execution.status == Execution.Status.SUCCEEDED
    assert len(pushed.frames_for(owner.pk)) == 1


def test_a_late_running_event_never_moves_a_finished_execution_back(
    execution, owner, pushed, deliver
):
    deliver(FIXTURE)
    assert deliver(status_change("RUNNING")) == {"batchItemFailures": []}
    execution.refresh_from_db()
    assert execution.status == Execution.Status.SUCCEEDED
    assert execution.output == {"status": "approved"}
    assert [f["event"] for f in pushed.frames_for(owner.pk)] == ["ExecutionSucceeded"]


def test_a_failure_records_its_error_and_cause(execution, deliver):
    deliver(
        status_change(
            "FAILED", output=None, error="ReviewTransientError", cause='{"errorMessage": "down"}'
        )
    )
    execution.refresh_from_db()
    assert execution.status == Execution.Status.FAILED
    assert execution.output is None
    assert execution.error == "ReviewTransientError"
    assert execution.cause == '{"errorMessage": "down"}'


def test_a_redrive_runs_again_and_ignores_the_earlier_attempts_late_events(
    execution, owner, pushed, deliver
):
    failed = status_change("FAILED", output=None, error="States.Timeout", cause="slow")
    deliver(failed)
    redriven = status_change("RUNNING", redriveCount=1, redriveDate=1795770200000)
    deliver(redriven)
    execution.refresh_from_db()
    assert execution.status == Execution.Status.RUNNING
    assert execution.redrive_count == 1
    assert (execution.stopped_at, execution.error, execution.cause) == (None, "", "")

    deliver(status_change("FAILED", output=None, error="States.Timeout"))  # attempt 0, late
    execution.refresh_from_db()
    assert execution.status == Execution.Status.RUNNING

    deliver(status_change("SUCCEEDED", redriveCount=1, stopDate=1795770260000))
    execution.refresh_from_db()
    assert execution.status == Execution.Status.SUCCEEDED
    assert execution.stopped_at == datetime(2026, 11, 27, 9, 4, 20, tzinfo=UTC)
    assert [f["event"] for f in pushed.frames_for(owner.pk)] == [
        "ExecutionFailed",
        "ExecutionRedriven",
        "ExecutionSucceeded",
    ]


def test_an_execution_nimbus_does_not_know_is_retried_then_dead_lettered(db, deliver):
    # No row (yet): the record fails alone, SQS retries it and, after maxReceiveCount, the
    # group's DLQ holds it for an operator.
    other = status_change("SUCCEEDED")
    assert deliver(other) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}


def test_a_status_nimbus_cannot_read_fails_the_record(execution, deliver):
    assert deliver(status_change("PAUSED")) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    execution.refresh_from_db()
    assert execution.status == Execution.Status.RUNNING
