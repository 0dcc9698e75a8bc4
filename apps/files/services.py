"""Writes of the files app: uploads, inspection, the review's transitions, deletion.

Every function is keyword-only and publishes its ``files.*`` event in the same
transaction as the change it reports (see :mod:`apps.files.events`).
"""

from __future__ import annotations

import logging
import math
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.files import events
from apps.files.backends import get_upload_backend
from apps.files.backends.base import (
    MultipartPlan,
    PartTarget,
    UploadBackend,
    UploadedPart,
    UploadPolicy,
    UploadTarget,
)
from apps.files.bus import publish
from apps.files.exceptions import (
    FileEmpty,
    FileNotDownloadable,
    FileStateConflict,
    FileTooLarge,
    FileTypeNotAllowed,
    QuotaExceeded,
    UploadSizeMismatch,
)
from apps.files.inspection import Verdict, inspect_stream
from apps.files.models import File, FileStatus, storage_key
from apps.files.selectors import file_bytes_used, file_get, file_get_any
from project import telemetry

logger = logging.getLogger("nimbus.files")

MAX_NAME_LENGTH = 200


def sanitize_name(name: str) -> str:
    """A display name safe for HTML, headers and file systems; never part of a key.

    Keeps the last path segment only, drops control and format characters, normalises
    to NFC and caps the length (keeping the extension).
    """
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    if len(cleaned) > MAX_NAME_LENGTH:
        stem, dot, ext = cleaned.rpartition(".")
        ext = ext[:16] if dot else ""
        cleaned = (stem if dot else cleaned)[: MAX_NAME_LENGTH - len(ext) - 1] + (
            f".{ext}" if ext else ""
        )
    return cleaned or "file"


def event_detail(file: File, **extra: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "file_id": str(file.pk),
        "owner_id": str(file.owner_id),
        "status": file.status,
        "name": file.name,
        "content_type": file.declared_type,
        "size": file.size,
    }
    if file.reason_code:
        detail["reason"] = file.reason_code
        detail["reason_message"] = file.reason_message
    detail.update(extra)
    return detail


# ---- starting an upload ---------------------------------------------------------------


@dataclass(frozen=True)
class UploadStarted:
    file: File
    target: UploadTarget | None = None
    plan: MultipartPlan | None = None


def file_upload_start(*, user: Any, name: str, content_type: str, size: int) -> UploadStarted:
    """Record a pending file and return where the browser sends its bytes.

    Files under ``multipart_threshold`` get a form POST target bound to exactly ``size``
    bytes; larger ones (up to ``multipart_max_bytes``) a multipart plan. Refuses an empty
    or oversize file, a type not on the allow-list and a file that would exceed the
    owner's quota. The declared size is reserved against the quota when the pending row
    is written (:func:`_reserve`), so concurrent starts cannot overbook it.
    """
    backend = get_upload_backend()
    content_type = content_type.strip().lower()
    _check_upload_request(backend, content_type=content_type, size=size)
    multipart = size >= int(backend.options["multipart_threshold"])
    expires_in = backend.options["multipart_expires_in" if multipart else "expires_in"]
    file_id = uuid.uuid4()
    file = File(
        id=file_id,
        owner=user,
        key=storage_key(user.pk, file_id),
        name=sanitize_name(name),
        declared_type=content_type,
        declared_size=size,
        upload_expires_at=timezone.now() + timedelta(seconds=int(expires_in)),
    )
    _reserve(backend, file, multipart=multipart)
    telemetry.metric(telemetry.UPLOADS_STARTED, kind="multipart" if multipart else "single")
    if multipart:
        return UploadStarted(file=file, plan=_plan(backend, file, missing_from=[]))
    policy = UploadPolicy(
        key=file.key,
        content_type=content_type,
        min_bytes=size,
        max_bytes=size,
        expires_at=file.upload_expires_at,
    )
    return UploadStarted(file=file, target=backend.presign_post(policy))


