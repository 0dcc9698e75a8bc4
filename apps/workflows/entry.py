"""Lambda glue for Step Functions Tasks: ``{"workflow_step": ..., "input": ...}`` payloads.

``handle_step`` runs the named step and returns its result for Step Functions to use. An
exception raised by the step propagates, so Lambda reports its class name as the error
type and the state machine's Retry/Catch match it by the same name as locally. A step
that ran is reported as its state's ``TaskStateEntered`` (``execution_transition``), as
the local engine reports its transitions.
"""

from __future__ import annotations

import contextvars
from typing import Any

from django.utils import timezone

from apps.workflows import registry
from apps.workflows.signals import ExecutionRef, notify_transitions
from project.logging import bind

_execution_arn: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "nimbus_workflow_execution_arn", default=None
)


class UnknownWorkflowStep(LookupError):
    pass


class InvalidStepPayload(ValueError):
    pass


def current_execution_arn() -> str | None:
    """The execution whose Task invoked the step being run (None outside handle_step)."""
    return _execution_arn.get()


def handle_step(event: dict[str, Any], context: Any) -> Any:
    name = event.get("workflow_step")
    step = registry.steps.get(name) if isinstance(name, str) else None
    if step is None:
        raise UnknownWorkflowStep(f"No workflow step named {name!r}")
    payload = event.get("input", {})
    token = event.get("task_token")
    if token is not None and not (isinstance(token, str) and step.takes_token):
        raise InvalidStepPayload(f"Step {name!r} does not take a task token")
    arn = event.get("execution_arn")
    marker = _execution_arn.set(arn if isinstance(arn, str) else None)
    try:
        with bind(workflow_step=name, execution_arn=arn):
            if token is not None:
                result = step.func(payload, task_token=token)
                result = {} if result is None else result
            else:
                result = step.func(payload)
    finally:
        _execution_arn.reset(marker)
    if isinstance(arn, str):
        _report(str(name), arn, payload)
    return result


def _report(step_name: str, arn: str, payload: Any) -> None:
    """Tell the apps that the Task naming ``step_name`` ran in execution ``arn``."""
    found = registry.task_state_of(step_name)
    if found is None:
        return
    workflow, state = found
    execution = ExecutionRef(
        pk=arn, workflow=workflow, input=payload if isinstance(payload, dict) else {}
    )
    # A step runs in a Task state: it reaches the apps as that state being entered.
    event = {"type": "TaskStateEntered", "state": state, "timestamp": timezone.now().isoformat()}
    notify_transitions(execution, [event])
