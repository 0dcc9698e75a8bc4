"""Request-scoped middleware: correlation ids and the API's single error shape."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse

from project.errors import error_response
from project.logging import bind

logger = logging.getLogger("nimbus.request")

_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
}


#: Exceptions Django itself turns into a 4xx (ninja's ``/api/`` home raises Http404).
_CLIENT_ERRORS = (Http404, PermissionDenied, SuspiciousOperation, BadRequest)


def request_id_for(request: HttpRequest) -> str:
    """API Gateway's request id when running on Lambda, else the caller's or a new one."""
    event = request.META.get("lambda.event") or request.META.get("API_GATEWAY_EVENT")
    if isinstance(event, dict):
        rid = (event.get("requestContext") or {}).get("requestId")
        if rid:
            return str(rid)
    header = request.headers.get("X-Request-Id", "")
    if header and len(header) <= 128 and header.replace("-", "").isalnum():
        return header
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds the request id to every log line and echoes it in ``X-Request-Id``.

    Under ``/api/`` it also guarantees the error shape: any error response that is not
    already JSON (Django's 404 page, a 405 from a view, an unhandled exception) becomes
    ``{"error": {"code", "message", "detail"}}``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id_for(request)
        request.request_id = rid  # type: ignore[attr-defined]
        with bind(request_id=rid):
            response = self.get_response(request)
            if request.path.startswith("/api/") and response.status_code >= 400:
                response = self._as_api_error(response)
        response["X-Request-Id"] = rid
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith("/api/") or isinstance(exception, _CLIENT_ERRORS):
            return None  # Django answers these with their 4xx; __call__ gives it the shape
        logger.exception("Unhandled error in %s %s", request.method, request.path)
        return error_response("internal_error", "Something went wrong on our side.", 500)

    @staticmethod
    def _as_api_error(response: HttpResponse) -> HttpResponse:
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        status = response.status_code
        code = _STATUS_CODES.get(status, "error" if status < 500 else "internal_error")
        message = {
            404: "No such endpoint.",
            405: "Method not allowed for this endpoint.",
        }.get(status, response.reason_phrase)
        new = error_response(code, message, status)
        if status == 405 and response.has_header("Allow"):
            new["Allow"] = response["Allow"]
        return new
