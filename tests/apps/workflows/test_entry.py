"""Step Functions invoking Nimbus: the Lambda payload of a step Task, and the state
machines the infra generator gets from the ASL files."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from apps.workflows import registry
from apps.workflows.engine import validate
from apps.workflows.engine.aws import to_state_machine
from apps.workflows.engine.interpreter import token_hash
from apps.workflows.entry import UnknownWorkflowStep
from apps.workflows.models import Execution, TaskToken
from tests.apps.workflows.steps import TransientError

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:nimbus-dev"


def step_event(aws_event, name: str, payload: dict, **extra: str) -> dict:
    event = aws_event("stepfunctions_task_token" if "task_token" in extra else "stepfunctions_task")
    event.update(workflow_step=name, input=payload, **extra)
    return event


def test_lambda_entry_runs_the_step_and_returns_its_result(lambda_entry, aws_event, lambda_context):
    result = lambda_entry(step_event(aws_event, "tests.echo", {"a": 1}), lambda_context)
    assert result == {"echoed": {"a": 1}}


def test_step_errors_keep_their_class_name(lambda_entry, aws_event, lambda_context, test_workflows):
    with pytest.raises(TransientError):
        lambda_entry(step_event(aws_event, "tests.flaky", {"failures": 1}), lambda_context)


def test_unknown_step_raises(lambda_entry, aws_event, lambda_context):
    with pytest.raises(UnknownWorkflowStep):
        lambda_entry(step_event(aws_event, "tests.nope", {}), lambda_context)


@pytest.mark.django_db
def test_token_step_records_a_hashed_callback(
    lambda_entry, aws_event, lambda_context, test_workflows, never_logged
):
    arn = "arn:aws:states:us-east-1:123456789012:execution:nimbus-dev-approval:x"
    execution = Execution.objects.create(workflow="approval", name="x", backend="aws", arn=arn)
    event = step_event(
        aws_event,
        "tests.request_approval",
        {"doc": "d"},
        task_token="AQCEAAAAKgAAAA-sfn-token",
        execution_arn=arn,
    )
    never_logged("AQCEAAAAKgAAAA-sfn-token")
    assert lambda_entry(event, lambda_context) == {}
    row = TaskToken.objects.get()
    assert row.token_hash == token_hash("AQCEAAAAKgAAAA-sfn-token")
    assert row.execution == execution
    assert row.sealed == "AQCEAAAAKgAAAA-sfn-token"
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT sealed FROM workflows_tasktoken WHERE id = %s", [row.pk])
        assert "AQCEAAAAKgAAAA-sfn-token" not in cursor.fetchone()[0]


def test_state_machine_invokes_the_function_with_the_step_payload():
    asl = registry.definitions["file_review"].asl
    machine = to_state_machine(asl, FUNCTION)
    validate(machine)
    prepare = machine["States"]["Prepare"]
    assert prepare["Resource"] == FUNCTION
    assert prepare["Parameters"] == {
        "workflow_step": "files.review_prepare",
        "execution_arn.$": "$$.Execution.Id",
        "input": {"file_id.$": "$.file_id"},
    }
    wait = machine["States"]["AwaitApproval"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"]["FunctionName"] == FUNCTION
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert wait["Parameters"]["Payload"]["workflow_step"] == "files.review_request_approval"
    assert "step:" not in json.dumps(machine)
    assert asl["States"]["Prepare"]["Resource"] == "step:files.review_prepare"  # not mutated


def test_a_jsonata_task_invokes_the_function_through_arguments():
    asl = {
        "QueryLanguage": "JSONata",
        "StartAt": "Prepare",
        "States": {
            "Prepare": {
                "Type": "Task",
                "Resource": "step:files.review_prepare",
                "Arguments": {"file_id": "{% $states.input.file_id %}"},
                "Next": "Await",
            },
            "Await": {
                "Type": "Task",
                "Resource": "step:files.review_request_approval.waitForTaskToken",
                "End": True,
            },
        },
    }
    machine = to_state_machine(asl, FUNCTION)
    validate(machine)  # no Parameters in a JSONata state
    assert machine["States"]["Prepare"]["Arguments"] == {
        "workflow_step": "files.review_prepare",
        "execution_arn": "{% $states.context.Execution.Id %}",
        "input": {"file_id": "{% $states.input.file_id %}"},
    }
    payload = machine["States"]["Await"]["Arguments"]["Payload"]
    assert payload["task_token"] == "{% $states.context.Task.Token %}"
    assert payload["input"] == "{% $states.input %}"
    assert "Parameters" not in json.dumps(machine)


def test_every_shipped_definition_is_accepted_by_step_functions():
    import boto3
    from moto import mock_aws

    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        for name, definition in registry.definitions.items():
            assert definition.asl is not None, definition.error
            sfn.create_state_machine(
                name=f"nimbus-dev-{name}",
                definition=json.dumps(to_state_machine(definition.asl, FUNCTION)),
                roleArn="arn:aws:iam::123456789012:role/sfn",
            )


def test_machine_arn_from_the_stack_prefix():
    from apps.workflows.backends.aws import StepFunctionsWorkflowBackend

    prefix = "arn:aws:states:us-east-1:123456789012:stateMachine:nimbus-prod-"
    backend = StepFunctionsWorkflowBackend(state_machine_prefix=prefix)
    assert backend.machine_arn("file_review") == prefix + "file-review"
    assert backend.check() == []
    assert [m.id for m in StepFunctionsWorkflowBackend().check()] == ["workflows.E010"]
