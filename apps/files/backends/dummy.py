"""An in-memory upload backend for tests: records every call, stores objects in a dict.

Nothing listens on its URLs; a test plays the browser with :meth:`DummyUploadBackend.receive_post`
and :meth:`receive_part`, which enforce the same policy as the other backends (without
publishing ``Object Created``: tests call ``file_upload_complete`` themselves).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.utils.http import content_disposition_header

from apps.files import exceptions as exc
from apps.files.backends.base import (
    MIN_PART_BYTES,
    UploadBackend,
    UploadedPart,
    UploadPolicy,
    UploadTarget,
)

URL = "https://dummy.invalid"


class DummyUploadBackend(UploadBackend):
    is_local: ClassVar[bool] = True

    def __init__(self, alias: str = "default", **options: Any) -> None:
        super().__init__(alias, **options)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.objects: dict[str, bytes] = {}
        self.policies: dict[str, UploadPolicy] = {}
        self.used: set[str] = set()
        self.uploads: dict[str, dict[str, Any]] = {}
        self.downloads: dict[str, tuple[str, str, str]] = {}

    def _record(self, name: str, **kwargs: Any) -> None:
        self.calls.append((name, kwargs))

    def presign_post(self, policy: UploadPolicy) -> UploadTarget:
        self._record("presign_post", policy=policy)
        token = uuid.uuid4().hex
        self.policies[token] = policy
        return UploadTarget(
            url=f"{URL}/post/{token}",
            fields={"key": policy.key, "Content-Type": policy.content_type},
            expires_at=policy.expires_at,
            max_bytes=policy.max_bytes,
        )

    def receive_post(self, url: str, fields: dict[str, str], content: bytes) -> None:
        """What S3 would do with the form POST; raises the error S3 would answer with."""
        token = url.rsplit("/", 1)[-1]
        policy = self.policies.get(token)
        if policy is None:
            raise exc.UploadSignatureInvalid("Unknown upload URL.")
        if policy.expires_at.timestamp() < time.time():
            raise exc.UploadExpired("The upload URL has expired.")
        if fields.get("key") != policy.key:
            raise exc.UploadKeyMismatch("Wrong key.")
        if fields.get("Content-Type") != policy.content_type:
            raise exc.UploadTypeMismatch("Wrong content type.")
        if len(content) < policy.min_bytes:
            raise exc.UploadEmpty("The file is empty.")
        if len(content) > policy.max_bytes:
            raise exc.UploadTooLarge("The file is too large.")
        if token in self.used:
            raise exc.UploadAlreadyUsed("This upload URL has already been used.")
        self.used.add(token)
        self.objects[policy.key] = content

    def multipart_start(self, *, key: str, content_type: str) -> str:
        self._record("multipart_start", key=key, content_type=content_type)
        upload_id = uuid.uuid4().hex
        self.uploads[upload_id] = {"key": key, "parts": {}, "started": datetime.now(UTC)}
        return upload_id

    def multipart_part_url(
        self,
        *,
        key: str,
        upload_id: str,
        part_number: int,
        expires_at: datetime,
        size: int | None = None,
    ) -> str:
        url = f"{URL}/part/{upload_id}/{part_number}"
        return url if size is None else f"{url}?size={size}"

    def receive_part(self, url: str, body: bytes) -> str:
        path, _, query = url.partition("?size=")
        upload_id, number = path.rsplit("/", 2)[-2:]
        if upload_id not in self.uploads:
            raise exc.UploadClosed("No such open upload.")
        if query and len(body) != int(query):
            raise exc.UploadSizeMismatch(f"The part must be exactly {query} bytes.")
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        self.uploads[upload_id]["parts"][int(number)] = (etag, body)
        return etag

    def multipart_parts(self, *, key: str, upload_id: str) -> list[UploadedPart]:
        parts = self.uploads.get(upload_id, {}).get("parts", {})
        return [UploadedPart(n, etag, len(body)) for n, (etag, body) in sorted(parts.items())]

    def multipart_complete(self, *, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        self._record("multipart_complete", key=key, upload_id=upload_id, parts=parts)
        stored = self.uploads.get(upload_id, {}).get("parts", {})
        chunks = []
        for index, part in enumerate(parts):
            etag, body = stored.get(part.part_number, ("", b""))
            if etag != part.etag.strip('"'):
                raise exc.UploadPartInvalid(f"Part {part.part_number} does not match.")
            if index < len(parts) - 1 and len(body) < MIN_PART_BYTES:
                raise exc.UploadPartInvalid(f"Part {part.part_number} is too small.")
            chunks.append(body)
        self.objects[key] = b"".join(chunks)
        del self.uploads[upload_id]

    def multipart_abort(self, *, key: str, upload_id: str) -> None:
        self._record("multipart_abort", key=key, upload_id=upload_id)
        self.uploads.pop(upload_id, None)

    def multipart_sweep(self, *, started_before: datetime) -> int:
        old = [u for u, upload in self.uploads.items() if upload["started"] < started_before]
        for upload_id in old:
            del self.uploads[upload_id]
        return len(old)

    def read_chunks(self, key: str, *, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        if key not in self.objects:
            raise FileNotFoundError(key)
        data = self.objects[key]
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete(self, key: str) -> None:
        self._record("delete", key=key)
        self.objects.pop(key, None)

    def download_url(
        self, *, key: str, filename: str, content_type: str, operator: bool = False
    ) -> str:
        self._record("download_url", key=key, filename=filename, operator=operator)
        token = uuid.uuid4().hex
        self.downloads[token] = (key, filename, content_type)
        return f"{URL}/get/{token}"

    def receive_get(self, url: str) -> tuple[bytes, dict[str, str]]:
        """The object and the headers S3 would answer a presigned GET with."""
        key, filename, content_type = self.downloads[url.rsplit("/", 1)[-1]]
        headers = {
            "content-type": content_type,
            "content-disposition": content_disposition_header(True, filename) or "",
        }
        return self.objects[key], headers
