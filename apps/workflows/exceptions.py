"""Errors of the workflows app (rendered by the API as ``{"error": {"code", ...}}``)."""

from __future__ import annotations

from project.errors import Conflict, InvalidInput, NimbusError, NotFound


class UnknownWorkflow(NotFound):
    code = "workflow_unknown"


class InvalidExecutionInput(InvalidInput):
    code = "workflow_input_invalid"


class ExecutionNameConflict(Conflict):
    code = "workflow_execution_exists"


class ExecutionNotFound(NotFound):
    code = "workflow_execution_not_found"


class ExecutionNotRunning(Conflict):
    code = "workflow_execution_not_running"


class ExecutionNotRedrivable(Conflict):
    code = "workflow_execution_not_redrivable"


class CallbackInvalid(NimbusError):
    """Unknown, expired, reused or tampered callback token (one answer for all: no oracle)."""

    code = "workflow_callback_invalid"
    status = 404


class CallbackPayloadInvalid(InvalidInput):
    code = "workflow_callback_payload_invalid"


class TaskTokenInvalid(NotFound):
    """The backend knows no task waiting on this token (Step Functions: TaskDoesNotExist)."""

    code = "workflow_task_token_invalid"


class ExecutionUnknown(NotFound):
    """A status report names an execution no row records (yet): retried, then dead-lettered.

    Retried because the row of an execution just started commits after StartExecution
    returns; an execution started outside Nimbus ends in the group's DLQ for an operator.
    """

    code = "workflow_execution_unknown"
    retryable = True


class ExecutionStatusInvalid(InvalidInput):
    """A status report Nimbus cannot read (unknown status, no execution ARN)."""

    code = "workflow_execution_status_invalid"
