"""The embedded upload backend: Django itself plays S3's part.

A signed URL (``django.core.signing``; the policy travels inside the signature) accepts
the same multipart form POST as an S3 presigned POST and enforces the policy itself —
size range, exact content type, exact key, expiry, signature and single use — then writes
through ``STORAGES["default"]`` and announces the object with the same ``Object Created``
event S3 sends to EventBridge. Large files use the same multipart protocol as S3: signed
part URLs taking a ``PUT``, parts listed to resume, completed or aborted by the API.
What S3 does with a stored POST or part, and with multipart completion, is here too;
the views in :mod:`apps.files.upload_views` only speak HTTP.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, ClassVar

from django.core import signing
from django.core.files import File as DjangoFile
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse

from apps.files import exceptions as exc
from apps.files.backends.base import (
    MIN_PART_BYTES,
    UploadBackend,
    UploadedPart,
    UploadPolicy,
    UploadTarget,
)
from apps.files.bus import object_created
from apps.files.models import UploadClaim
from project.site import absolute

UPLOAD_SALT = "nimbus.files.upload"
PART_SALT = "nimbus.files.upload-part"
DOWNLOAD_SALT = "nimbus.files.download"
#: Where parts of unfinished multipart uploads wait, in the default storage.
PARTS_PREFIX = "multipart"
#: How much of a part or an assembled object is read at a time.
COPY_CHUNK = 1024 * 1024


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


def local_upload_id(key: str, upload_id: str) -> str:
    """The part directory of ``upload_id``; refuses ids not issued for ``key``."""
    data: dict[str, Any] = signing.loads(upload_id, salt=PART_SALT + ".id")
    if data.get("key") != key:
        raise signing.BadSignature("upload id issued for another key")
    return str(data["id"])


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
        assemble_parts(key=key, local_id=self._local_id(key, upload_id), parts=parts)

    def multipart_abort(self, *, key: str, upload_id: str) -> None:
        discard_parts(self._local_id(key, upload_id))

    def multipart_sweep(self, *, started_before: datetime) -> int:
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

    _local_id = staticmethod(local_upload_id)


# -- what S3 does with what the browser sends (the views in upload_views.py call these) --


def object_store(policy: dict[str, Any], upload: UploadedFile) -> None:
    """Store a POSTed form's file at the policy's key, once, and announce it as S3 does."""
    key = policy["key"]
    try:
        with transaction.atomic():
            UploadClaim.objects.create(nonce=policy["nonce"], key=key)
            if default_storage.exists(key):
                raise exc.UploadAlreadyUsed("An object was already stored with this URL's key.")
            etag = _save_exact(key, upload)
            transaction.on_commit(lambda: object_created(key=key, size=upload.size or 0, etag=etag))
    except IntegrityError as e:
        raise exc.UploadAlreadyUsed("This upload URL has already been used.") from e


def _save_exact(key: str, content: DjangoFile) -> str:
    """Write ``content`` at exactly ``key``; returns its MD5 (S3's ETag for a PUT/POST)."""
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in content.chunks():
        digest.update(chunk)
    content.seek(0)
    saved = default_storage.save(key, content)
    if saved != key:
        # The storage picked another name because the key exists: never keep a second copy.
        default_storage.delete(saved)
        raise exc.UploadAlreadyUsed("An object was already stored with this URL's key.")
    return digest.hexdigest()


def part_refuse_closed(local_id: str) -> None:
    """Refuse a part of an upload that was completed or abandoned (``upload_closed``)."""
    if not default_storage.exists(open_marker(local_id)):
        raise exc.UploadClosed("This upload was completed or abandoned; start a new one.")


def part_save(local_id: str, part_number: int, size: int, read: Callable[[int], bytes]) -> str:
    """Store one part of an open upload; returns its MD5.

    The upload must be open before the part is written and still open after: a
    completion or abort that ran meanwhile (and so did not see this part) makes the part
    delete itself, so no part outlives its upload.
    """
    part_refuse_closed(local_id)
    name = part_name(local_id, part_number)
    digest = hashlib.md5(usedforsecurity=False)
    with tempfile.TemporaryFile() as tmp:
        remaining = size
        while remaining > 0:
            chunk = read(min(COPY_CHUNK, remaining))
            if not chunk:
                break
            digest.update(chunk)
            tmp.write(chunk)
            remaining -= len(chunk)
        if remaining:
            raise exc.UploadPartInvalid("The connection ended before the whole part arrived.")
        tmp.seek(0)
        # S3 replaces a part uploaded again under the same number (a retried part).
        part_refuse_closed(local_id)
        if default_storage.exists(name):
            default_storage.delete(name)
        default_storage.save(name, DjangoFile(tmp))
    try:
        part_refuse_closed(local_id)
    except exc.UploadClosed:
        default_storage.delete(name)
        discard_parts(local_id)
        raise
    return digest.hexdigest()


class _Concatenation:
    """A read-only file object reading stored parts one after another."""

    def __init__(self, names: list[str]) -> None:
        self._names = iter(names)
        self._current: Any = None

    def read(self, size: int = -1) -> bytes:
        while True:
            if self._current is None:
                name = next(self._names, None)
                if name is None:
                    return b""
                self._current = default_storage.open(name, "rb")
            chunk = self._current.read(size if size and size > 0 else COPY_CHUNK)
            if chunk:
                return bytes(chunk)
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()


def assemble_parts(*, key: str, local_id: str, parts: list[UploadedPart]) -> None:
    """``CompleteMultipartUpload``: check the listed parts, join them at ``key``, announce."""
    if not default_storage.exists(open_marker(local_id)):
        raise exc.UploadPartInvalid("There is no such open upload.")
    names = _checked_parts(local_id, parts)
    if default_storage.exists(key):
        raise exc.UploadAlreadyUsed("An object was already stored at this key.")
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(bytes.fromhex(part.etag.strip('"')))
    etag = f"{digest.hexdigest()}-{len(parts)}"
    joined = _Concatenation(names)
    try:
        saved = default_storage.save(key, DjangoFile(joined))  # type: ignore[arg-type]
    finally:
        joined.close()
    if saved != key:
        default_storage.delete(saved)
        raise exc.UploadAlreadyUsed("An object was already stored at this key.")
    size = default_storage.size(key)
    discard_parts(local_id)
    transaction.on_commit(lambda: object_created(key=key, size=size, etag=etag))


def _checked_parts(local_id: str, parts: list[UploadedPart]) -> list[str]:
    if not parts:
        raise exc.UploadPartInvalid("A multipart upload needs at least one part.")
    numbers = [p.part_number for p in parts]
    if numbers != sorted(set(numbers)):
        raise exc.UploadPartInvalid("Parts must be listed once each, in ascending order.")
    names = []
    for index, part in enumerate(parts):
        name = part_name(local_id, part.part_number)
        if not default_storage.exists(name) or md5_of(name) != part.etag.strip('"'):
            raise exc.UploadPartInvalid(
                f"Part {part.part_number} was not uploaded or its ETag does not match.",
                detail={"part_number": part.part_number},
            )
        if index < len(parts) - 1 and default_storage.size(name) < MIN_PART_BYTES:
            raise exc.UploadPartInvalid(
                f"Part {part.part_number} is smaller than 5 MiB and is not the last part.",
                detail={"part_number": part.part_number},
            )
        names.append(name)
    return names


def discard_parts(local_id: str) -> None:
    """``AbortMultipartUpload``: close the upload, then delete every stored part (idempotent).

    The open marker goes first, so a part write racing with this sees the upload closed
    and removes its own part (:func:`part_save`).
    """
    directory = parts_dir(local_id)
    if not default_storage.exists(directory):
        return
    default_storage.delete(open_marker(local_id))
    _, names = default_storage.listdir(directory)
    for name in names:
        default_storage.delete(f"{directory}/{name}")
    location = getattr(default_storage, "path", None)
    if location is not None:
        shutil.rmtree(location(directory), ignore_errors=True)


def sweep_parts(*, started_before: datetime) -> int:
    """Discard part directories of uploads opened before ``started_before``, and closed ones.

    A directory without its open marker belongs to no open upload (a part that lost a
    race with completion, parts kept before uploads were marked); one whose marker is
    older than ``started_before`` outlived every upload's expiry.
    """
    if not default_storage.exists(PARTS_PREFIX):
        return 0
    directories, _ = default_storage.listdir(PARTS_PREFIX)
    swept = 0
    for local_id in directories:
        marker = open_marker(local_id)
        if (
            default_storage.exists(marker)
            and default_storage.get_modified_time(marker) >= started_before
        ):
            continue
        discard_parts(local_id)
        swept += 1
    return swept
