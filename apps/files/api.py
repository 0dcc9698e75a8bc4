"""JSON API of the files app, mounted at ``/api/files/``.

Every operation is scoped to the signed-in user: another user's file is a 404
(``file_not_found``), never a 403, so ids reveal nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from ninja import Field, Router, Schema, Status

from apps.files import selectors, services
from apps.files.backends.base import MultipartPlan, UploadedPart
from apps.files.models import File
from apps.users.auth import api_auth
from project.requestbody import INT64

router = Router(tags=["files"], auth=api_auth)


class UploadIn(Schema):
    name: str = Field(..., min_length=1, max_length=1024)
    content_type: str = Field(..., min_length=1, max_length=255)
    size: int = Field(..., ge=0, le=INT64, description="Bytes the client will send.")


class PartOut(Schema):
    part_number: int
    url: str


class UploadedPartOut(Schema):
    part_number: int
    etag: str
    size: int


class MultipartOut(Schema):
    upload_id: str
    part_size: int
    parts: list[PartOut]


class UploadOut(Schema):
    file_id: str
    url: str | None = None
    fields: dict[str, str] | None = None
    expires_at: datetime
    max_bytes: int
    multipart: MultipartOut | None = None


class FileOut(Schema):
    id: str
    name: str
    status: str
    status_label: str
    content_type: str
    detected_type: str
    declared_size: int
    size: int | None
    sha256: str
    reason: str
    reason_message: str
    created_at: datetime
    updated_at: datetime
    download_url: str | None = Field(
        description="Where to download the file; null until its review approved it."
    )


class ResumeOut(Schema):
    uploaded: list[UploadedPartOut]
    multipart: MultipartOut


class CompletedPartIn(Schema):
    part_number: int = Field(..., ge=1, le=10_000)
    etag: str = Field(..., min_length=1, max_length=128)


class CompleteIn(Schema):
    parts: list[CompletedPartIn] = Field(..., min_length=1, max_length=10_000)


def file_out(file: File) -> dict[str, Any]:
    return {
        "id": str(file.pk),
        "name": file.name,
        "status": file.status,
        "status_label": file.get_status_display(),
        "content_type": file.declared_type,
        "detected_type": file.detected_type,
        "declared_size": file.declared_size,
        "size": file.size,
        "sha256": file.sha256,
        "reason": file.reason_code,
        "reason_message": file.reason_message,
        "created_at": file.created_at,
        "updated_at": file.updated_at,
        "download_url": f"/api/files/{file.pk}/download" if file.is_downloadable else None,
    }


def _multipart_out(plan: MultipartPlan) -> dict[str, Any]:
    return {
        "upload_id": plan.upload_id,
        "part_size": plan.part_size,
        "parts": [{"part_number": p.part_number, "url": p.url} for p in plan.parts],
    }


@router.post("/uploads", response={201: UploadOut}, summary="Start an upload")
def upload_start(request: HttpRequest, payload: UploadIn) -> Status[dict[str, Any]]:
    """Where to send the bytes: a form POST target, or a multipart plan for large files.

    POST ``fields`` then the file (form field ``file``, last) to ``url``. For a multipart
    plan, ``PUT`` each part to its URL, keep each answer's ``ETag``, then call
    ``/complete``. The file's status moves to ``uploaded`` and then ``accepted`` or
    ``rejected`` once the storage reports the object.
    """
    started = services.file_upload_start(
        user=request.user, name=payload.name, content_type=payload.content_type, size=payload.size
    )
    file = started.file
    body: dict[str, Any] = {"file_id": str(file.pk), "expires_at": file.upload_expires_at}
    if started.plan is not None:
        body["max_bytes"] = file.declared_size
        body["multipart"] = _multipart_out(started.plan)
    else:
        assert started.target is not None
        body.update(
            url=started.target.url,
            fields=started.target.fields,
            max_bytes=started.target.max_bytes,
        )
    return Status(201, body)


@router.get("/", response=list[FileOut], summary="Your files")
def file_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [file_out(f) for f in selectors.file_list(user=request.user)[:500]]


@router.get("/{file_id}", response=FileOut, summary="One of your files")
def file_detail(request: HttpRequest, file_id: str) -> dict[str, Any]:
    return file_out(selectors.file_get(user=request.user, file_id=file_id))


@router.get("/{file_id}/download", response={302: None}, summary="Download (redirect)")
def file_download(request: HttpRequest, file_id: str) -> HttpResponse:
    """A redirect to a short-lived URL of the file (presigned on S3, signed locally).

    Only once the review approved it: any other status (a file awaiting a reviewer's
    decision included) is 409 ``file_not_downloadable``.
    """
    url = services.file_download_url(user=request.user, file_id=file_id)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    return response


@router.delete("/{file_id}", response={204: None}, summary="Delete one of your files")
def file_delete(request: HttpRequest, file_id: str) -> Status[None]:
    services.file_delete(user=request.user, file_id=file_id)
    return Status(204, None)


@router.get("/{file_id}/parts", response=ResumeOut, summary="Resume a multipart upload")
def multipart_resume(request: HttpRequest, file_id: str) -> dict[str, Any]:
    """The parts received so far and fresh URLs for the missing ones."""
    uploaded, plan = services.file_multipart_resume(user=request.user, file_id=file_id)
    return {
        "uploaded": [_uploaded_out(p) for p in uploaded],
        "multipart": _multipart_out(plan),
    }


def _uploaded_out(part: UploadedPart) -> dict[str, Any]:
    return {"part_number": part.part_number, "etag": part.etag, "size": part.size}


@router.post("/{file_id}/complete", response={202: FileOut}, summary="Finish a multipart upload")
def multipart_complete(
    request: HttpRequest, file_id: str, payload: CompleteIn
) -> Status[dict[str, Any]]:
    file = services.file_multipart_complete(
        user=request.user,
        file_id=file_id,
        parts=[(p.part_number, p.etag) for p in payload.parts],
    )
    file.refresh_from_db()
    return Status(202, file_out(file))


@router.post("/{file_id}/abort", response={204: None}, summary="Abandon a multipart upload")
def multipart_abort(request: HttpRequest, file_id: str) -> Status[None]:
    services.file_multipart_abort(user=request.user, file_id=file_id)
    return Status(204, None)
