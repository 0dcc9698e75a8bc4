"""One contract for every workflow backend: the local engine and Step Functions (moto).

moto cannot run Lambda code, so the AWS subclass runs the same definitions with the step
Task turned into ``sqs:sendMessage.waitForTaskToken`` (the token arrives on a queue
instead of in the step). Everything else — start, idempotent names, describe, history,
stop, task success/failure, refused tokens — goes through the same backend calls.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.core import signing

from apps.workflows import registry, services
from apps.workflows.backends import backend
from apps.workflows.exceptions import (
    ExecutionNameConflict,
    ExecutionNotRunning,
    TaskTokenInvalid,
)
from apps.workflows.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)


class BackendContract:
    """Subclasses provide ``settle()`` and ``take_token()``."""

    def settle(self, execution: Execution) -> Execution:
        raise NotImplementedError

    def take_token(self, execution: Execution) -> str:
        raise NotImplementedError

    def test_start_describe_and_history(self):
        execution = services.execution_start(workflow="contract_pass", input={"who": "ada"})
        execution = self.settle(execution)
        assert execution.status == "SUCCEEDED"
        assert execution.output == {"greeting": "hello ada"}
        types = [e["type"] for e in backend().history(execution)]
        assert types[0] == "ExecutionStarted"
        assert "PassStateEntered" in types
        assert types[-1] == "ExecutionSucceeded"
        entered = next(e for e in backend().history(execution) if e["type"] == "PassStateEntered")
        assert entered["state"] == "Shape"
        assert entered["input"] == {"who": "ada"}

    def test_start_is_idempotent_by_name(self):
        first = services.execution_start(workflow="contract_pass", input={"who": "a"}, name="n-1")
        again = services.execution_start(workflow="contract_pass", input={"who": "a"}, name="n-1")
        assert again.pk == first.pk
        assert Execution.objects.filter(workflow="contract_pass").count() == 1
        with pytest.raises(ExecutionNameConflict):
            services.execution_start(workflow="contract_pass", input={"who": "b"}, name="n-1")

    def test_failure_has_error_and_cause(self):
        execution = self.settle(
            services.execution_start(workflow="contract_fail", input={"ok": False})
        )
        assert (execution.status, execution.error) == ("FAILED", "Contract.Broken")
        assert execution.cause == "ok was not true"

    def test_task_success_resumes_the_execution(self):
        execution = services.execution_start(workflow="contract_token", input={"doc": "d1"})
        token = self.take_token(execution)
        backend().send_task_success(token=token, output={"approved": True})
        execution = self.settle(execution)
        assert execution.status == "SUCCEEDED"
        assert execution.output == {"doc": "d1", "decision": {"approved": True}}

    def test_task_failure_fails_the_execution(self):
        execution = services.execution_start(workflow="contract_token", input={"doc": "d2"})
        token = self.take_token(execution)
        backend().send_task_failure(token=token, error="Rejected", cause="no")
        execution = self.settle(execution)
        assert (execution.status, execution.error) == ("FAILED", "Rejected")

    def test_unknown_token_is_refused(self):
        with pytest.raises(TaskTokenInvalid):
            backend().send_task_success(token="not-a-token", output={})
        with pytest.raises(TaskTokenInvalid):
            backend().send_task_heartbeat(token="not-a-token")

    def test_heartbeat_keeps_the_task_waiting(self):
        execution = services.execution_start(workflow="contract_token", input={"doc": "h"})
        token = self.take_token(execution)
        backend().send_task_heartbeat(token=token)
        assert backend().describe(execution).status == "RUNNING"
        backend().send_task_success(token=token, output={"ok": True})
        assert self.settle(execution).status == "SUCCEEDED"

    def test_stop_aborts_a_waiting_execution(self):
        execution = services.execution_start(workflow="contract_wait", input={"seconds": 30})
        assert backend().describe(execution).status == "RUNNING"
        services.execution_stop(execution=execution, error="Operator", cause="stopped")
        execution = self.settle(execution)
        assert execution.status == "ABORTED"
        assert backend().history(execution)[-1]["type"] == "ExecutionAborted"
        with pytest.raises(ExecutionNotRunning):
            services.execution_stop(execution=execution)


class TestLocalBackend(BackendContract):
    def settle(self, execution: Execution) -> Execution:
        execution.refresh_from_db()
        return execution

    def take_token(self, execution: Execution) -> str:
        from tests.apps.workflows import steps

        url = steps.issued.pop()
        return signing.loads(url.rsplit("/", 1)[1], salt=services.CALLBACK_SALT)


SQS_TOKEN = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:nimbus-test-{workflow}"


class TestStepFunctionsBackend(BackendContract):
    @pytest.fixture(autouse=True)
    def step_functions(self, settings):
        import boto3
        from moto import mock_aws

        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            settings.NIMBUS_WORKFLOWS = {
                "default": {
                    "BACKEND": "apps.workflows.backends.aws.StepFunctionsWorkflowBackend",
                    "OPTIONS": {"state_machine_arn": MACHINE, "region_name": "us-east-1"},
                }
            }
            sqs = boto3.client("sqs", region_name="us-east-1")
            self.queue = sqs.create_queue(QueueName="approvals")["QueueUrl"]
            self.sqs = sqs
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            for name in ("contract_pass", "contract_fail", "contract_token", "contract_wait"):
                sfn.create_state_machine(
                    name=f"nimbus-test-{name}",
                    definition=json.dumps(self.on_aws(registry.definitions[name].asl)),
                    roleArn="arn:aws:iam::123456789012:role/sfn",
                )
            yield

    def on_aws(self, asl: Any) -> Any:
        text = json.dumps(asl).replace("step:tests.request_approval.waitForTaskToken", SQS_TOKEN)
        text = text.replace(
            '"Parameters": {"doc.$": "$.doc"}',
            json.dumps(
                {
                    "Parameters": {
                        "QueueUrl": self.queue,
                        "MessageBody": {"token.$": "$$.Task.Token"},
                    }
                }
            )[1:-1],
        )
        return json.loads(text)

    def settle(self, execution: Execution) -> Execution:
        deadline = time.monotonic() + 10
        while backend().describe(execution).status == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
        return execution

    def take_token(self, execution: Execution) -> str:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=self.queue).get("Messages", [])
            if messages:
                return str(json.loads(messages[0]["Body"])["token"])
            time.sleep(0.05)
        raise AssertionError("no task token was sent")

    def test_signed_callback_resolves_a_step_functions_task(self, client):
        execution = services.execution_start(workflow="contract_token", input={"doc": "cb"})
        url = services.callback_url(task_token=self.take_token(execution), state_name="Approve")
        body = {"outcome": "success", "output": {"approved": True}}
        assert client.post(url, body, content_type="application/json").status_code == 202
        assert self.settle(execution).output == {"doc": "cb", "decision": {"approved": True}}
        again = client.post(url, body, content_type="application/json")
        assert again.status_code == 404

    def test_redrive_calls_redrive_execution(self):
        """moto has no RedriveExecution: check the call Step Functions would receive."""
        from botocore.stub import Stubber

        execution = self.settle(
            services.execution_start(workflow="contract_fail", input={"ok": False})
        )
        client = backend().client
        with Stubber(client) as stub:
            stub.add_response(
                "redrive_execution",
                {"redriveDate": "2026-01-01T00:00:00Z"},
                {"executionArn": execution.arn},
            )
            stub.add_response(
                "describe_execution",
                {
                    "executionArn": execution.arn,
                    "stateMachineArn": "arn:aws:states:us-east-1:"
                    "123456789012:stateMachine:nimbus-test-contract_fail",
                    "status": "RUNNING",
                    "startDate": "2026-01-01T00:00:00Z",
                },
                {"executionArn": execution.arn},
            )
            services.execution_redrive(execution=execution)
        assert execution.status == "RUNNING"
