"""Lambda glue for Step Functions Tasks: ``{"workflow_step": ..., "input": ...}`` payloads.

``handle_step`` runs the named step and returns its result for Step Functions to use. An
exception raised by the step propagates, so Lambda reports its class name as the error
type and the state machine's Retry/Catch match it by the same name as locally.
"""

from __future__ import annotations

import contextvars
from typing import Any

from apps.workflows import registry
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
                return {} if result is None else result
            return step.func(payload)
    finally:
        _execution_arn.reset(marker)
