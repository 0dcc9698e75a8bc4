"""Errors that carry a machine-readable code, an HTTP status and whether to retry.

Apps subclass :class:`NimbusError` in their own ``exceptions.py`` (also subclassing the
matching Django/stdlib type where one exists). The API renders every error as::

    {"error": {"code": "...", "message": "...", "detail": {...}}}
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import JsonResponse


class NimbusError(Exception):
    """An error a client or an operator can act on."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    #: True when the same call may succeed later (throttling, a dependency down).
    retryable: ClassVar[bool] = False

    def __init__(
        self, message: str = "", *, code: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.detail = detail or {}

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}


class NotFound(NimbusError):
    code = "not_found"
    status = 404


class PermissionDenied(NimbusError):
    code = "permission_denied"
    status = 403


class Unauthenticated(NimbusError):
    code = "not_authenticated"
    status = 401


class Conflict(NimbusError):
    code = "conflict"
    status = 409


class InvalidInput(NimbusError):
    code = "invalid_input"
    status = 422


class RequestMalformed(NimbusError):
    """A body that cannot be read as what the endpoint takes (bad JSON, too deep)."""

    code = "request_malformed"
    status = 400


class RequestTooLarge(NimbusError):
    code = "request_too_large"
    status = 413


class RateLimited(NimbusError):
    code = "rate_limited"
    status = 429
    retryable = True


def error_response(
    code: str, message: str, status: int, detail: dict[str, Any] | None = None
) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "detail": detail or {}}}, status=status
    )


def nimbus_error_response(exc: NimbusError) -> JsonResponse:
    """The API's answer to a :class:`NimbusError`; ``Retry-After`` when it says when."""
    response = error_response(exc.code, exc.message, exc.status, exc.detail)
    if (retry_after := exc.detail.get("retry_after")) is not None:
        response["Retry-After"] = str(retry_after)
    return response
