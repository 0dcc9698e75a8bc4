"""The files pages: the list with the uploader, one file's details, deleting a file."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from apps.files import selectors, services
from apps.files.backends import get_upload_backend
from apps.files.exceptions import FileNotFound
from apps.files.models import File

logger = logging.getLogger("nimbus.files")


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


@require_http_methods(["GET", "POST"])
@login_required
def file_delete_page(request: HttpRequest, file_id: uuid.UUID) -> HttpResponse:
    """GET asks the owner to confirm; POST deletes the file (any status, a stale
    "Waiting for upload" included) and its stored object, then returns to the list."""
    try:
        file = selectors.file_get(user=request.user, file_id=file_id)
    except FileNotFound as e:
        raise Http404("No such file.") from e
    if request.method == "POST":
        services.file_delete(user=request.user, file_id=file.pk)
        messages.success(request, f"Deleted {file.name}.")
        return redirect("files:list")
    return render(request, "files/delete.html", {"file": file})


@require_GET
@login_required
def file_detail_page(request: HttpRequest, file_id: uuid.UUID) -> HttpResponse:
    try:
        file = selectors.file_get(user=request.user, file_id=file_id)
    except FileNotFound as e:
        raise Http404("No such file.") from e
    return render(request, "files/detail.html", {"file": file, "review_steps": _review_steps(file)})


def _review_steps(file: File) -> list[dict[str, Any]]:
    """The states the file's review workflow has entered so far (empty before it starts)."""
    from apps.workflows.models import Execution
    from apps.workflows.registry import state_label
    from apps.workflows.services import execution_history

    execution = Execution.objects.filter(workflow="file_review", name=f"file-{file.pk}").first()
    if execution is None:
        return []
    try:
        history = execution_history(execution=execution)
    except Exception:
        # The page still works when Step Functions cannot be reached; the log says why.
        logger.exception("Review history of file %s is unavailable", file.pk)
        return []
    return [
        {
            "state": event["state"],
            "label": state_label("file_review", event["state"]),
            "timestamp": event.get("timestamp"),
        }
        for event in history
        if str(event.get("type", "")).endswith("StateEntered") and event.get("state")
    ]
