"""Errors of the ASL engine: invalid definitions and the runtime errors of a state.

Runtime errors carry the ``Error`` name Step Functions would report (``States.Runtime``,
``States.NoChoiceMatched``, a step's own exception class name...) so that ``Retry`` and
``Catch`` match the same names locally and on AWS.
"""

from __future__ import annotations


class DefinitionError(ValueError):
    """An ASL definition Step Functions would refuse; names the state and the reason."""

    def __init__(self, reason: str, *, state: str | None = None) -> None:
        self.state = state
        self.reason = reason
        where = f"state {state!r}: " if state else ""
        super().__init__(f"{where}{reason}")


class StatesError(Exception):
    """A runtime error of a state, reported as ``Error``/``Cause`` like Step Functions."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


# Error names Step Functions uses.
ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
RUNTIME = "States.Runtime"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
BRANCH_FAILED = "States.BranchFailed"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"

#: Errors the engine raises while executing a state (not a task's or a Fail state's own):
#: their cause starts with "An error occurred while executing the state ...".
ENGINE_ERRORS = frozenset(
    {RUNTIME, INTRINSIC_FAILURE, RESULT_PATH_MATCH_FAILURE, QUERY_EVALUATION_ERROR}
)


def error_matches(names: list[str], error: str, *, state_type: str) -> bool:
    """Whether a retrier's or catcher's ``ErrorEquals`` matches ``error``, as on AWS.

    ``States.ALL`` matches every error but ``States.Runtime``; ``States.TaskFailed`` matches
    every error of a Task state except ``States.Timeout``.
    """
    if error in names or (ALL in names and error != RUNTIME):
        return True
    return TASK_FAILED in names and state_type == "Task" and error != TIMEOUT
