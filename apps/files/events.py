"""Events the files app publishes, with the JSON schema of each ``detail``.

Every ``files.File*`` detail carries ``file_id``, ``owner_id`` and ``status`` so the push
app can tell the owner live; ``files.FileAccepted`` starts the review
(``apps.files.review``), whose progress is ``files.ReviewProgressed``: the steps of one
transition of the review, which the push app forwards to the owner as ``workflow.step``.
"""

from __future__ import annotations

from typing import Any

from apps.events.registry import declare_event

FILE_UPLOADED = "files.FileUploaded"
FILE_ACCEPTED = "files.FileAccepted"
FILE_REJECTED = "files.FileRejected"
FILE_AWAITING_APPROVAL = "files.FileAwaitingApproval"
FILE_APPROVED = "files.FileApproved"
FILE_FAILED = "files.FileFailed"
FILE_DELETED = "files.FileDeleted"
FILE_REVIEW_PROGRESSED = "files.ReviewProgressed"

_BASE_PROPERTIES: dict[str, Any] = {
    "file_id": {"type": "string", "format": "uuid"},
    "owner_id": {"type": "string"},
    "status": {
        "type": "string",
        "enum": [
            "pending",
            "uploaded",
            "accepted",
            "rejected",
            "awaiting_approval",
            "approved",
            "failed",
            "deleted",
        ],
    },
    "name": {"type": "string"},
    "content_type": {"type": "string"},
    "size": {"type": ["integer", "null"]},
    "sha256": {"type": "string"},
    "reason": {"type": "string"},
    "reason_message": {"type": "string"},
}


def _schema(title: str, *required: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": _BASE_PROPERTIES,
        "required": ["file_id", "owner_id", "status", *required],
    }


#: detail-type -> JSON schema of its detail (read by the events app's registry).
EVENT_TYPES: dict[str, dict[str, Any]] = {
    FILE_UPLOADED: _schema(FILE_UPLOADED, "size"),
    FILE_ACCEPTED: _schema(FILE_ACCEPTED, "content_type", "size", "sha256"),
    FILE_REJECTED: _schema(FILE_REJECTED, "reason", "reason_message"),
    FILE_AWAITING_APPROVAL: _schema(FILE_AWAITING_APPROVAL),
    FILE_APPROVED: _schema(FILE_APPROVED),
    FILE_FAILED: _schema(FILE_FAILED, "reason", "reason_message"),
    FILE_DELETED: _schema(FILE_DELETED),
    FILE_REVIEW_PROGRESSED: {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": FILE_REVIEW_PROGRESSED,
        "type": "object",
        "properties": {
            "file_id": {"type": "string"},
            "owner_id": {"type": "string"},
            "workflow": {"type": "string"},
            "execution": {"type": "string"},
            #: the execution's status (RUNNING, SUCCEEDED, ...), not the file's
            "status": {"type": "string"},
            "steps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "event": {"type": "string"},
                        "state": {"type": "string"},
                        "label": {"type": "string"},
                        "timestamp": {"type": "string"},
                    },
                    "required": ["event", "state", "label", "timestamp"],
                },
            },
        },
        "required": ["file_id", "owner_id", "workflow", "execution", "status", "steps"],
    },
}


for _detail_type, _schema_of_type in EVENT_TYPES.items():
    declare_event(_detail_type, schema=_schema_of_type, source="nimbus.files")