def _check_upload_request(backend: UploadBackend, *, content_type: str, size: int) -> None:
    limit = int(backend.options["multipart_max_bytes"])
    if size < int(backend.options["multipart_threshold"]):
        # Sent in one POST, whose policy admits exactly the declared size.
        limit = min(limit, int(backend.options["max_bytes"]))
    if size < 1:
        raise FileEmpty("The file is empty.")
    if size > limit:
        raise FileTooLarge("The file is too large.", detail={"max_bytes": limit})
    if content_type not in backend.allowed_types:
        raise FileTypeNotAllowed(
            f"Files of type {content_type or 'unknown'} cannot be uploaded.",
            detail={"allowed_types": sorted(backend.allowed_types)},
        )


def _reserve(backend: UploadBackend, file: File, *, multipart: bool) -> None:
    """Write the pending row if the owner's quota holds its declared size, atomically.

    The owner's row is locked first (``SELECT ... FOR UPDATE``), so concurrent starts of
    one owner check and write one after another; on SQLite the ``IMMEDIATE`` transaction
    takes the database's write lock instead. A multipart upload is opened in the same
    transaction (and aborted if the row is not written), so the row is written once,
    complete. The reservation lasts as long as the row is counted
    (:data:`apps.files.models.COUNTED`): it ends when the upload is rejected, aborted,
    expired or deleted.
    """
    quota = int(backend.options["quota_bytes"])
    try:
        with transaction.atomic():
            get_user_model().objects.select_for_update().only("pk").get(pk=file.owner_id)
            if file_bytes_used(owner_id=file.owner_id) + file.declared_size > quota:
                raise QuotaExceeded(
                    "This file would exceed your storage quota.", detail={"quota": quota}
                )
            if multipart:
                file.multipart_upload_id = backend.multipart_start(
                    key=file.key, content_type=file.declared_type
                )
            file.save(force_insert=True)
    except BaseException:
        if file.multipart_upload_id:
            backend.multipart_abort(key=file.key, upload_id=file.multipart_upload_id)
        raise


def _plan(backend: UploadBackend, file: File, *, missing_from: list[UploadedPart]) -> MultipartPlan:
    part_size = backend.part_size_for(file.declared_size)
    count = math.ceil(file.declared_size / part_size)
    done = {p.part_number for p in missing_from}
    return MultipartPlan(
        upload_id=file.multipart_upload_id,
        part_size=part_size,
        parts=[
            PartTarget(
                n,
                backend.multipart_part_url(
                    key=file.key,
                    upload_id=file.multipart_upload_id,
                    part_number=n,
                    expires_at=file.upload_expires_at,
                    # Each URL takes exactly its slice: the parts add up to the declaration.
                    size=min(part_size, file.declared_size - (n - 1) * part_size),
                ),
            )
            for n in range(1, count + 1)
            if n not in done
        ],
        expires_at=file.upload_expires_at,
    )


# ---- multipart ------------------------------------------------------------------------


def _pending_multipart(*, user: Any, file_id: uuid.UUID | str) -> File:
    file = file_get(user=user, file_id=file_id)
    if file.status != FileStatus.PENDING or not file.is_multipart:
        raise FileStateConflict("The file is not an unfinished multipart upload.")
    return file


def file_multipart_resume(
    *, user: Any, file_id: uuid.UUID | str
) -> tuple[list[UploadedPart], MultipartPlan]:
    """Parts already received and fresh URLs for the missing ones (after a dropped link)."""
    file = _pending_multipart(user=user, file_id=file_id)
    backend = get_upload_backend()
    uploaded = backend.multipart_parts(key=file.key, upload_id=file.multipart_upload_id)
    return uploaded, _plan(backend, file, missing_from=uploaded)


