"""The file review: starting it, its steps, and what the owner is told on the way.

``files.FileAccepted`` starts the ``file_review`` workflow
(``apps/files/definitions/file_review.asl.json``; execution name ``file-<id>``, so a
redelivered event starts nothing new). Its steps take and return JSON; exceptions keep
their class name as the workflow error (``ReviewTransientError`` is retried;
``Rejected`` is how an operator's refusal arrives). Which files need an operator's
approval is ``settings.NIMBUS_REVIEW``.

The owner hears the review one way, on either engine: the workflows app reports every
transition (``execution_transition``: the local engine's, Step Functions' status changes,
and each step Step Functions runs), :func:`review_progress` publishes the ones a page
shows as one ``files.ReviewProgressed`` event, and the push app forwards each step as
``{"type": "workflow.step", ...}``. The outcome is the ``files.FileApproved`` /
``files.FileRejected`` / ``files.FileFailed`` event the step's service publishes, which
the push app relays as ``file.status`` (with the stored notification).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.dispatch import receiver as signal_receiver

from apps.events.envelope import EventEnvelope
from apps.events.registry import receiver
from apps.files import bus, selectors, services
from apps.files.events import FILE_ACCEPTED, FILE_REVIEW_PROGRESSED
from apps.files.exceptions import FileNotFound
from apps.workflows import services as workflows
from apps.workflows.registry import state_label, step
from apps.workflows.signals import execution_transition

logger = logging.getLogger("nimbus.files.review")

FILE_REVIEW = "file_review"
#: The history events a page shows, by the end of their type, and every ``Execution*``.
STEP_EVENTS = ("StateEntered", "StateExited", "TaskFailed", "TaskSubmitted")


class ReviewTransientError(Exception):
    """A dependency was briefly unavailable; the workflow retries the step."""


@receiver(FILE_ACCEPTED, name="files.review_start")
def file_review_start(event: EventEnvelope) -> None:
    detail = event["detail"]
    workflows.execution_start(
        workflow=FILE_REVIEW,
        input={"file_id": detail["file_id"], "owner_id": detail["owner_id"]},
        name=f"file-{detail['file_id']}",
    )


def approval_reasons(*, size: int | None, content_type: str) -> list[str]:
    """Why a file needs an operator's approval (empty: it does not)."""
    policy = settings.NIMBUS_REVIEW
    reasons = []
    if size is not None and size > int(policy["approval_over_bytes"]):
        reasons.append("size")
    if content_type in policy["approval_types"]:
        reasons.append("type")
    return reasons


# -- the steps -----------------------------------------------------------------------------


@step("files.review_prepare")
def review_prepare(payload: dict[str, Any]) -> dict[str, Any]:
    file = selectors.file_get_any(file_id=payload["file_id"])
    content_type = file.detected_type or file.declared_type
    reasons = approval_reasons(size=file.size, content_type=content_type)
    return {
        "file_id": str(file.pk),
        "owner_id": str(file.owner_id),
        "name": file.name,
        "size": file.size,
        "content_type": content_type,
        "needs_approval": bool(reasons),
        "reasons": reasons,
    }


@step("files.review_request_approval")
def review_request_approval(payload: dict[str, Any], *, task_token: str) -> dict[str, Any]:
    """Mark the file awaiting approval; an operator (admin) or an external system answers
    through the task token's signed callback URL."""
    file = services.file_mark_awaiting_approval(file_id=payload["file_id"])
    workflows.callback_url(task_token=task_token, state_name="AwaitApproval")
    logger.info("File %s awaits approval (%s)", file.pk, ", ".join(payload.get("reasons", [])))
    return {"status": file.status}


@step("files.review_approve")
def review_approve(payload: dict[str, Any]) -> dict[str, Any]:
    # A file that needed no approval goes straight from accepted to approved: its owner
    # is never told it awaits an approval it does not need.
    file = services.file_approve(file_id=payload["file_id"])
    return {"status": file.status}


@step("files.review_reject")
def review_reject(payload: dict[str, Any]) -> dict[str, Any]:
    reason = payload.get("reason") or "Rejected by a reviewer."
    file = services.file_reject(file_id=payload["file_id"], reason=str(reason)[:1000])
    return {"status": file.status, "reason": file.reason_message}


@step("files.review_notify")
def review_notify(payload: dict[str, Any]) -> dict[str, Any]:
    """The owner has been told: the outcome's event (``files.FileApproved`` /
    ``files.FileRejected``) reached them as ``file.status`` with its notification, and
    this state, like every other, as ``workflow.step``. Nothing is left to send."""
    return {"notified": True}


@step("files.review_fail")
def review_fail(payload: dict[str, Any]) -> dict[str, Any]:
    error, cause = payload.get("error") or "Error", payload.get("cause") or ""
    file = services.file_fail(file_id=payload["file_id"], reason=f"{error}: {cause}"[:1000])
    return {"status": file.status}


# -- what the owner is told ----------------------------------------------------------------


@signal_receiver(execution_transition, dispatch_uid="files.review_progress")
def review_progress(
    sender: Any, *, execution: Any, events: list[dict[str, Any]], **kw: Any
) -> None:
    """Publish a file review's transitions that a page shows as ``files.ReviewProgressed``."""
    if execution.workflow != FILE_REVIEW:
        return
    file_id = execution.input.get("file_id")
    owner_id = execution.input.get("owner_id") or _owner_of(file_id)
    steps = [
        {
            "event": event["type"],
            "state": event.get("state") or "",
            "label": state_label(FILE_REVIEW, event.get("state") or ""),
            "timestamp": _iso(event.get("timestamp")),
        }
        for event in events
        if event["type"].endswith(STEP_EVENTS) or event["type"].startswith("Execution")
    ]
    if not steps or not owner_id or not file_id:
        return
    bus.publish(
        FILE_REVIEW_PROGRESSED,
        {
            "file_id": str(file_id),
            "owner_id": str(owner_id),
            "workflow": FILE_REVIEW,
            "execution": str(execution.pk),
            "status": str(execution.status),
            "steps": steps,
        },
    )


def _owner_of(file_id: Any) -> str | None:
    """The owner of the reviewed file (a Step Functions Task's input names the file only)."""
    if not file_id:
        return None
    try:
        return str(selectors.file_get_any(file_id=file_id).owner_id)
    except FileNotFound:
        return None


def _iso(value: Any) -> str:
    """A history event's time as ISO 8601 (the local engine's are strings already)."""
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
