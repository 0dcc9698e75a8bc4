"""Receivers that tell a file's owner, live, what happened to it.

Every ``files.*`` event carries ``file_id``, ``owner_id``, ``status`` (and ``reason`` /
``reason_message`` when refused). The owner's open pages get
``{"type": "file.status", ...}``; each file's outcome — approved, rejected or failed, one
per file — is also stored as a notification, in the receiver's transaction (so a
redelivered event never notifies twice: the events app's inbox makes the effect
exactly-once). The steps on the way (accepted, awaiting approval) are live status only.
Owners who keep "Email me about my files" on also get an e-mail of an approval or a
rejection (:func:`email_file_outcome`).

A file review's steps reach the owner the same way: each ``files.ReviewProgressed``
event (published by ``apps.files.review`` for the local engine and Step Functions alike)
is forwarded step by step as ``{"type": "workflow.step", ...}``.

When an account's sessions end (the users app's ``sessions_ended``: sign-out everywhere,
disabling, deletion, a password change or reset), its open WebSockets are closed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.dispatch import receiver as signal_receiver

from apps.events.envelope import EventEnvelope
from apps.events.registry import receiver
from apps.files.events import FILE_APPROVED, FILE_REJECTED, FILE_REVIEW_PROGRESSED
from apps.files.models import FileStatus
from apps.push.services import connections_close, push_to_user
from apps.users.signals import sessions_ended

logger = logging.getLogger("nimbus.push")

#: The outcomes worth a stored notification (one per file), and how to say them.
FILE_NOTICES: dict[str, str] = {
    "rejected": "{name} was rejected",
    "approved": "{name} was approved",
    "failed": "{name} could not be processed",
}


def notice_title(notice: str, name: str, *, limit: int = 200) -> str:
    """``notice`` about ``name`` within ``limit`` characters (Notification.title's length):
    a long name is shortened in its middle, keeping its extension, so the wording ("was
    approved") is never what gets cut."""
    title = notice.format(name=name)
    if len(title) <= limit:
        return title
    room = max(limit - len(notice.format(name="")), 2)
    tail = min(12, room // 3)
    return notice.format(name=name[: room - tail - 1] + "…" + name[len(name) - tail :])


@receiver({"detail-type": [{"prefix": "files.File"}]}, name="push.file_status")
def relay_file_status(event: EventEnvelope) -> None:
    """``files.File*`` → ``file.status`` to the owner; a notification for the outcomes."""
    detail = event.detail
    owner_id = _owner(detail)
    if owner_id is None or "file_id" not in detail or "status" not in detail:
        logger.warning("File event without an owner, file or status; not pushed")
        return
    status = str(detail["status"])
    message = {
        "type": "file.status",
        "file_id": str(detail["file_id"]),
        "status": status,
        "status_label": _status_label(status),
        "reason": str(detail.get("reason", "")),
        "reason_message": str(detail.get("reason_message", "")),
        "name": str(detail.get("name", "")),
        "event": event.detail_type,
    }
    notice = FILE_NOTICES.get(status)
    push_to_user(
        user_id=owner_id,
        message=message,
        notify=notice is not None,
        title=notice_title(notice or status, str(detail.get("name") or "Your file")),
        body=str(detail.get("reason_message") or ""),
    )


@receiver(FILE_REVIEW_PROGRESSED, name="push.review_progress")
def relay_review_progress(event: EventEnvelope) -> None:
    """``files.ReviewProgressed`` → one ``workflow.step`` to the owner per step.

    The file page lists the states whose ``event`` ends with ``StateEntered``, reading
    ``label`` (the state's ASL ``Comment``) and ``timestamp`` (ISO 8601, shown in the
    reader's time zone). Live only: the outcome's notification comes with ``file.status``.
    """
    detail = event.detail
    owner_id = _owner(detail)
    if owner_id is None:
        return
    for step in detail["steps"]:
        push_to_user(
            user_id=owner_id,
            message={
                "type": "workflow.step",
                "workflow": detail["workflow"],
                "execution": detail["execution"],
                "file_id": detail["file_id"],
                "event": step["event"],
                "state": step["state"],
                "label": step["label"],
                "status": detail["status"],
                "timestamp": step["timestamp"],
            },
        )


@receiver({"detail-type": [FILE_APPROVED, FILE_REJECTED]}, name="push.file_outcome_email")
def email_file_outcome(event: EventEnvelope) -> None:
    """E-mail the owner an approval or rejection, unless they turned such e-mails off.

    A receiver of its own, so a mail server that refuses is retried (and dead-lettered)
    without touching the notification the relay stored.
    """
    from apps.push.mail import file_outcome_email_send

    owner_id = _owner(event.detail)
    if owner_id is None:
        return
    file_outcome_email_send(user_id=owner_id, detail=event.detail)


def _status_label(status: str) -> str:
    """The words the file pages use for a status, so a live update reads the same."""
    try:
        return str(FileStatus(status).label)
    except ValueError:
        return status


def _owner(detail: dict[str, Any]) -> int | None:
    """The owner's user id, if it names an existing user (an event may outlive its owner)."""
    try:
        owner_id = int(detail.get("owner_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not get_user_model().objects.filter(pk=owner_id).exists():
        return None
    return owner_id


@signal_receiver(sessions_ended, dispatch_uid="push.close_ended_sessions")
def close_ended_sessions(sender: Any, *, user_id: int, **kwargs: Any) -> None:
    connections_close(user_id=user_id)