def file_multipart_complete(
    *, user: Any, file_id: uuid.UUID | str, parts: Iterable[tuple[int, str]]
) -> File:
    """Assemble the listed ``(part_number, etag)`` parts; the object event follows.

    The parts the storage holds under those numbers must add up to the declared size
    before anything is assembled: fewer bytes are refused (a part is missing or short;
    the upload stays open to send it), more are refused and end the upload — its parts
    are discarded and the file rejected (``size_mismatch``), so no excess is ever stored.
    """
    file = _pending_multipart(user=user, file_id=file_id)
    backend = get_upload_backend()
    listed = [UploadedPart(int(n), str(etag).strip('"'), 0) for n, etag in parts]
    held = {
        p.part_number: p.size
        for p in backend.multipart_parts(key=file.key, upload_id=file.multipart_upload_id)
    }
    total = sum(held.get(p.part_number, 0) for p in listed)
    if total > file.declared_size:
        _multipart_reject_excess(file, total)
    if total < file.declared_size and all(p.part_number in held for p in listed):
        raise UploadSizeMismatch(
            f"The parts hold {total} bytes, not the {file.declared_size} declared.",
            detail={"declared_size": file.declared_size, "size": total},
        )
    backend.multipart_complete(key=file.key, upload_id=file.multipart_upload_id, parts=listed)
    return file


def _multipart_reject_excess(file: File, total: int) -> None:
    message = f"The parts hold {total} bytes, more than the {file.declared_size} declared."
    with transaction.atomic():
        locked = File.objects.select_for_update().get(pk=file.pk)
        if locked.status == FileStatus.PENDING:
            _reject(locked, "size_mismatch", message)
    raise UploadSizeMismatch(message, detail={"declared_size": file.declared_size, "size": total})


def file_multipart_abort(*, user: Any, file_id: uuid.UUID | str) -> None:
    """Discard an unfinished multipart upload and its file record."""
    file = _pending_multipart(user=user, file_id=file_id)
    get_upload_backend().multipart_abort(key=file.key, upload_id=file.multipart_upload_id)
    file.delete()


# ---- completion and inspection ----------------------------------------------------------


def file_upload_complete(*, key: str, size: int, etag: str = "") -> File | None:
    """The storage received the object at ``key``: mark its file ``uploaded``.

    Idempotent for a repeated notification of the same object. An object of another size
    than declared is rejected at once (``size_mismatch``) and deleted. An object replacing
    one already received (a second POST within the policy's lifetime on S3) rejects the
    file: what was inspected is no longer what is stored. An object arriving for a
    rejected file, or with no pending file (an upload finishing after its record was
    cleaned up), is deleted: storage never holds bytes no counted file claims.
    """
    with transaction.atomic():
        file = File.objects.select_for_update().filter(key=key).first()
        if file is None or file.status == FileStatus.REJECTED:
            logger.warning("Deleting an object no counted file claims: %s", key)
            transaction.on_commit(lambda: get_upload_backend().delete(key))
            return file
        if file.status != FileStatus.PENDING:
            if etag and file.etag and etag != file.etag:
                return _reject(file, "upload_replaced", "The object was replaced after upload.")
            return file
        file.size = size
        file.etag = etag
        file.uploaded_at = timezone.now()
        if size != file.declared_size:
            message = f"The file has {size} bytes, not the {file.declared_size} declared."
            return _reject(file, "size_mismatch", message)
        file.status = FileStatus.UPLOADED
        file.multipart_upload_id = ""
        file.save()
        publish(events.FILE_UPLOADED, event_detail(file))
    return file


def file_inspect(*, file_id: uuid.UUID | str, force: bool = False) -> File:
    """Check what arrived and mark the file ``accepted`` or ``rejected`` (with a reason).

    Streams the object once: the real type by magic bytes against the declared type,
    the size against the declared size and the limits, the SHA-256, then the owner's
    quota. Only an ``uploaded`` file is inspected unless ``force`` (an operator's
    re-inspection), so a repeated event changes nothing. Re-inspection refuses, with
    :class:`FileStateConflict`, a file it must not change (:func:`reinspection_refusal`).
    """
    file = file_get_any(file_id=file_id)
    if file.status != FileStatus.UPLOADED and not force:
        return file
    _refuse_reinspection(file)
    backend = get_upload_backend()
    verdict = _verdict(backend, file)
    with transaction.atomic():
        file = File.objects.select_for_update().get(pk=file.pk)
        if file.status != FileStatus.UPLOADED and not force:
            return file
        _refuse_reinspection(file)  # a review may have decided while the object was read
        file.detected_type = verdict.detected_type
        file.sha256 = verdict.sha256
        file.size = verdict.size if verdict.size is not None else file.size
        file.inspected_at = timezone.now()
        if verdict.reason:
            return _reject(file, verdict.reason, verdict.message)
        file.status = FileStatus.ACCEPTED
        file.reason_code = file.reason_message = ""
        file.save()
        telemetry.metric(telemetry.UPLOADS_ACCEPTED)
        publish(events.FILE_ACCEPTED, event_detail(file, sha256=file.sha256))
    return file


