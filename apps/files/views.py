"""The files pages: the list with the uploader, and one file's details."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.files import selectors
from apps.files.backends import get_upload_backend
from apps.files.exceptions import FileNotFound


@require_GET
@login_required
def file_list_page(request: HttpRequest) -> HttpResponse:
    backend = get_upload_backend()
    return render(
        request,
        "files/list.html",
        {
            "files": selectors.file_list(user=request.user)[:200],
            "allowed_types": sorted(backend.allowed_types),
            "max_bytes": backend.options["multipart_max_bytes"],
        },
    )


@require_GET
@login_required
def file_detail_page(request: HttpRequest, file_id: uuid.UUID) -> HttpResponse:
    try:
        file = selectors.file_get(user=request.user, file_id=file_id)
    except FileNotFound as e:
        raise Http404("No such file.") from e
    return render(request, "files/detail.html", {"file": file})
