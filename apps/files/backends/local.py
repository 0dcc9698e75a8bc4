"""The embedded upload backend: Django itself plays S3's part.

A signed URL (``django.core.signing``; the policy travels inside the signature) accepts
the same multipart form POST as an S3 presigned POST and enforces the policy itself —
size range, exact content type, exact key, expiry, signature and single use — then writes
through ``STORAGES["default"]`` and announces the object with the same ``Object Created``
event S3 sends to EventBridge. Large files use the same multipart protocol as S3: signed
part URLs taking a ``PUT``, parts listed to resume, completed or aborted by the API.
The views are in :mod:`apps.files.upload_views`.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

from django.core import signing
from django.core.files.storage import default_storage
from django.urls import reverse

from apps.files.backends.base import (
    UploadBackend,
    UploadedPart,
    UploadPolicy,
    UploadTarget,
)
from project.site import absolute

UPLOAD_SALT = "nimbus.files.upload"
PART_SALT = "nimbus.files.upload-part"
DOWNLOAD_SALT = "nimbus.files.download"
#: Where parts of unfinished multipart uploads wait, in the default storage.
PARTS_PREFIX = "multipart"


def parts_dir(upload_id: str) -> str:
    return f"{PARTS_PREFIX}/{upload_id}"


def part_name(upload_id: str, part_number: int) -> str:
    return f"{parts_dir(upload_id)}/{part_number:05d}"


def open_marker(upload_id: str) -> str:
    """Present while the upload is open: part writes need it; complete and abort remove it."""
    return f"{parts_dir(upload_id)}/open"


def md5_of(name: str) -> str:
    """The S3-style ETag (MD5 hex) of a stored object, streamed."""
    digest = hashlib.md5(usedforsecurity=False)
    with default_storage.open(name, "rb") as fh:
        for chunk in fh.chunks():
            digest.update(chunk)
    return digest.hexdigest()


class LocalUploadBackend(UploadBackend):
    """Signed Django URLs with S3's protocol, writing to the default storage."""

    is_local: ClassVar[bool] = True

    def presign_post(self, policy: UploadPolicy) -> UploadTarget:
        token = signing.dumps(
            {
                "key": policy.key,
                "type": policy.content_type,
                "min": policy.min_bytes,
                "max": policy.max_bytes,
                "exp": int(policy.expires_at.timestamp()),
                # Single use: the endpoint records this nonce with the stored object.
                "nonce": uuid.uuid4().hex,
            },
            salt=UPLOAD_SALT,
            compress=True,
        )
        return UploadTarget(
            url=absolute(reverse("files:upload", args=[token])),
            fields={"key": policy.key, "Content-Type": policy.content_type},
            expires_at=policy.expires_at,
            max_bytes=policy.max_bytes,
        )

    def multipart_start(self, *, key: str, content_type: str) -> str:
        from django.core.files.base import ContentFile

        local_id = uuid.uuid4().hex
        default_storage.save(open_marker(local_id), ContentFile(key.encode()))
        return signing.dumps({"key": key, "id": local_id}, salt=PART_SALT + ".id")

    def multipart_part_url(
        self,
        *,
        key: str,
        upload_id: str,
        part_number: int,
        expires_at: datetime,
        size: int | None = None,
    ) -> str:
        token = signing.dumps(
            {
                "key": key,
                "upload_id": upload_id,
                "part": part_number,
                "max": self.options["multipart_max_bytes"],
                "size": size,
                "exp": int(expires_at.timestamp()),
            },
            salt=PART_SALT,
            compress=True,
        )
        return absolute(reverse("files:upload-part", args=[token]))

    def multipart_parts(self, *, key: str, upload_id: str) -> list[UploadedPart]:
        directory = parts_dir(self._local_id(key, upload_id))
        if not default_storage.exists(directory):
            return []
        _, names = default_storage.listdir(directory)
        parts = []
        for name in sorted(names):
            if not name.isdigit():
                continue
            stored = f"{directory}/{name}"
            parts.append(UploadedPart(int(name), md5_of(stored), default_storage.size(stored)))
        return parts

    def multipart_complete(self, *, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        from apps.files.upload_views import assemble_parts

        assemble_parts(key=key, local_id=self._local_id(key, upload_id), parts=parts)

    def multipart_abort(self, *, key: str, upload_id: str) -> None:
        from apps.files.upload_views import discard_parts

        discard_parts(self._local_id(key, upload_id))

    def multipart_sweep(self, *, started_before: datetime) -> int:
        from apps.files.upload_views import sweep_parts

        return sweep_parts(started_before=started_before)

    def read_chunks(self, key: str, *, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        with default_storage.open(key, "rb") as handle:
            yield from handle.chunks(chunk_size)

    def exists(self, key: str) -> bool:
        return default_storage.exists(key)

    def delete(self, key: str) -> None:
        default_storage.delete(key)

    def download_url(
        self, *, key: str, filename: str, content_type: str, operator: bool = False
    ) -> str:
        token = signing.dumps(
            {
                "key": key,
                "name": filename,
                "type": content_type,
                "operator": operator,
                "exp": int(time.time()) + int(self.options["download_expires_in"]),
            },
            salt=DOWNLOAD_SALT,
            compress=True,
        )
        return absolute(reverse("files:download", args=[token]))

    @staticmethod
    def _local_id(key: str, upload_id: str) -> str:
        """The part directory of ``upload_id``; refuses ids not issued for ``key``."""
        data: dict[str, Any] = signing.loads(upload_id, salt=PART_SALT + ".id")
        if data.get("key") != key:
            raise signing.BadSignature("upload id issued for another key")
        return str(data["id"])
