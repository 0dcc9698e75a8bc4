"""Event receivers of the files app (discovered by the events app at start).

* S3's ``Object Created`` (EventBridge on AWS; the local upload endpoint publishes the
  same event) marks the file ``uploaded`` and publishes ``files.FileUploaded``;
* ``files.FileUploaded`` inspects the object: ``files.FileAccepted`` or ``files.FileRejected``;
* a scheduled job removes uploads abandoned past their expiry.
"""

from __future__ import annotations

import logging
from typing import Any

from apps.events.envelope import EventEnvelope
from apps.events.registry import receiver, scheduled
from apps.files import events
from apps.files.bus import OBJECT_CREATED, S3_SOURCE

logger = logging.getLogger("nimbus.files")

#: The S3 events this app cares about: objects under the per-user upload prefix.
OBJECT_CREATED_PATTERN: dict[str, Any] = {
    "source": [S3_SOURCE],
    "detail-type": [OBJECT_CREATED],
    "detail": {"object": {"key": [{"prefix": "uploads/"}]}},
}


@receiver(OBJECT_CREATED_PATTERN, name="files.object_created")
def file_object_created(event: EventEnvelope) -> None:
    """An object landed in storage: the file it belongs to is now ``uploaded``."""
    from apps.files.services import file_upload_complete

    obj = event["detail"]["object"]
    file_upload_complete(key=str(obj["key"]), size=int(obj["size"]), etag=str(obj.get("etag", "")))


@receiver(events.FILE_UPLOADED, name="files.inspect", atomic=False)
def file_uploaded_inspect(event: EventEnvelope) -> None:
    """Inspect an uploaded file (magic bytes, size, SHA-256, quota).

    Not atomic: reading a large object takes long, and ``file_inspect`` is idempotent by
    itself (it locks the file and acts only on an ``uploaded`` one).
    """
    from apps.files.services import file_inspect

    file_inspect(file_id=event["detail"]["file_id"])


@scheduled("rate(15 minutes)", name="files.expire_uploads")
def files_expire_abandoned_uploads() -> None:
    from apps.files.services import file_uploads_expire

    removed = file_uploads_expire()
    if removed:
        logger.info("Removed %d abandoned upload(s)", removed)
