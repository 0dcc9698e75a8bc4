"""One reader for request bodies, used by the API, the throttles and every endpoint.

:class:`BodyGuardMiddleware` runs before anything reads a body. It refuses

* a body over the path's cap (``settings.NIMBUS_BODY_LIMITS``: ``(path prefix, bytes)``
  pairs, first match wins; ``None`` leaves the cap to the endpoint) with 413
  ``request_too_large``, read from ``Content-Length`` before a byte is read;
* under ``/api/`` (whose bodies are JSON whatever the ``Content-Type`` says, as
  django-ninja parses them; form-labelled ones are left to the endpoint), a body that is not UTF-8 JSON, nests deeper than
  ``NIMBUS_JSON_MAX_DEPTH`` (checked on the raw text before parsing, so nothing recurses
  on it) with 400 ``request_malformed``; ``NaN``/``Infinity`` or a number that overflows
  (``1e999``) with 422 ``number_not_finite``; an integer outside 64 bits with 422
  ``number_out_of_range``.

:func:`json_body` returns the parsed body, parsed once per request: ninja's parser
(``project.api``), the throttles' account key (``project.throttling``) and views that read
JSON themselves all see the same value. Refusals answer in the API's error shape under
``/api/`` and as a short page elsewhere.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from project.errors import (
    InvalidInput,
    NimbusError,
    RequestMalformed,
    RequestTooLarge,
    nimbus_error_response,
)

logger = logging.getLogger("nimbus.request")

KIB = 1024
DEFAULT_BODY_LIMITS: list[tuple[str, int | None]] = [
    # The local stand-ins for S3 enforce each upload's signed policy themselves.
    ("/files/storage/", None),
    # Step Functions caps a task's output at 256 KiB; a callback carries one.
    ("/api/workflows/callbacks/", 256 * KIB),
    ("/admin/", 2 * 1024 * KIB),
    ("/", 64 * KIB),
]
DEFAULT_JSON_MAX_DEPTH = 32
INT64 = 2**63 - 1

#: Paths whose tail is a credential: logged as the prefix only.
_SECRET_PATHS = ("/api/workflows/callbacks/", "/files/storage/")
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_MISSING = object()
#: Bodies the guard leaves to the endpoint: an operation without body parameters ignores
#: them (Django's test client and browsers send an empty form), one with them refuses
#: what is not JSON (ninja's 400), and json_body still reads JSON sent under these labels.
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def body_limit(path: str) -> int | None:
    """The most bytes a request to ``path`` may carry (None: the endpoint decides)."""
    limits = getattr(settings, "NIMBUS_BODY_LIMITS", DEFAULT_BODY_LIMITS)
    for prefix, limit in limits:
        if path.startswith(prefix):
            return None if limit is None else int(limit)
    return None


def _declared_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        raise RequestMalformed("Content-Length is not a number.") from None


def _raw(request: HttpRequest) -> bytes:
    try:
        return request.body
    except RequestDataTooBig:
        raise RequestTooLarge(
            "The request body is too large.",
            detail={"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
        ) from None


def _depth_check(raw: bytes, max_depth: int) -> None:
    depth = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b'""', raw)):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > max_depth:
            raise RequestMalformed(
                f"The JSON body nests deeper than {max_depth} levels.",
                detail={"max_depth": max_depth},
            )


def _not_finite(value: str) -> float:
    raise InvalidInput(
        "Numbers must be finite (no NaN or Infinity).",
        code="number_not_finite",
        detail={"value": value[:32]},
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        _not_finite(text)
    return value


def _int64(text: str) -> int:
    value = int(text)  # Python refuses more than 4300 digits itself (ValueError)
    if not -INT64 - 1 <= value <= INT64:
        raise InvalidInput(
            "Integers must fit in 64 bits.",
            code="number_out_of_range",
            detail={"min": -INT64 - 1, "max": INT64},
        )
    return value


def json_parse(raw: bytes, *, max_depth: int | None = None) -> Any:
    """Parse ``raw`` as JSON under the limits above (``RequestMalformed``/``InvalidInput``)."""
    if max_depth is None:
        max_depth = int(getattr(settings, "NIMBUS_JSON_MAX_DEPTH", DEFAULT_JSON_MAX_DEPTH))
    _depth_check(raw, max_depth)
    try:
        text = raw.decode("utf-8")
        return json.loads(
            text, parse_constant=_not_finite, parse_float=_finite_float, parse_int=_int64
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RequestMalformed("The request body is not valid JSON.") from None


def json_body(request: HttpRequest) -> Any:
    """The request's JSON body (``None`` when empty), parsed once per request."""
    cached = getattr(request, "_nimbus_json", _MISSING)
    if cached is _MISSING:
        raw = _raw(request)
        cached = json_parse(raw) if raw.strip() else None
        request._nimbus_json = cached  # type: ignore[attr-defined]
    return cached


def _refusal(request: HttpRequest, exc: NimbusError) -> HttpResponse:
    path = request.path
    shown = next((p + "…" for p in _SECRET_PATHS if path.startswith(p)), path)
    logger.warning("Refused the body of %s %s: %s", request.method, shown, exc.code)
    if path.startswith("/api/"):
        response: HttpResponse = nimbus_error_response(exc)
    else:
        response = HttpResponse(
            f"{exc.message}\n", status=exc.status, content_type="text/plain; charset=utf-8"
        )
    # Django's request logger would write the path, which may hold a credential.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


class BodyGuardMiddleware:
    """Refuses bodies over the path's cap, and malformed JSON under ``/api/``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            self._check(request)
        except NimbusError as exc:
            return _refusal(request, exc)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return _refusal(request, RequestTooLarge("The request body is too large."))
        return None

    @staticmethod
    def _check(request: HttpRequest) -> None:
        limit = body_limit(request.path)
        length = _declared_length(request)
        if limit is not None and "CONTENT_LENGTH" not in request.META:
            # A chunked body under ASGI (daphne): Django has it in memory already, up to
            # DATA_UPLOAD_MAX_MEMORY_SIZE; under WSGI it reads as empty.
            length = len(_raw(request))
        if limit is not None and length > limit:
            raise RequestTooLarge(
                f"The request body is over {limit} bytes.", detail={"max_bytes": limit}
            )
        if request.path.startswith("/api/") and length and request.content_type not in _FORMS:
            json_body(request)
