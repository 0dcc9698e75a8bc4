"""Reads of the files app. Everything a user reaches is scoped to its owner."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce

from apps.files.exceptions import FileNotDownloadable, FileNotFound
from apps.files.models import COUNTED, DOWNLOADABLE, File, FileStatus


def file_list(*, user: Any) -> QuerySet[File]:
    """The user's files, newest first."""
    return File.objects.filter(owner_id=user.pk).order_by("-created_at")


def file_get(*, user: Any, file_id: uuid.UUID | str) -> File:
    """One of the user's files; :class:`FileNotFound` for anyone else's (never 403)."""
    try:
        return File.objects.get(owner_id=user.pk, pk=_as_uuid(file_id))
    except File.DoesNotExist as e:
        raise FileNotFound("No such file.") from e


def file_get_any(*, file_id: uuid.UUID | str) -> File:
    """Any file by id, for events, workflow steps and operators (not for user requests)."""
    try:
        return File.objects.get(pk=_as_uuid(file_id))
    except File.DoesNotExist as e:
        raise FileNotFound("No such file.") from e


def file_get_downloadable_by_key(*, key: str, any_status: bool = False) -> File:
    """The file stored at ``key`` if it may be downloaded (any stored one for operators)."""
    try:
        file = File.objects.get(key=key)
    except File.DoesNotExist as e:
        raise FileNotFound("No such file.") from e
    if file.status == FileStatus.PENDING or (not any_status and file.status not in DOWNLOADABLE):
        raise FileNotDownloadable("The file cannot be downloaded in its current state.")
    return file


def file_bytes_used(*, owner_id: Any, exclude: uuid.UUID | None = None) -> int:
    """Bytes counted against the owner's quota (actual size once known, else declared)."""
    files = File.objects.filter(owner_id=owner_id, status__in=COUNTED)
    if exclude is not None:
        files = files.exclude(pk=exclude)
    total = files.aggregate(total=Sum(Coalesce("size", "declared_size")))["total"]
    return int(total or 0)


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError as e:
        raise FileNotFound("No such file.") from e
