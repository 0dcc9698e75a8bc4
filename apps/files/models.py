"""What Nimbus knows about an uploaded file; the bytes live in ``STORAGES["default"]``."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class FileStatus(models.TextChoices):
    """A file's life: upload, inspection, then the review workflow.

    ``pending`` → ``uploaded`` → ``accepted`` | ``rejected``; an accepted file goes to
    ``awaiting_approval`` → ``approved`` | ``rejected`` through the review workflow, or
    ``failed`` (with a reason) when that workflow fails.
    """

    PENDING = "pending", "Waiting for upload"
    UPLOADED = "uploaded", "Uploaded, being checked"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    FAILED = "failed", "Failed"


#: Statuses in which the owner may download the file (it passed inspection).
#: Owners download a file once its review approved it, never while a reviewer has yet to
#: decide (``accepted`` leads to that review, ``awaiting_approval`` waits on it); operators
#: download any stored file from the admin.
DOWNLOADABLE = frozenset({FileStatus.APPROVED})
#: Statuses whose bytes count against the owner's quota: every file whose object is (or
#: may soon be) held in storage. A pending upload counts from its start, so concurrent
#: starts cannot overbook the quota; a rejected file's object is deleted, so it alone
#: holds nothing.
COUNTED = frozenset(
    {
        FileStatus.PENDING,
        FileStatus.UPLOADED,
        FileStatus.ACCEPTED,
        FileStatus.AWAITING_APPROVAL,
        FileStatus.APPROVED,
        FileStatus.FAILED,
    }
)


def storage_key(owner_id: object, file_id: uuid.UUID) -> str:
    """The object key of a file: built only from ids, never from user-supplied names."""
    return f"uploads/{owner_id}/{file_id}"


class File(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files"
    )
    key = models.CharField(max_length=255, unique=True, editable=False)
    name = models.CharField(max_length=255, help_text="Original name, sanitised for display.")
    declared_type = models.CharField(max_length=127)
    detected_type = models.CharField(max_length=127, blank=True, default="")
    declared_size = models.BigIntegerField()
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    etag = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(
        max_length=32, choices=FileStatus.choices, default=FileStatus.PENDING, db_index=True
    )
    reason_code = models.CharField(max_length=64, blank=True, default="")
    reason_message = models.TextField(blank=True, default="")
    #: The storage's multipart upload id while a large file is being uploaded in parts.
    multipart_upload_id = models.CharField(max_length=1024, blank=True, default="")
    upload_expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    inspected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["owner", "-created_at"], name="files_owner_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def is_downloadable(self) -> bool:
        return self.status in DOWNLOADABLE

    @property
    def is_multipart(self) -> bool:
        return bool(self.multipart_upload_id)


class UploadClaim(models.Model):
    """A local upload URL that has been used (its signed nonce): URLs are single use."""

    nonce = models.CharField(max_length=64, primary_key=True)
    key = models.CharField(max_length=255)
    claimed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key
