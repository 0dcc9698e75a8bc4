"""Workflow services: start executions, resolve callbacks, stop and redrive.

Every function is keyword-only and backend-neutral: the backend chosen by
``settings.NIMBUS_WORKFLOWS`` (local engine or Step Functions) does the work.
:func:`execution_status_record` is how rows of Step Functions executions learn their
outcome (from Step Functions' status change events); the local engine writes its own.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction

from apps.workflows import clock, registry
from apps.workflows.backends import backend
from apps.workflows.engine.interpreter import token_hash
from apps.workflows.exceptions import (
    CallbackInvalid,
    CallbackPayloadInvalid,
    ExecutionNameConflict,
    ExecutionStatusInvalid,
    ExecutionUnknown,
    InvalidExecutionInput,
    TaskTokenInvalid,
    UnknownWorkflow,
)
from apps.workflows.models import Execution, TaskToken
from project.site import absolute

logger = logging.getLogger("nimbus.workflows")

CALLBACK_SALT = "nimbus.workflows.callback"
MAX_INPUT_BYTES = 256 * 1024  # Step Functions' payload limit


def execution_start(*, workflow: str, input: Any, name: str | None = None) -> Execution:
    """Start ``workflow`` with ``input`` (a JSON object). Idempotent by ``name``.

    Starting again with the same name and input returns the existing execution; the same
    name with another input is a 409. Unknown workflow -> 404; input not an object -> 422.
    """
    definition = registry.definitions.get(workflow)
    if definition is None or definition.asl is None:
        raise UnknownWorkflow(f"No workflow named {workflow!r}.", detail={"workflow": workflow})
    if not isinstance(input, dict):
        raise InvalidExecutionInput("Workflow input must be a JSON object.")
    try:
        encoded = json.dumps(input)
    except (TypeError, ValueError) as exc:
        raise InvalidExecutionInput(f"Workflow input is not JSON: {exc}") from None
    if len(encoded.encode()) > MAX_INPUT_BYTES:
        raise InvalidExecutionInput("Workflow input is larger than 256 KiB.")
    # A name already used is found by the unique constraint (no lookup before every start).
    name = name or uuid.uuid4().hex
    try:
        with transaction.atomic():
            execution = Execution.objects.create(workflow=workflow, name=name, input=input)
            backend().start(execution)
    except IntegrityError:
        return _same_or_conflict(Execution.objects.get(workflow=workflow, name=name), input)
    logger.info("Started workflow %s execution %s", workflow, name)
    return execution


def _same_or_conflict(execution: Execution, input: dict[str, Any]) -> Execution:
    if execution.input != input:
        raise ExecutionNameConflict(
            f"Execution {execution.name!r} of {execution.workflow!r} exists with another input.",
            detail={"execution": str(execution.pk)},
        )
    return execution


def execution_stop(*, execution: Execution, error: str = "", cause: str = "") -> Execution:
    backend().stop(execution, error=error, cause=cause)
    return execution


def execution_redrive(*, execution: Execution) -> Execution:
    backend().redrive(execution)
    return execution


def execution_refresh(*, execution: Execution) -> Execution:
    return backend().describe(execution)


def execution_history(*, execution: Execution) -> list[dict[str, Any]]:
    return backend().history(execution)


#: The history event (Step Functions' names, as the local engine emits them) by which a
#: reported status reaches ``execution_transition`` receivers.
STATUS_EVENTS: dict[str, str] = {
    Execution.Status.SUCCEEDED: "ExecutionSucceeded",
    Execution.Status.FAILED: "ExecutionFailed",
    Execution.Status.TIMED_OUT: "ExecutionTimedOut",
    Execution.Status.ABORTED: "ExecutionAborted",
}


def execution_status_record(
    *,
    arn: str,
    status: str,
    redrive_count: int = 0,
    changed_at: datetime,
    output: Any = None,
    error: str = "",
    cause: str = "",
) -> bool:
    """Record the status Step Functions reports for execution ``arn``; True if it changed.

    Reports arrive at least once and in any order, so only news is applied: a report about
    an earlier attempt (lower ``redrive_count``) or about an attempt already finished
    changes nothing, and a finished execution never moves back — except to ``RUNNING``
    when a redrive (higher ``redrive_count``) starts a new attempt. A change is sent to
    ``execution_transition`` receivers after commit (the owner of a reviewed file hears
    it), as the local engine does for its own transitions.

    Unknown status -> :class:`ExecutionStatusInvalid`; no row with this ARN (yet) ->
    :class:`ExecutionUnknown`, which is retryable.
    """
    if status not in Execution.Status.values or not arn:
        raise ExecutionStatusInvalid(
            f"Cannot record status {status!r} of execution {arn!r}.",
            detail={"arn": arn, "status": status},
        )
    from apps.workflows import signals

    with transaction.atomic():
        execution = Execution.objects.select_for_update().filter(arn=arn).first()
        if execution is None:
            raise ExecutionUnknown(f"No execution {arn!r} is recorded.", detail={"arn": arn})
        if not _is_news(execution, status, redrive_count):
            return False
        finished = status != Execution.Status.RUNNING
        execution.status = status
        execution.redrive_count = redrive_count
        execution.stopped_at = changed_at if finished else None
        execution.output = output if finished else None
        execution.error = error[:256] if finished else ""
        execution.cause = cause if finished else ""
        execution.save(
            update_fields=[
                "status",
                "redrive_count",
                "stopped_at",
                "output",
                "error",
                "cause",
                "updated_at",
            ]
        )
        event_type = STATUS_EVENTS.get(
            execution.status, "ExecutionRedriven" if redrive_count else "ExecutionStarted"
        )
        signals.notify_transitions(
            execution, [{"type": event_type, "state": "", "timestamp": changed_at}]
        )
    logger.info("Workflow execution %s is %s", execution, status)
    return True


def _is_news(execution: Execution, status: str, redrive_count: int) -> bool:
    if redrive_count != execution.redrive_count:
        return redrive_count > execution.redrive_count
    return execution.is_running and status != Execution.Status.RUNNING


# -- callbacks -------------------------------------------------------------------------


def _callback_execution(task_token: str) -> Execution | None:
    from apps.workflows.entry import current_execution_arn

    arn = current_execution_arn()
    return Execution.objects.filter(arn=arn).first() if arn else None


def callback_url(*, task_token: str, state_name: str = "") -> str:
    """The signed, expiring, single-use URL an external system POSTs the outcome to.

    Locally the token row exists already; on AWS (the token came from Step Functions in the
    step's payload) it is recorded here — hashed, and encrypted for the admin's approve button.
    """
    hashed = token_hash(task_token)
    expires = clock.now() + timedelta(seconds=settings.NIMBUS_WORKFLOWS_CALLBACK_MAX_AGE)
    TaskToken.objects.get_or_create(
        token_hash=hashed,
        defaults={
            "sealed": task_token,
            "execution": _callback_execution(task_token),
            "state_name": state_name,
            "expires_at": expires,
        },
    )
    signed = signing.dumps(task_token, salt=CALLBACK_SALT, compress=True)
    return absolute(f"/api/workflows/callbacks/{signed}")


def _unsign(signed: str) -> str:
    try:
        value = signing.loads(
            signed, salt=CALLBACK_SALT, max_age=settings.NIMBUS_WORKFLOWS_CALLBACK_MAX_AGE
        )
    except signing.BadSignature:
        raise CallbackInvalid("This callback link is not valid.") from None
    if not isinstance(value, str):
        raise CallbackInvalid("This callback link is not valid.")
    return value


Outcome = Literal["success", "failure"]


def callback_resolve(
    *,
    signed_token: str,
    outcome: str,
    output: Any = None,
    error: str | None = None,
    cause: str | None = None,
    actor: str = "callback",
) -> TaskToken:
    """Resolve the task behind a signed callback token, once.

    Unknown, expired, reused or tampered tokens raise CallbackInvalid and change nothing.
    """
    if outcome not in ("success", "failure"):
        raise CallbackPayloadInvalid("'outcome' must be 'success' or 'failure'.")
    if outcome == "success" and output is None:
        output = {}
    if outcome == "failure" and not (isinstance(error, str) and error):
        raise CallbackPayloadInvalid("A failure needs an 'error' name.")
    return _resolve(_unsign(signed_token), outcome, output, error, cause, actor)


def task_resolve(
    *,
    task: TaskToken,
    outcome: str,
    output: Any = None,
    error: str | None = None,
    cause: str | None = None,
    actor: str,
) -> TaskToken:
    """Resolve a waiting task from the admin (approve/reject) by its stored token."""
    return _resolve(task.sealed, outcome, output, error, cause, actor)


def _resolve(
    token: str, outcome: str, output: Any, error: str | None, cause: str | None, actor: str
) -> TaskToken:
    now = clock.now()
    with transaction.atomic():
        row = TaskToken.objects.select_for_update().filter(token_hash=token_hash(token)).first()
        if row is None or row.consumed_at is not None or _expired(row.expires_at, now):
            raise CallbackInvalid("This callback link is not valid.")
        try:
            if outcome == "success":
                backend().send_task_success(token=token, output=output)
            else:
                backend().send_task_failure(token=token, error=error or "", cause=cause or "")
        except TaskTokenInvalid:
            raise CallbackInvalid("This callback link is not valid.") from None
        row.refresh_from_db()
        row.consumed_at = row.consumed_at or now
        row.resolved_by = actor[:150]
        if row.outcome is None:
            row.outcome = (
                {"output": output} if outcome == "success" else {"error": error, "cause": cause}
            )
        row.save(update_fields=["consumed_at", "resolved_by", "outcome"])
    logger.info("Workflow task %s resolved (%s) by %s", row.state_name, outcome, actor)
    return row


def _expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


def callback_heartbeat(*, signed_token: str) -> None:
    try:
        backend().send_task_heartbeat(token=_unsign(signed_token))
    except TaskTokenInvalid:
        raise CallbackInvalid("This callback link is not valid.") from None
