"""Event receivers of the workflows app, and the live view of file reviews.

``files.FileAccepted`` starts ``file_review`` (execution name ``file-<id>``, so a
redelivered event starts nothing new). Every transition of a file_review execution is
pushed to the file's owner as ``{"type": "workflow.step", ...}`` after commit.

On AWS, ``Step Functions Execution Status Change`` events (``apps/workflows/events.py``)
reach :func:`execution_status` through the ``workflows`` group's queue: the execution's
row takes the status, stop date, output, error and cause Step Functions reports, so the
database knows RUNNING -> SUCCEEDED/FAILED/TIMED_OUT/ABORTED without polling, and the
change reaches the owner through ``execution_transition`` as a local transition does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.dispatch import receiver as signal_receiver
from django.utils.dateparse import parse_datetime

from apps.events.registry import receiver
from apps.workflows.events import EXECUTION_STATUS_CHANGE, STATES_SOURCE
from apps.workflows.signals import execution_transition

FILE_REVIEW = "file_review"
STEP_EVENTS = ("StateEntered", "StateExited", "TaskFailed", "TaskSubmitted")


@receiver("files.FileAccepted", name="workflows.file_review_start")
def file_review_start(event: Any) -> None:
    from apps.workflows.services import execution_start

    detail = event["detail"]
    execution_start(
        workflow=FILE_REVIEW,
        input={"file_id": detail["file_id"], "owner_id": detail["owner_id"]},
        name=f"file-{detail['file_id']}",
    )


@receiver(
    {"source": [STATES_SOURCE], "detail-type": [EXECUTION_STATUS_CHANGE]},
    name="workflows.execution_status",
)
def execution_status(event: Any) -> None:
    """Step Functions reported a status change: record it on the execution's row."""
    from apps.workflows.services import execution_status_record

    detail = event.detail
    stopped = _from_millis(detail.get("stopDate"))
    restarted = _from_millis(detail.get("redriveDate")) or _from_millis(detail.get("startDate"))
    execution_status_record(
        arn=str(detail.get("executionArn") or ""),
        status=str(detail.get("status") or ""),
        redrive_count=int(detail.get("redriveCount") or 0),
        changed_at=stopped or restarted or parse_datetime(event.time) or datetime.now(UTC),
        # Step Functions leaves out an output over 256 KiB (outputDetails.included false).
        output=_json(detail.get("output")),
        error=str(detail.get("error") or ""),
        cause=str(detail.get("cause") or ""),
    )


def _from_millis(value: Any) -> datetime | None:
    """Step Functions' event dates are epoch milliseconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


@signal_receiver(execution_transition, dispatch_uid="workflows.file_review_push")
def file_review_push(
    sender: Any, *, execution: Any, events: list[dict[str, Any]], **kw: Any
) -> None:
    """Push each step change of a file review to the file's owner."""
    if execution.workflow != FILE_REVIEW:
        return
    owner_id = execution.input.get("owner_id")
    if not owner_id:
        return
    from apps.push.services import push_to_user

    for event in events:
        if not event["type"].endswith(STEP_EVENTS) and not event["type"].startswith("Execution"):
            continue
        push_to_user(
            user_id=int(owner_id),
            message=file_review_step_message(
                execution=str(execution.pk),
                file_id=execution.input.get("file_id"),
                event=event["type"],
                state=event.get("state") or "",
                status=execution.status,
                timestamp=event.get("timestamp"),
            ),
        )


def file_review_step_message(
    *, execution: str, file_id: Any, event: str, state: str, status: str, timestamp: Any
) -> dict[str, Any]:
    """The ``workflow.step`` push message for one event of a file review.

    Built here for both engines: the local one (:func:`file_review_push`) and Step
    Functions, where each step announces itself (``apps.files.steps``). The file page
    lists the states whose ``event`` ends with ``StateEntered``, reading ``label`` (the
    state's ASL ``Comment``) and ``timestamp`` (ISO 8601, shown in the reader's time zone).
    """
    from apps.workflows.registry import state_label

    return {
        "type": "workflow.step",
        "workflow": FILE_REVIEW,
        "execution": execution,
        "file_id": file_id,
        "event": event,
        "state": state,
        "label": state_label(FILE_REVIEW, state),
        "status": status,
        "timestamp": _iso(timestamp),
    }


def _iso(value: Any) -> str:
    """A history event's time as ISO 8601 (the local engine's are strings already)."""
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