def reinspection_refusal(file: File) -> str | None:
    """Why an operator's re-inspection must leave ``file`` as it is (None: it may run).

    A reviewer's decision (approved, or rejected by the review) is final: re-inspecting
    would make a rejected file downloadable again. A rejected file's object was deleted,
    a pending file has no object yet, and one awaiting approval is in front of a reviewer.
    """
    if file.status == FileStatus.APPROVED:
        return "A reviewer approved this file."
    if file.status == FileStatus.REJECTED and file.reason_code == "review_rejected":
        return "A reviewer rejected this file."
    if file.status == FileStatus.REJECTED:
        return "This file was rejected and its object deleted."
    if file.status == FileStatus.AWAITING_APPROVAL:
        return "This file is awaiting a reviewer's decision."
    if file.status == FileStatus.PENDING:
        return "This file has not been uploaded yet."
    return None


def _refuse_reinspection(file: File) -> None:
    refusal = reinspection_refusal(file)
    if refusal is not None:
        raise FileStateConflict(refusal, detail={"status": file.status, "reason": file.reason_code})


def _verdict(backend: UploadBackend, file: File) -> Verdict:
    in_parts = file.declared_size >= int(backend.options["multipart_threshold"])
    limit = int(backend.options["multipart_max_bytes" if in_parts else "max_bytes"])
    try:
        verdict = inspect_stream(
            backend.read_chunks(file.key),
            declared_type=file.declared_type,
            declared_size=file.declared_size,
            max_bytes=limit,
            allowed_types=backend.allowed_types,
        )
    except FileNotFoundError:
        return Verdict(reason="object_missing", message="No object was found in storage.")
    if verdict.reason:
        return verdict
    quota = int(backend.options["quota_bytes"])
    used = file_bytes_used(owner_id=file.owner_id, exclude=file.pk)
    if used + (verdict.size or 0) > quota:
        return Verdict(
            size=verdict.size,
            sha256=verdict.sha256,
            detected_type=verdict.detected_type,
            reason="quota_exceeded",
            message="The file would exceed your storage quota.",
        )
    return verdict


def _reject(file: File, code: str, message: str) -> File:
    """Reject ``file`` and, after commit, delete its object and any unfinished parts."""
    file.status = FileStatus.REJECTED
    file.reason_code = code
    file.reason_message = message
    _discard_after_commit(file)
    file.save()
    publish(events.FILE_REJECTED, event_detail(file))
    telemetry.metric(telemetry.UPLOADS_REJECTED, reason=code)
    logger.info("File %s rejected: %s", file.pk, code)
    return file


def _discard_after_commit(file: File) -> None:
    """Once the transaction commits, delete what storage holds for ``file``.

    A rejected or deleted file counts nowhere, so it must hold nothing: its object, and
    the parts of a multipart upload it never completed. Clears ``multipart_upload_id``
    on the instance (the caller saves or deletes it).
    """
    backend = get_upload_backend()
    key, upload_id = file.key, file.multipart_upload_id
    file.multipart_upload_id = ""

    def discard() -> None:
        if upload_id:
            backend.multipart_abort(key=key, upload_id=upload_id)
        backend.delete(key)

    transaction.on_commit(discard)


# ---- the review workflow's transitions ------------------------------------------------


def _transition(
    *,
    file_id: uuid.UUID | str,
    allowed_from: frozenset[str],
    to: FileStatus,
    event: str,
    reason: tuple[str, str] | None = None,
) -> File:
    """Move a file to ``to``; a repeat of the same move is a no-op (steps are retried)."""
    with transaction.atomic():
        file = File.objects.select_for_update().get(pk=file_get_any(file_id=file_id).pk)
        if file.status == to:
            return file
        if file.status not in allowed_from:
            raise FileStateConflict(
                f"A {file.status} file cannot become {to}.",
                detail={"status": file.status, "to": str(to)},
            )
        file.status = to
        if reason is not None:
            file.reason_code, file.reason_message = reason
        if to == FileStatus.REJECTED:
            _discard_after_commit(file)
        file.save()
        publish(event, event_detail(file))
    return file


