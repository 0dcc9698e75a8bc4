"""Project-level views: the health check and the landing page."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

logger = logging.getLogger("nimbus.health")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers; 503 (with the failing check named) when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.error("Health check: database unavailable: %s", exc)
        return JsonResponse({"status": "unavailable", "checks": {"database": "error"}}, status=503)
    return JsonResponse(
        {"status": "ok", "stage": settings.NIMBUS_STAGE, "checks": {"database": "ok"}}
    )


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")
