"""The workflows admin: lists, the execution page (SVG graph + timeline), actions."""

from __future__ import annotations

import json
import time

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from apps.workflows import registry, services
from apps.workflows.models import Execution, TaskToken

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("ops@example.com", "pw-ops-12345678")
    client = Client()
    client.force_login(user)
    return client


def page(operator: Client, execution: Execution) -> str:
    response = operator.get(reverse("admin:workflows_execution_change", args=[execution.pk]))
    assert response.status_code == 200
    return response.content.decode()


def act(operator: Client, execution: Execution, **data: str) -> None:
    response = operator.post(reverse("admin:workflows_execution_act", args=[execution.pk]), data)
    assert response.status_code == 302


def test_changelist_filters_by_workflow_and_status(operator):
    services.execution_start(workflow="contract_pass", input={"who": "a"}, name="passing")
    services.execution_start(workflow="contract_fail", input={"ok": False}, name="failing")
    url = reverse("admin:workflows_execution_changelist")
    body = operator.get(url, {"status__exact": "FAILED"}).content.decode()
    assert "failing" in body
    assert "passing" not in body
    body = operator.get(url, {"workflow": "contract_pass"}).content.decode()
    assert "passing" in body
    assert "failing" not in body


def test_execution_page_draws_states_by_status_and_the_timeline(operator, test_workflows):
    execution = services.execution_start(workflow="approval", input={"doc": "secret-doc"})
    raw = signing.loads(test_workflows.issued[-1].rsplit("/", 1)[1], salt=services.CALLBACK_SALT)
    html = page(operator, execution)
    assert "<svg" in html
    assert 'class="state state-waiting" data-state="Approve"' in html
    assert 'class="state state-not_run" data-state="Expired"' in html
    assert "TaskStateEntered" in html
    assert "secret-doc" in html  # each state's input is shown
    assert raw not in html
    token = TaskToken.objects.get(execution=execution)
    assert token.token_hash[:12] in html
    pending = reverse("admin:workflows_tasktoken_changelist") + "?consumed_at__isnull=True"
    listing = operator.get(pending)
    assert listing.status_code == 200
    assert token.token_hash[:12] in listing.content.decode()
    assert raw not in listing.content.decode()


def audit_rows() -> list[tuple[str, str, str, str]]:
    from project.models import AuditEntry

    return [
        (a.target_type, a.target_repr, a.detail.get("verdict", ""), a.detail.get("reason", ""))
        for a in AuditEntry.objects.filter(action="action").order_by("pk")
    ]


def test_operator_approves_from_the_execution_page(operator):
    execution = services.execution_start(workflow="approval", input={"doc": "d"})
    task = TaskToken.objects.get(execution=execution)
    act(operator, execution, action="approve", task=str(task.pk))
    messages = [m.message for m in operator.get("/admin/").context["messages"]]
    assert messages == ["Approve: approved."]
    # one row, naming the execution, its state and the verdict (no "0 selected")
    assert audit_rows() == [("workflows.execution", f"{execution} · Approve", "approved", "")]
    execution.refresh_from_db()
    assert execution.status == "SUCCEEDED"
    assert execution.output["decision"]["approved"] is True
    task.refresh_from_db()
    assert task.resolved_by == "admin:ops@example.com"
    assert 'class="state state-succeeded" data-state="Approve"' in page(operator, execution)


def test_operator_rejects_with_a_reason(operator):
    execution = services.execution_start(workflow="approval", input={"doc": "d"})
    task = TaskToken.objects.get(execution=execution)
    act(operator, execution, action="reject", task=str(task.pk), reason="Wrong file")
    messages = [m.message for m in operator.get("/admin/").context["messages"]]
    assert messages == ["Approve: rejected."]
    assert audit_rows() == [
        ("workflows.execution", f"{execution} · Approve", "rejected", "Wrong file")
    ]
    execution.refresh_from_db()
    assert (execution.status, execution.error, execution.cause) == (
        "FAILED",
        "Rejected",
        "Wrong file",
    )
    assert 'class="state state-failed" data-state="Approve"' in page(operator, execution)


def test_stop_then_redrive(operator):
    execution = services.execution_start(workflow="wait_then_echo", input={"seconds": 600})
    act(operator, execution, action="stop")
    execution.refresh_from_db()
    assert execution.status == "ABORTED"
    act(operator, execution, action="redrive")
    execution.refresh_from_db()
    assert execution.status == "RUNNING"
    assert "ExecutionRedriven" in page(operator, execution)


def test_bulk_approve_in_the_task_list(operator):
    first = services.execution_start(workflow="approval", input={"doc": "1"})
    second = services.execution_start(workflow="approval", input={"doc": "2"})
    response = operator.post(
        reverse("admin:workflows_tasktoken_changelist"),
        {"action": "approve", "_selected_action": [str(t.pk) for t in TaskToken.objects.all()]},
    )
    assert response.status_code == 302
    for execution in (first, second):
        execution.refresh_from_db()
        assert execution.status == "SUCCEEDED"
    assert sorted(audit_rows()) == sorted(
        ("workflows.execution", f"{e} · Approve", "approved", "") for e in (first, second)
    )


