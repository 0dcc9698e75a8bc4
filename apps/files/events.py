"""Events the files app publishes, with the JSON schema of each ``detail``.

Every ``files.*`` detail carries ``file_id``, ``owner_id`` and ``status`` so the push app
can tell the owner live, and the workflows app can start the review on
``files.FileAccepted``.
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
}


for _detail_type, _schema_of_type in EVENT_TYPES.items():
    declare_event(_detail_type, schema=_schema_of_type, source="nimbus.files")
