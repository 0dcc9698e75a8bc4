"""Turn a Nimbus ASL definition into the one Step Functions runs (for the infra generator).

Each ``"Resource": "step:<name>"`` Task becomes a Lambda invocation of the Nimbus function
whose payload is ``{"workflow_step": "<name>", "input": <the task input>}`` (plus
``"task_token"`` from ``$$.Task.Token`` for ``.waitForTaskToken``, and ``"execution_arn"``);
the function's entry
(``apps.workflows.entry.handle_step``) runs the step and returns its result unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

from apps.workflows.engine.definition import query_language, walk_states
from apps.workflows.engine.interpreter import TOKEN_SUFFIX
from apps.workflows.engine.jsonata import JSONATA

STEP_PREFIX = "step:"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"

#: The errors of the Lambda service itself (not of our code) a Task invoking it can meet:
#: AWS recommends every Lambda Task retry them, or one throttled invoke fails the state.
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)


def invokes_lambda(resource: str) -> bool:
    """Whether a Task with this ``Resource`` runs as a Lambda invoke on AWS."""
    return resource.startswith((STEP_PREFIX, LAMBDA_INVOKE, "arn:aws:lambda:"))


def to_state_machine(definition: dict[str, Any], function_arn: str) -> dict[str, Any]:
    """A copy of ``definition`` with every step Task invoking ``function_arn``.

    A JSONata Task gets the same payload through ``Arguments`` and ``$states.context``
    (Step Functions refuses ``Parameters`` in a JSONata state).
    """
    result = copy.deepcopy(definition)
    for _name, state in walk_states(result):
        resource = state.get("Resource", "")
        if state.get("Type") != "Task" or not resource.startswith(STEP_PREFIX):
            continue
        step = resource[len(STEP_PREFIX) :]
        waits = step.endswith(TOKEN_SUFFIX)
        if query_language(result, state) == JSONATA:
            field, payload = "Arguments", _jsonata_payload(state, waits)
        else:
            field, payload = "Parameters", _jsonpath_payload(state, waits)
        payload = {"workflow_step": step.removesuffix(TOKEN_SUFFIX), **payload}
        if waits:
            state["Resource"] = LAMBDA_INVOKE + TOKEN_SUFFIX
            state[field] = {"FunctionName": function_arn, "Payload": payload}
        else:
            # The plain function ARN returns the function's result itself (no Payload wrap).
            state["Resource"] = function_arn
            state[field] = payload
    return result


def _jsonpath_payload(state: dict[str, Any], waits: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"execution_arn.$": "$$.Execution.Id"}
    if "Parameters" in state:
        payload["input"] = state.pop("Parameters")
    else:
        payload["input.$"] = "$"
    if waits:
        payload["task_token.$"] = "$$.Task.Token"
    return payload


def _jsonata_payload(state: dict[str, Any], waits: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "execution_arn": "{% $states.context.Execution.Id %}",
        "input": state.pop("Arguments", "{% $states.input %}"),
    }
    if waits:
        payload["task_token"] = "{% $states.context.Task.Token %}"  # noqa: S105 (a path)
    return payload
