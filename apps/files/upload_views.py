"""The local backend's stand-in for S3: signed upload, part and download endpoints.

These views are what the browser talks to when ``NIMBUS_UPLOADS`` selects the local
backend; on AWS the same requests go to S3. They answer like S3 does (204 on a stored
POST, an ``ETag`` header on a part) but report refusals in Nimbus's JSON error shape.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.core import signing
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.files import exceptions as exc
from apps.files.backends.local import (
    DOWNLOAD_SALT,
    PART_SALT,
    UPLOAD_SALT,
    LocalUploadBackend,
    local_upload_id,
    object_store,
    part_refuse_closed,
    part_save,
)
from project.errors import NimbusError, error_response

logger = logging.getLogger("nimbus.files.local")

#: Room for the form's other fields and boundaries on top of the file itself.
FORM_OVERHEAD = 64 * 1024


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
        object_store(policy, upload)
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


@csrf_exempt
@require_http_methods(["PUT"])
@local_storage_only
def upload_part(request: HttpRequest, token: str) -> HttpResponse:
    """S3's presigned ``UploadPart``: the raw part as the body; answers with its ETag."""
    try:
        data = _load(token, PART_SALT)
        local_id = local_upload_id(data["key"], data["upload_id"])
        part_refuse_closed(local_id)
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
        etag = part_save(local_id, int(data["part"]), size, request.read)
    except signing.BadSignature:
        return _refusal(exc.UploadSignatureInvalid("The part URL's signature is not valid."))
    except NimbusError as error:
        return _refusal(error)
    response = HttpResponse(status=200)
    response["ETag"] = f'"{etag}"'
    return response


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
