"""Rate limits on the endpoints worth abusing, enforced before any view runs.

``settings.NIMBUS_THROTTLES`` lists rules; each names the requests it covers (methods and
exact paths, API and page alike) and its limits as ``(hits, seconds)`` per client address,
per account (the ``email`` of the body, read by the parser the endpoint itself uses:
:func:`project.requestbody.json_body` under ``/api/`` whatever the ``Content-Type``, the
form elsewhere) and per caller (the session's user,
or the bearer token). Every covered request counts as a hit (project.ratelimit, on the
shared cache, in sliding windows); over a limit the answer is 429 with ``Retry-After`` and the API's error shape,
and a ``RateLimited`` metric is recorded. Sign-in limits live in apps.users (they count
failures only).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from project import telemetry
from project.errors import NimbusError, RateLimited, nimbus_error_response
from project.ratelimit import Limit, in_words, ratelimit_hit
from project.requestbody import json_body

logger = logging.getLogger("nimbus.throttling")

DEFAULT_THROTTLES: list[dict[str, Any]] = [
    {
        "scope": "signup",
        "methods": ["POST"],
        "paths": ["/api/auth/signup", "/accounts/signup/"],
        "per_ip": (20, 3600),
        "per_account": (5, 3600),
    },
    {
        "scope": "confirm",
        "methods": ["POST"],
        "paths": ["/api/auth/confirm", "/api/auth/resend", "/accounts/confirm/"],
        "per_ip": (60, 900),
        "per_account": (10, 900),  # a 6-digit code is not guessable in 10 tries
    },
    {
        "scope": "password-forgot",
        "methods": ["POST"],
        "paths": ["/api/auth/password/forgot", "/accounts/password/forgot/"],
        "per_ip": (50, 300),
        "per_account": (10, 300),  # each one emails a code to the account's address
    },
    {
        "scope": "password-reset",
        "methods": ["POST"],
        "paths": ["/api/auth/password/reset", "/accounts/password/reset/"],
        "per_ip": (60, 900),
        "per_account": (10, 900),
    },
    {
        "scope": "signin-link",
        "methods": ["POST"],
        "paths": ["/accounts/signin/link/"],
        "per_ip": (10, 3600),
        "per_account": (3, 3600),  # each one emails a link to the account's address
    },
    {
        "scope": "upload-start",
        "methods": ["POST"],
        "paths": ["/api/files/uploads"],
        "per_ip": (300, 60),
        "per_caller": (60, 60),
    },
]


def _rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = getattr(settings, "NIMBUS_THROTTLES", DEFAULT_THROTTLES)
    return rules


def _account(request: HttpRequest) -> str:
    if request.path.startswith("/api/"):
        try:
            body = json_body(request)
        except NimbusError:  # the endpoint refuses it too (BodyGuardMiddleware)
            return ""
        email = body.get("email", "") if isinstance(body, dict) else ""
    else:
        email = request.POST.get("email", "")
    return str(email).strip().lower()[:254]


def _caller(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    header = request.headers.get("Authorization", "")
    if header:
        return "token:" + hashlib.sha256(header.encode()).hexdigest()
    return ""


def _keys(rule: dict[str, Any], request: HttpRequest) -> Iterator[tuple[Limit, str]]:
    scope = rule["scope"]
    sources: dict[str, Callable[[HttpRequest], str]] = {
        "per_ip": lambda r: str(r.META.get("REMOTE_ADDR", "")),
        "per_account": _account,
        "per_caller": _caller,
    }
    for kind, source in sources.items():
        if kind in rule and (key := source(request)):
            hits, window = rule[kind]
            yield Limit(scope=f"{scope}-{kind}", limit=int(hits), window=int(window)), key


class ThrottleMiddleware:
    """Counts covered requests and answers 429 past a limit (after AuthenticationMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for rule in _rules():
            if request.method in rule["methods"] and request.path in rule["paths"]:
                try:
                    for limit, key in _keys(rule, request):
                        ratelimit_hit(limit=limit, key=key)
                except RateLimited as exc:
                    return self._refuse(request, rule["scope"], exc)
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest, scope: str, exc: RateLimited) -> HttpResponse:
        telemetry.metric(telemetry.RATE_LIMITED, scope=scope)
        logger.warning("Rate limited %s %s (%s)", request.method, request.path, exc.detail["scope"])
        if request.path.startswith("/api/"):
            return nimbus_error_response(exc)
        return rate_limited_page(request, exc)


def rate_limited_page(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    """The page people see for a 429: what happened and when to try again (``Retry-After``)."""
    from datetime import timedelta

    from django.shortcuts import render
    from django.utils import timezone

    retry_after = int(exc.detail.get("retry_after", 60))
    context = {
        "message": exc.message,
        "retry_in": in_words(retry_after),
        "retry_at": timezone.now() + timedelta(seconds=retry_after),
        "back": request.path,
    }
    response = render(request, "errors/429.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response