def file_mark_awaiting_approval(*, file_id: uuid.UUID | str) -> File:
    return _transition(
        file_id=file_id,
        allowed_from=frozenset({FileStatus.ACCEPTED}),
        to=FileStatus.AWAITING_APPROVAL,
        event=events.FILE_AWAITING_APPROVAL,
    )


def file_approve(*, file_id: uuid.UUID | str) -> File:
    """The review's approval: after an operator's, or directly when none was needed."""
    return _transition(
        file_id=file_id,
        allowed_from=frozenset({FileStatus.ACCEPTED, FileStatus.AWAITING_APPROVAL}),
        to=FileStatus.APPROVED,
        event=events.FILE_APPROVED,
    )


def file_reject(*, file_id: uuid.UUID | str, reason: str) -> File:
    """The reviewer's rejection (reason code ``review_rejected``, ``reason`` as message)."""
    return _transition(
        file_id=file_id,
        allowed_from=frozenset({FileStatus.ACCEPTED, FileStatus.AWAITING_APPROVAL}),
        to=FileStatus.REJECTED,
        event=events.FILE_REJECTED,
        reason=("review_rejected", reason),
    )


def file_fail(*, file_id: uuid.UUID | str, reason: str) -> File:
    """The review workflow failed; the file stays visible to operators with the reason."""
    return _transition(
        file_id=file_id,
        allowed_from=frozenset(
            {FileStatus.UPLOADED, FileStatus.ACCEPTED, FileStatus.AWAITING_APPROVAL}
        ),
        to=FileStatus.FAILED,
        event=events.FILE_FAILED,
        reason=("workflow_failed", reason),
    )


# ---- deletion, downloads, clean-up ------------------------------------------------------


def file_delete(*, user: Any, file_id: uuid.UUID | str) -> None:
    """Delete one of the user's files and, after commit, its stored bytes."""
    file = file_get(user=user, file_id=file_id)
    file_delete_any(file=file)


def file_delete_any(*, file: File) -> None:
    """Delete any owner's file (an operator's deletion, an expired upload).

    Publishes ``files.FileDeleted`` and, after commit, aborts an unfinished multipart
    upload and deletes the stored object.
    """
    with transaction.atomic():
        detail = event_detail(file, status="deleted")
        _discard_after_commit(file)
        file.delete()
        publish(events.FILE_DELETED, detail)


def file_download_url(*, user: Any, file_id: uuid.UUID | str) -> str:
    """A short-lived URL for one of the user's files, once its review approved it."""
    file = file_get(user=user, file_id=file_id)
    if not file.is_downloadable:
        raise FileNotDownloadable(
            "The file cannot be downloaded in its current state.", detail={"status": file.status}
        )
    return get_upload_backend().download_url(
        key=file.key, filename=file.name, content_type=file.declared_type
    )


def file_uploads_expire(*, now: datetime | None = None, grace: timedelta | None = None) -> int:
    """Remove pending files whose upload expired (aborting multipart uploads); returns how many.

    Then discards multipart uploads older than any upload may live (orphaned parts no
    file record claims), so storage holds no bytes that count nowhere.
    """
    cutoff = (now or timezone.now()) - (grace or timedelta(hours=1))
    count = 0
    for file in File.objects.filter(status=FileStatus.PENDING, upload_expires_at__lt=cutoff):
        logger.info("Removing abandoned upload %s", file.pk)
        file_delete_any(file=file)
        count += 1
    backend = get_upload_backend()
    lifetime = timedelta(seconds=int(backend.options["multipart_expires_in"]))
    orphans = backend.multipart_sweep(started_before=cutoff - lifetime)
    if orphans:
        logger.info("Discarded %d orphaned multipart upload(s)", orphans)
    return count
