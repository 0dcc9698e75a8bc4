"""Views that fail on purpose, for the error-page tests (tests/project/test_error_pages.py)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("an unhandled failure")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("malformed")


urlpatterns: list[URLPattern | URLResolver] = [
    path("broken/", boom),
    path("forbidden/", forbidden),
    path("suspicious/", suspicious),
    path("api/broken/", boom),
    path("", include("project.urls")),
]
