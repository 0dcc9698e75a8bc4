"""How the files app publishes events.

Events go through the events app (``apps.events.services.publish``: outbox, receivers,
EventBridge on AWS). The storage's own ``Object Created`` announcement has exactly the
``detail`` S3 sends to EventBridge, so one receiver serves both places.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

logger = logging.getLogger("nimbus.files")

#: ``detail-type`` and ``source`` of S3's EventBridge notification.
OBJECT_CREATED = "Object Created"
S3_SOURCE = "aws.s3"
FILES_SOURCE = "nimbus.files"
LOCAL_BUCKET = "local"


def _events_publish() -> Callable[..., Any] | None:
    try:
        from apps.events.services import publish
    except ImportError:
        return None
    return publish


def publish(detail_type: str, detail: dict[str, Any], *, source: str = FILES_SOURCE) -> None:
    """Publish in the caller's transaction (delivered after commit)."""
    events_publish = _events_publish()
    if events_publish is not None:
        events_publish(detail_type, detail, source=source)
        return
    # Until the events app is installed, run this app's own receivers after commit.
    from apps.files.handlers import LOCAL_RECEIVERS

    receiver = LOCAL_RECEIVERS.get(detail_type)
    if receiver is not None:
        event = {
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "detail": detail,
        }
        transaction.on_commit(lambda: receiver(event))


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
