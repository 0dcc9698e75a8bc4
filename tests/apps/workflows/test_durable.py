"""Local executions on Django: persisted transitions, Waits and retries without a held
worker, callbacks through the signed URL, the reconciler, checks and bad input."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.core import checks, signing
from django.db import connection

from apps.workflows import driver, registry, services
from apps.workflows.exceptions import InvalidExecutionInput, UnknownWorkflow
from apps.workflows.models import Execution, HistoryEvent, TaskToken

pytestmark = pytest.mark.django_db(transaction=True)


def url_token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_wait_holds_nothing_and_resumes_when_due(clock):
    execution = services.execution_start(
        workflow="wait_then_echo", input={"seconds": 60}, name="w1"
    )
    execution.refresh_from_db()
    assert execution.status == "RUNNING"
    assert execution.wake_at == clock.now + timedelta(seconds=60)
    assert execution.lease_until is None  # no driver holds it while it waits
    assert driver.reconcile(grace_seconds=0) == []  # not due yet
    clock.advance(60)
    assert driver.reconcile(grace_seconds=0) == [str(execution.pk)]
    execution.refresh_from_db()
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"seconds": 60, "result": {"echoed": {"seconds": 60}}}
    types = list(execution.events.values_list("type", flat=True))
    assert types == [
        "ExecutionStarted",
        "WaitStateEntered",
        "WaitStateExited",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    assert list(execution.events.values_list("seq", flat=True)) == list(range(1, 10))


def test_retry_interval_is_a_continuation(clock, test_workflows):
    execution = services.execution_start(workflow="flaky", input={"failures": 1})
    execution.refresh_from_db()
    assert execution.status == "RUNNING"
    assert test_workflows.calls["flaky"] == 1
    clock.advance(29)
    driver.reconcile(grace_seconds=0)
    assert test_workflows.calls["flaky"] == 1
    clock.advance(1)
    driver.reconcile(grace_seconds=0)
    execution.refresh_from_db()
    assert (execution.status, execution.output) == ("SUCCEEDED", {"attempts": 2})


def test_step_errors_keep_their_name_when_retries_run_out(clock):
    execution = services.execution_start(workflow="flaky", input={"failures": 9})
    for _ in range(3):
        clock.advance(120)
        driver.reconcile(grace_seconds=0)
    execution.refresh_from_db()
    assert (execution.status, execution.error) == ("FAILED", "TransientError")
    assert json.loads(execution.cause)["errorMessage"] == "not yet"


def test_callback_url_approves_once(client, test_workflows, caplog, never_logged):
    caplog.set_level(logging.DEBUG)
    execution = services.execution_start(workflow="approval", input={"doc": "d"})
    url = test_workflows.issued[-1]
    raw = signing.loads(url_token(url), salt=services.CALLBACK_SALT)
    never_logged(raw)
    never_logged(url_token(url))
    row = TaskToken.objects.get(execution=execution)
    assert row.token_hash != raw
    assert row.sealed == raw  # readable by the admin's approve button...
    with connection.cursor() as cursor:  # ...but not stored in clear
        cursor.execute("SELECT sealed FROM workflows_tasktoken WHERE id = %s", [row.pk])
        assert raw not in cursor.fetchone()[0]
    body = {"outcome": "success", "output": {"approved": True}}
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 202, response.content
    execution.refresh_from_db()
    assert execution.status == "SUCCEEDED"
    assert execution.output["decision"] == {"approved": True}
    again = client.post(url, body, content_type="application/json")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "workflow_callback_invalid"
    stored = json.dumps(list(HistoryEvent.objects.values("details"))) + json.dumps(execution.run)
    assert raw not in stored
    assert raw not in caplog.text


def test_heartbeat_url_extends_a_waiting_task(client, test_workflows):
    execution = services.execution_start(workflow="approval", input={"doc": "d"})
    url = test_workflows.issued[-1]
    assert client.post(url + "/heartbeat").status_code == 202
    assert client.post("/api/workflows/callbacks/bogus/heartbeat").status_code == 404
    execution.refresh_from_db()
    assert execution.status == "RUNNING"


def test_callback_failure_reaches_catch_or_fails(client, test_workflows):
    execution = services.execution_start(workflow="approval", input={"doc": "d"})
    body = {"outcome": "failure", "error": "Rejected", "cause": "looks wrong"}
    response = client.post(test_workflows.issued[-1], body, content_type="application/json")
    assert response.status_code == 202
    execution.refresh_from_db()
    assert (execution.status, execution.error, execution.cause) == (
        "FAILED",
        "Rejected",
        "looks wrong",
    )


@pytest.mark.parametrize("mangle", ["tamper", "unknown", "garbage"])
def test_bad_callback_tokens_are_refused_and_change_nothing(client, test_workflows, mangle):
    execution = services.execution_start(workflow="approval", input={"doc": "d"})
    token = url_token(test_workflows.issued[-1])
    if mangle == "tamper":
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    elif mangle == "unknown":
        token = signing.dumps("made-up-token", salt=services.CALLBACK_SALT, compress=True)
    else:
        token = "nonsense"
    before = execution.events.count()
    response = client.post(
        f"/api/workflows/callbacks/{token}",
        {"outcome": "success"},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "workflow_callback_invalid"
    execution.refresh_from_db()
    assert execution.status == "RUNNING"
    assert execution.events.count() == before
    assert TaskToken.objects.get(execution=execution).consumed_at is None


def test_expired_callback_is_refused_and_timeout_catches(client, clock, test_workflows):
    execution = services.execution_start(workflow="approval", input={"doc": "d"})
    url = test_workflows.issued[-1]
    clock.advance(3600)
    response = client.post(url, {"outcome": "success"}, content_type="application/json")
    assert response.status_code == 404
    driver.reconcile(grace_seconds=0)
    execution.refresh_from_db()
    assert (execution.status, execution.error) == ("FAILED", "ApprovalExpired")


def test_callback_payload_is_validated(client, test_workflows):
    services.execution_start(workflow="approval", input={"doc": "d"})
    url = test_workflows.issued[-1]
    response = client.post(url, {"outcome": "maybe"}, content_type="application/json")
    assert response.status_code == 422
    response = client.post(url, {"outcome": "failure"}, content_type="application/json")
    assert response.status_code == 422
    assert TaskToken.objects.get().consumed_at is None


def test_stopped_execution_refuses_its_callback(client, test_workflows):
    execution = services.execution_start(workflow="approval", input={"doc": "d"})
    services.execution_stop(execution=execution, error="Operator")
    response = client.post(
        test_workflows.issued[-1], {"outcome": "success"}, content_type="application/json"
    )
    assert response.status_code == 404


def test_redrive_after_failure(clock, test_workflows):
    execution = services.execution_start(workflow="flaky", input={"failures": 3})
    for _ in range(3):
        clock.advance(120)
        driver.reconcile(grace_seconds=0)
    execution.refresh_from_db()
    assert execution.status == "FAILED"
    services.execution_redrive(execution=execution)
    execution.refresh_from_db()
    assert (execution.status, execution.output) == ("SUCCEEDED", {"attempts": 4})
    assert "ExecutionRedriven" in execution.events.values_list("type", flat=True)


def test_unknown_workflow_and_bad_input_are_client_errors():
    with pytest.raises(UnknownWorkflow) as caught:
        services.execution_start(workflow="nope", input={})
    assert caught.value.status == 404
    for bad in ([1, 2], "text", None):
        with pytest.raises(InvalidExecutionInput) as invalid:
            services.execution_start(workflow="wait_then_echo", input=bad)
        assert invalid.value.status == 422
    assert not Execution.objects.exists()


def test_lost_continuation_is_found_by_the_reconciler(clock):
    execution = services.execution_start(workflow="wait_then_echo", input={"seconds": 5})
    clock.advance(5)
    assert driver.reconcile(grace_seconds=5) == []  # the deferred task still has time
    clock.advance(5)
    assert driver.reconcile(grace_seconds=5) == [str(execution.pk)]


def test_system_check_reports_invalid_definition_and_unknown_step(tmp_path):
    (tmp_path / "broken.asl.json").write_text(
        json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}}})
    )
    (tmp_path / "orphan.asl.json").write_text(
        json.dumps(
            {
                "StartAt": "T",
                "States": {"T": {"Type": "Task", "Resource": "step:no.such", "End": True}},
            }
        )
    )
    registry.load_definitions([tmp_path])
    messages = {m.id: m.msg for m in checks.run_checks(tags=["workflows"])}
    assert "state 'A': 'Next' names no state" in messages["workflows.E001"]
    assert "'no.such'" in messages["workflows.E002"]
    assert "state 'T'" in messages["workflows.E002"]


def test_shipped_definitions_pass_the_checks():
    registry.load_definitions(registry.definition_dirs())
    assert [m for m in checks.run_checks(tags=["workflows"])] == []


def test_waits_inside_map_and_parallel_resume_from_the_database(clock, test_workflows):
    execution = services.execution_start(workflow="map_waits", input={"delays": [10, 20]})
    execution.refresh_from_db()
    assert execution.wake_at == clock.now + timedelta(seconds=10)
    clock.advance(10)
    driver.reconcile(grace_seconds=0)
    execution.refresh_from_db()
    assert execution.status == "RUNNING"
    assert test_workflows.calls["echo"] == 1
    assert execution.wake_at == clock.now + timedelta(seconds=20)
    clock.advance(20)
    driver.reconcile(grace_seconds=0)
    execution.refresh_from_db()
    assert execution.status == "SUCCEEDED"
    assert execution.output == [[{"echoed": 10}, {"echoed": 20}], "quick"]
    types = list(execution.events.values_list("type", flat=True))
    assert types.count("MapIterationStarted") == 2
    assert types.count("MapIterationSucceeded") == 2
    assert "ParallelStateSucceeded" in types
