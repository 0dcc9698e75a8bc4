"""The contract of an upload backend.

A backend hands the browser a *target* it can POST a multipart form to (S3's presigned
POST shape: ``url`` + ``fields``, file last) and, for large files, a multipart plan of
presigned part URLs that take a ``PUT`` of the raw part and answer with an ``ETag``. Both
are bound by a policy: the exact object key, the exact content type, a size range and an
expiry. The bytes always end up in ``STORAGES["default"]`` under that key, and the storage
announces each finished object with an S3 ``Object Created`` event.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.core import checks

from project.backends import Backend

MB = 1024 * 1024
GB = 1024 * MB
#: S3's smallest part (every part but the last) and largest part count.
MIN_PART_BYTES = 5 * MB
MAX_PARTS = 10_000


@dataclass(frozen=True)
class UploadPolicy:
    """What one upload may store: exactly ``key``, of ``content_type``, within the range."""

    key: str
    content_type: str
    max_bytes: int
    expires_at: datetime
    min_bytes: int = 1


@dataclass(frozen=True)
class UploadTarget:
    """A form POST target: send ``fields`` then the file (as ``file``) to ``url``."""

    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int


@dataclass(frozen=True)
class PartTarget:
    part_number: int
    url: str


@dataclass(frozen=True)
class UploadedPart:
    part_number: int
    etag: str
    size: int


@dataclass(frozen=True)
class MultipartPlan:
    upload_id: str
    part_size: int
    parts: list[PartTarget] = field(default_factory=list)
    expires_at: datetime | None = None


class UploadBackend(Backend):
    """Base class of upload backends; subclasses implement the storage protocol."""

    default_options: ClassVar[dict[str, Any]] = {
        # Largest file sent in one form POST; larger ones go in parts.
        "max_bytes": 100 * MB - 1,
        # Files of at least this size upload in parts, up to multipart_max_bytes.
        "multipart_threshold": 100 * MB,
        "multipart_max_bytes": 5 * GB,
        "part_size": 64 * MB,
        "allowed_types": [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "application/pdf",
            "text/plain",
            "text/csv",
        ],
        # Seconds a form POST target stays valid; multipart plans get multipart_expires_in.
        "expires_in": 600,
        "multipart_expires_in": 6 * 3600,
        "download_expires_in": 60,
        # Bytes one user may hold: every file but rejected ones, pending uploads included.
        "quota_bytes": 10 * GB,
    }

    #: The multipart upload protocol (start, presigned parts, list, complete, abort).
    supports_multipart: ClassVar[bool] = True

    # ---- policy -------------------------------------------------------------------------

    @property
    def allowed_types(self) -> frozenset[str]:
        return frozenset(t.lower() for t in self.options["allowed_types"])

    def part_size_for(self, size: int) -> int:
        """A part size that keeps ``size`` within S3's 10,000 parts."""
        return max(int(self.options["part_size"]), MIN_PART_BYTES, math.ceil(size / MAX_PARTS))

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        messages: list[checks.CheckMessage] = []
        if int(self.options["part_size"]) < MIN_PART_BYTES:
            messages.append(
                checks.Error(
                    f"NIMBUS_UPLOADS[{self.alias!r}] part_size is below S3's 5 MiB minimum.",
                    id="files.E001",
                )
            )
        if int(self.options["max_bytes"]) >= int(self.options["multipart_threshold"]):
            messages.append(
                checks.Warning(
                    f"NIMBUS_UPLOADS[{self.alias!r}] max_bytes reaches multipart_threshold; "
                    "files of the threshold size will never be sent in parts.",
                    id="files.W001",
                )
            )
        return messages

    # ---- single POST --------------------------------------------------------------------

    def presign_post(self, policy: UploadPolicy) -> UploadTarget:
        """A form POST target that stores one object satisfying ``policy``."""
        raise NotImplementedError

    # ---- multipart ----------------------------------------------------------------------

    def multipart_start(self, *, key: str, content_type: str) -> str:
        """Begin a multipart upload to ``key``; returns its upload id."""
        raise NotImplementedError

    def multipart_part_url(
        self,
        *,
        key: str,
        upload_id: str,
        part_number: int,
        expires_at: datetime,
        size: int | None = None,
    ) -> str:
        """A URL taking a ``PUT`` of part ``part_number`` (1-based), valid until expiry.

        Given ``size``, the URL takes a part of exactly that many bytes (on S3 the
        ``Content-Length`` is signed), so an upload's parts never hold more than planned.
        """
        raise NotImplementedError

    def multipart_parts(self, *, key: str, upload_id: str) -> list[UploadedPart]:
        """The parts received so far, in part-number order (to resume an upload)."""
        raise NotImplementedError

    def multipart_complete(self, *, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        """Assemble ``parts`` into the object; the storage then announces it as created."""
        raise NotImplementedError

    def multipart_abort(self, *, key: str, upload_id: str) -> None:
        """Discard an unfinished multipart upload and its parts (idempotent).

        Once completed or aborted, an upload's part URLs refuse further parts.
        """
        raise NotImplementedError

    def multipart_sweep(self, *, started_before: datetime) -> int:
        """Discard every multipart upload started before ``started_before``; returns how many.

        No file's upload lives that long, so whatever is left is orphaned parts (an abort
        that failed, a record removed by hand): bytes nothing counts.
        """
        raise NotImplementedError

    # ---- stored objects -----------------------------------------------------------------

    def read_chunks(self, key: str, *, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """Stream the stored object in chunks (never the whole object in memory).

        Raises :class:`FileNotFoundError` when there is no object at ``key``.
        """
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Delete the stored object (idempotent)."""
        raise NotImplementedError

    # ---- downloads ----------------------------------------------------------------------

    def download_url(
        self, *, key: str, filename: str, content_type: str, operator: bool = False
    ) -> str:
        """A short-lived URL serving the object as an attachment named ``filename``.

        Links for users serve only files that passed inspection; ``operator`` links (the
        admin's) serve any stored object.
        """
        raise NotImplementedError
