"""The local backend's stand-in for S3: signed upload, part and download endpoints.

These views are what the browser talks to when ``NIMBUS_UPLOADS`` selects the local
backend; on AWS the same requests go to S3. They answer like S3 does (204 on a stored
POST, an ``ETag`` header on a part) but report refusals in Nimbus's JSON error shape.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django.core import signing
from django.core.files import File as DjangoFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db import IntegrityError, transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.files import exceptions as exc
from apps.files.backends.base import MIN_PART_BYTES, UploadedPart
from apps.files.backends.local import (
    DOWNLOAD_SALT,
    PART_SALT,
    PARTS_PREFIX,
    UPLOAD_SALT,
    LocalUploadBackend,
    open_marker,
    part_name,
    parts_dir,
)
from apps.files.bus import object_created
from apps.files.models import UploadClaim
from project.errors import NimbusError, error_response

logger = logging.getLogger("nimbus.files.local")

#: Room for the form's other fields and boundaries on top of the file itself.
FORM_OVERHEAD = 64 * 1024
COPY_CHUNK = 1024 * 1024


def local_storage_only(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """These endpoints exist only while the local backend is selected (404 on AWS)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        from apps.files.backends import get_upload_backend

        if not isinstance(get_upload_backend(), LocalUploadBackend):
            raise Http404("Uploads go to S3.")
        return view(request, *args, **kwargs)

    return wrapper


def _refusal(error: NimbusError) -> HttpResponse:
    logger.info("Local storage refused a request: %s", error.code)
    return error_response(error.code, error.message, error.status, error.detail)


def _load(token: str, salt: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = signing.loads(token, salt=salt)
    except signing.BadSignature as e:
        raise exc.UploadSignatureInvalid("The upload URL's signature is not valid.") from e
    if int(data["exp"]) < time.time():
        raise exc.UploadExpired("The upload URL has expired; start the upload again.")
    return data


@csrf_exempt
@require_POST
@local_storage_only
def upload(request: HttpRequest, token: str) -> HttpResponse:
    """S3's presigned POST: a form with ``key``, ``Content-Type`` and ``file`` (last)."""
    try:
        policy = _load(token, UPLOAD_SALT)
        # The body can never exceed Content-Length, so this bounds what we read at all.
        if int(request.META.get("CONTENT_LENGTH") or 0) > policy["max"] + FORM_OVERHEAD:
            raise exc.UploadTooLarge(
                "The file is larger than this upload allows.", detail={"max_bytes": policy["max"]}
            )
        request.upload_handlers = [TemporaryFileUploadHandler(request)]
        upload = _checked_form(request, policy)
        _store(policy, upload)
    except NimbusError as error:
        return _refusal(error)
    return HttpResponse(status=204)


def _checked_form(request: HttpRequest, policy: dict[str, Any]) -> UploadedFile:
    if request.POST.get("key") != policy["key"]:
        raise exc.UploadKeyMismatch("The form's key is not the one this URL was issued for.")
    if request.POST.get("Content-Type") != policy["type"]:
        raise exc.UploadTypeMismatch(
            "The form's Content-Type is not the one this URL was issued for."
        )
    upload = request.FILES.get("file")
    if upload is None:
        raise exc.UploadMissingFile("The form has no file field.")
    if upload.size is None or upload.size < max(1, policy["min"]):
        raise exc.UploadEmpty("The file is empty.")
    if upload.size > policy["max"]:
        raise exc.UploadTooLarge(
            "The file is larger than this upload allows.", detail={"max_bytes": policy["max"]}
        )
    return upload


def _store(policy: dict[str, Any], upload: UploadedFile) -> None:
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


@csrf_exempt
@require_http_methods(["PUT"])
@local_storage_only
def upload_part(request: HttpRequest, token: str) -> HttpResponse:
    """S3's presigned ``UploadPart``: the raw part as the body; answers with its ETag."""
    try:
        data = _load(token, PART_SALT)
        local_id = LocalUploadBackend._local_id(data["key"], data["upload_id"])
        _refuse_closed(local_id)
        size = int(request.META.get("CONTENT_LENGTH") or 0)
        if size < 1:
            raise exc.UploadEmpty("The part is empty.")
        if size > int(data["max"]):
            raise exc.UploadTooLarge("The part is larger than the upload allows.")
        if data.get("size") is not None and size != int(data["size"]):
            raise exc.UploadSizeMismatch(
                f"This part must be exactly {data['size']} bytes.",
                detail={"size": int(data["size"])},
            )
        etag = _save_part(request, local_id, int(data["part"]), size)
    except signing.BadSignature:
        return _refusal(exc.UploadSignatureInvalid("The part URL's signature is not valid."))
    except NimbusError as error:
        return _refusal(error)
    response = HttpResponse(status=200)
    response["ETag"] = f'"{etag}"'
    return response


def _refuse_closed(local_id: str) -> None:
    if not default_storage.exists(open_marker(local_id)):
        raise exc.UploadClosed("This upload was completed or abandoned; start a new one.")


def _save_part(request: HttpRequest, local_id: str, part_number: int, size: int) -> str:
    """Store one part of an open upload; returns its MD5.

    The upload must be open before the part is written and still open after: a
    completion or abort that ran meanwhile (and so did not see this part) makes the part
    delete itself, so no part outlives its upload.
    """
    _refuse_closed(local_id)
    name = part_name(local_id, part_number)
    digest = hashlib.md5(usedforsecurity=False)
    with tempfile.TemporaryFile() as tmp:
        remaining = size
        while remaining > 0:
            chunk = request.read(min(COPY_CHUNK, remaining))
            if not chunk:
                break
            digest.update(chunk)
            tmp.write(chunk)
            remaining -= len(chunk)
        if remaining:
            raise exc.UploadPartInvalid("The connection ended before the whole part arrived.")
        tmp.seek(0)
        # S3 replaces a part uploaded again under the same number (a retried part).
        _refuse_closed(local_id)
        if default_storage.exists(name):
            default_storage.delete(name)
        default_storage.save(name, DjangoFile(tmp))
    try:
        _refuse_closed(local_id)
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
    from apps.files.backends.local import md5_of

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
    and removes its own part (:func:`_save_part`).
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


@require_GET
@local_storage_only
def download(request: HttpRequest, token: str) -> HttpResponseBase:
    """S3's presigned GET: a short-lived signed link, served only while downloadable."""
    from apps.files.selectors import file_get_downloadable_by_key

    try:
        try:
            data: dict[str, Any] = signing.loads(token, salt=DOWNLOAD_SALT)
        except signing.BadSignature as e:
            raise exc.DownloadLinkInvalid("The download link is not valid.") from e
        if int(data["exp"]) < time.time():
            raise exc.DownloadLinkExpired("The download link has expired.")
        file = file_get_downloadable_by_key(key=data["key"], any_status=bool(data.get("operator")))
    except NimbusError as error:
        return _refusal(error)
    response = FileResponse(
        _chunks(default_storage.open(file.key, "rb")), content_type=data["type"]
    )
    response["Content-Disposition"] = content_disposition_header(True, data["name"]) or ""
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _chunks(handle: Any) -> Iterator[bytes]:
    try:
        yield from handle.chunks()
    finally:
        handle.close()