def test_step_functions_execution_page_reads_the_history_api(operator, settings):
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        machine = "arn:aws:states:us-east-1:123456789012:stateMachine:nimbus-test-{workflow}"
        settings.NIMBUS_WORKFLOWS = {
            "default": {
                "BACKEND": "apps.workflows.backends.aws.StepFunctionsWorkflowBackend",
                "OPTIONS": {"state_machine_arn": machine, "region_name": "us-east-1"},
            }
        }
        boto3.client("stepfunctions", region_name="us-east-1").create_state_machine(
            name="nimbus-test-contract_pass",
            definition=json.dumps(registry.definitions["contract_pass"].asl),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )
        execution = services.execution_start(workflow="contract_pass", input={"who": "sfn"})
        for _ in range(100):
            if services.execution_refresh(execution=execution).status != "RUNNING":
                break
            time.sleep(0.05)
        html = page(operator, execution)
    assert execution.backend == "aws"
    assert "SUCCEEDED" in html
    assert 'class="state state-succeeded" data-state="Shape"' in html
    assert "PassStateEntered" in html
    assert "hello sfn" in html


def test_execution_page_shows_the_variables_each_state_assigned(operator, test_workflows):
    execution = services.execution_start(workflow="variables", input={"who": "ada-lovelace"})
    execution.refresh_from_db()
    assert execution.output == {"greeting": "hello ada-lovelace", "attempt": 1}
    html = page(operator, execution)
    # the graph names them under the state; the tooltip and the timeline give the values
    assert '<text class="assigned"' in html
    assert "$attempt, $customer" in html
    assert "$customer = &quot;ada-lovelace&quot;" in html
    assert "assigned variables" in html
    assert 'class="wf-variables"' in html


def test_step_functions_history_carries_assigned_variables():
    from apps.workflows.backends.aws import normalise_event

    # the shape of a GetExecutionHistory event (stateExitedEventDetails)
    raw = {
        "timestamp": "2026-03-01T12:00:01.000Z",
        "type": "PassStateExited",
        "id": 3,
        "previousEventId": 2,
        "stateExitedEventDetails": {
            "name": "Remember",
            "output": '{"who":"ada"}',
            "outputDetails": {"truncated": False},
            "assignedVariables": {"customer": '"ada"', "attempt": "1"},
            "assignedVariablesDetails": {"truncated": False},
        },
    }
    event = normalise_event(raw, "Remember")
    assert event["assignedVariables"] == {"customer": "ada", "attempt": 1}


def live(operator: Client, execution: Execution, version: str = "") -> dict:
    url = reverse("admin:workflows_execution_live", args=[execution.pk])
    response = operator.get(url, {"version": version})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    return response.json()


def test_the_live_view_sends_the_changed_parts_only_when_something_changed(operator):
    execution = services.execution_start(workflow="approval", input={"doc": "d"})
    first = live(operator, execution)
    assert first["live"] is True
    assert set(first["regions"]) == {"summary", "pending", "graph", "timeline"}
    assert 'data-status="RUNNING"' in first["regions"]["summary"]
    assert "Approve</button>" in first["regions"]["pending"]
    assert 'class="state state-waiting" data-state="Approve"' in first["regions"]["graph"]
    # the page's own version is the one the live view starts from
    assert f'data-wf-version="{first["version"]}"' in page(operator, execution)
    assert "regions" not in live(operator, execution, first["version"])

    task = TaskToken.objects.get(execution=execution)
    act(operator, execution, action="approve", task=str(task.pk))
    after = live(operator, execution, first["version"])
    assert after["version"] != first["version"]
    assert after["live"] is False
    assert 'data-status="SUCCEEDED"' in after["regions"]["summary"]
    assert "Approve</button>" not in after["regions"]["pending"]
    assert 'class="state state-succeeded" data-state="Approve"' in after["regions"]["graph"]
    assert "TaskStateExited" in after["regions"]["timeline"]


def test_the_live_view_is_for_operators_only(django_user_model):
    execution = services.execution_start(workflow="approval", input={"doc": "d"})
    person = django_user_model.objects.create_user("p@example.com", "pw-person-12345678")
    client = Client()
    client.force_login(person)
    response = client.get(reverse("admin:workflows_execution_live", args=[execution.pk]))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_jsonpath_executions_show_the_variables_each_state_assigned(operator, test_workflows):
    execution = services.execution_start(
        workflow="variables_jsonpath", input={"who": "grace", "vip": True}
    )
    execution.refresh_from_db()
    assert execution.output == {"greeting": "hello grace (gold)"}
    html = page(operator, execution)
    # the graph names them under each state and gives their values in its tooltip
    assert "$attempt, $customer" in html
    assert "$customer = &quot;grace&quot;" in html
    assert "$tier = &quot;gold&quot;" in html
    # the timeline names them on the state's exit event, the side table per state
    assert "assigned variables: $attempt, $customer" in html
    assert "assigned variables: $tier" in html
    assert '<tr data-state="Route"><td>Route</td>' in html
