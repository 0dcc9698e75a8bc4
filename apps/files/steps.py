"""Steps of the ``file_review`` workflow (apps/workflows/definitions/file_review.asl.json).

Each step takes and returns JSON; exceptions keep their class name as the workflow error
(``ReviewTransientError`` is retried; ``Rejected`` is how an operator's refusal arrives).
Which files need an operator's approval is ``settings.NIMBUS_REVIEW``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from apps.workflows.registry import step

logger = logging.getLogger("nimbus.files.review")


class ReviewTransientError(Exception):
    """A dependency was briefly unavailable; the workflow retries the step."""


def _announce(file: Any, state: str) -> None:
    """On Step Functions, tell the owner which step of their file's review just ran.

    Locally the workflows app pushes every transition itself (``execution_transition``);
    on AWS there is no local engine to watch, so each step announces itself.
    """
    from apps.workflows.entry import current_execution_arn

    arn = current_execution_arn()
    if arn is None:
        return
    from django.utils import timezone

    from apps.push.services import push_to_user
    from apps.workflows.handlers import file_review_step_message

    push_to_user(
        user_id=file.owner_id,
        message=file_review_step_message(
            execution=arn,
            file_id=str(file.pk),
            # A step runs in a Task state: the page lists it as that state being entered.
            event="TaskStateEntered",
            state=state,
            status=file.status,
            timestamp=timezone.now(),
        ),
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


@step("files.review_prepare")
def review_prepare(payload: dict[str, Any]) -> dict[str, Any]:
    from apps.files.selectors import file_get_any

    file = file_get_any(file_id=payload["file_id"])
    content_type = file.detected_type or file.declared_type
    reasons = approval_reasons(size=file.size, content_type=content_type)
    _announce(file, "Prepare")
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
    from apps.files.services import file_mark_awaiting_approval
    from apps.workflows.services import callback_url

    file = file_mark_awaiting_approval(file_id=payload["file_id"])
    callback_url(task_token=task_token, state_name="AwaitApproval")
    _announce(file, "AwaitApproval")
    logger.info("File %s awaits approval (%s)", file.pk, ", ".join(payload.get("reasons", [])))
    return {"status": file.status}


@step("files.review_approve")
def review_approve(payload: dict[str, Any]) -> dict[str, Any]:
    from apps.files.services import file_approve

    # A file that needed no approval goes straight from accepted to approved: its owner
    # is never told it awaits an approval it does not need.
    file = file_approve(file_id=payload["file_id"])
    _announce(file, "Approve")
    return {"status": file.status}


@step("files.review_reject")
def review_reject(payload: dict[str, Any]) -> dict[str, Any]:
    from apps.files.services import file_reject

    reason = payload.get("reason") or "Rejected by a reviewer."
    file = file_reject(file_id=payload["file_id"], reason=str(reason)[:1000])
    _announce(file, "Reject")
    return {"status": file.status, "reason": file.reason_message}


@step("files.review_notify")
def review_notify(payload: dict[str, Any]) -> dict[str, Any]:
    """Tell the owner's open pages the outcome, live.

    The stored notification comes from the push app's relay of the ``files.FileApproved`` /
    ``files.FileRejected`` event this review published, so it is not stored twice here.
    """
    from apps.files.selectors import file_get_any
    from apps.push.services import push_to_user

    file = file_get_any(file_id=payload["file_id"])
    verdict = "approved" if file.status == "approved" else "rejected"
    push_to_user(
        user_id=file.owner_id,
        message={
            "type": "file.reviewed",
            "file_id": str(file.pk),
            "status": file.status,
            "verdict": verdict,
        },
    )
    return {"notified": True}


@step("files.review_fail")
def review_fail(payload: dict[str, Any]) -> dict[str, Any]:
    from apps.files.services import file_fail

    error, cause = payload.get("error") or "Error", payload.get("cause") or ""
    file = file_fail(file_id=payload["file_id"], reason=f"{error}: {cause}"[:1000])
    _announce(file, "MarkFailed")
    return {"status": file.status}
