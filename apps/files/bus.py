"""How the files app announces what happens to files and stored objects.

Events go through the events app (``apps.events.services.publish``: written to the outbox
in the caller's transaction, delivered after commit; EventBridge on AWS). The local
storage's ``Object Created`` has exactly the ``detail`` S3 sends to EventBridge, so one
receiver (:func:`apps.files.handlers.file_object_created`) serves both places.
"""

from __future__ import annotations

from typing import Any

#: ``detail-type`` and ``source`` of S3's EventBridge notification.
OBJECT_CREATED = "Object Created"
S3_SOURCE = "aws.s3"
FILES_SOURCE = "nimbus.files"
#: The bucket name the local storage reports (there is no bucket on a laptop).
LOCAL_BUCKET = "local"


def publish(detail_type: str, detail: dict[str, Any], *, source: str = FILES_SOURCE) -> None:
    """Publish in the caller's transaction (delivered after commit)."""
    from apps.events.services import publish as events_publish

    events_publish(detail_type, detail, source=source)


def object_created(*, key: str, size: int, etag: str, reason: str = "PostObject") -> None:
    """Announce a stored object exactly as S3 does on EventBridge (local storage)."""
    publish(
        OBJECT_CREATED,
        {
            "version": "0",
            "bucket": {"name": LOCAL_BUCKET},
            "object": {"key": key, "size": size, "etag": etag},
            "reason": reason,
        },
        source=S3_SOURCE,
    )
