"""Step Functions (Standard) as the workflow backend; boto3 is imported lazily.

Rows follow their executions without polling: Step Functions' status change events reach
:func:`apps.workflows.handlers.execution_status` (see ``apps/workflows/events.py``);
:meth:`StepFunctionsWorkflowBackend.describe` (the admin's refresh) reads the same fields
on demand.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.core import checks
from django.utils.dateparse import parse_datetime

from apps.workflows.backends.base import WorkflowBackend
from apps.workflows.exceptions import (
    ExecutionNotRedrivable,
    ExecutionNotRunning,
    TaskTokenInvalid,
)
from apps.workflows.models import Execution


class StepFunctionsWorkflowBackend(WorkflowBackend):
    """Options: ``state_machine_prefix`` — the infra stack's ``NIMBUS_STATE_MACHINE_PREFIX``
    (machine ARN = prefix + workflow name with ``_``/``.`` as ``-``), or
    ``state_machine_arn``, a template with ``{workflow}``; ``region_name``; ``endpoint_url``."""

    kind = "aws"
    default_options = {
        "state_machine_prefix": "",
        "state_machine_arn": "",
        "region_name": None,
        "endpoint_url": None,
    }

    @property
    def client(self) -> Any:
        return self.aws_client("stepfunctions")

    def machine_arn(self, workflow: str) -> str:
        if self.options["state_machine_arn"]:
            return str(self.options["state_machine_arn"]).format(workflow=workflow)
        return str(self.options["state_machine_prefix"]) + re.sub(
            r"[^a-z0-9-]", "-", workflow.lower()
        )

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        if self.options["state_machine_prefix"] or self.options["state_machine_arn"]:
            return []
        return [
            checks.Error(
                "StepFunctionsWorkflowBackend needs OPTIONS state_machine_prefix "
                "(NIMBUS_STATE_MACHINE_PREFIX from the infra stack) or state_machine_arn.",
                id="workflows.E010",
            )
        ]

    def start(self, execution: Execution) -> None:
        response = self.client.start_execution(
            stateMachineArn=self.machine_arn(execution.workflow),
            name=execution.name,
            input=json.dumps(execution.input),
        )
        execution.backend, execution.arn = self.kind, response["executionArn"]
        execution.save(update_fields=["backend", "arn"])

    def describe(self, execution: Execution) -> Execution:
        desc = self.client.describe_execution(executionArn=execution.arn)
        execution.status = desc["status"]
        execution.output = json.loads(desc["output"]) if desc.get("output") else None
        execution.error = desc.get("error", "")
        execution.cause = desc.get("cause", "")
        execution.stopped_at = desc.get("stopDate")
        execution.redrive_count = int(desc.get("redriveCount") or 0)
        execution.save(
            update_fields=["status", "output", "error", "cause", "stopped_at", "redrive_count"]
        )
        return execution

    def history(self, execution: Execution) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("get_execution_history")
        state = ""
        for page in paginator.paginate(executionArn=execution.arn):
            for raw in page["events"]:
                event = normalise_event(raw, state)
                state = event["state"] or state
                events.append(event)
        return events

    def stop(self, execution: Execution, *, error: str = "", cause: str = "") -> None:
        if self.describe(execution).status != "RUNNING":
            raise ExecutionNotRunning(f"Execution {execution} is {execution.status}.")
        self.client.stop_execution(executionArn=execution.arn, error=error, cause=cause)
        self.describe(execution)

    def redrive(self, execution: Execution) -> None:
        client = self.client
        try:
            client.redrive_execution(executionArn=execution.arn)
        except client.exceptions.ExecutionNotRedrivable as exc:
            raise ExecutionNotRedrivable(str(exc)) from None
        self.describe(execution)

    def _token_call(self, method: str, **kwargs: Any) -> None:
        client = self.client
        try:
            getattr(client, method)(**kwargs)
        except (
            client.exceptions.TaskDoesNotExist,
            client.exceptions.InvalidToken,
            client.exceptions.TaskTimedOut,
        ):
            raise TaskTokenInvalid("No task is waiting on this token.") from None

    def send_task_success(self, *, token: str, output: Any) -> None:
        self._token_call("send_task_success", taskToken=token, output=json.dumps(output))

    def send_task_failure(self, *, token: str, error: str, cause: str) -> None:
        self._token_call("send_task_failure", taskToken=token, error=error, cause=cause)

    def send_task_heartbeat(self, *, token: str) -> None:
        self._token_call("send_task_heartbeat", taskToken=token)


def _json(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value


def normalise_event(raw: dict[str, Any], state: str) -> dict[str, Any]:
    """A Step Functions history event in the shape of the local history."""
    details: dict[str, Any] = next((v for k, v in raw.items() if k.endswith("EventDetails")), {})
    event: dict[str, Any] = {
        "id": raw["id"],
        "type": raw["type"],
        "state": details.get(
            "name",
            state
            if "State" in raw["type"]
            or "Task" in raw["type"]
            or raw["type"].startswith(("Map", "Parallel"))
            else "",
        ),
        "timestamp": raw["timestamp"]
        if not isinstance(raw["timestamp"], str)
        else parse_datetime(raw["timestamp"]),
    }
    for key in ("input", "output"):
        if key in details:
            event[key] = _json(details[key])
    for key in ("error", "cause"):
        if key in details:
            event[key] = details[key]
    if details.get("assignedVariables"):
        # Step Functions gives each assigned value as JSON text
        event["assignedVariables"] = {
            name: _json(value) for name, value in details["assignedVariables"].items()
        }
    return event
