"""Authentication for the JSON API: ``auth=api_auth`` on a router or an operation.

Two ways in, tried in order:

* ``Authorization: Bearer <access token>`` — verified by the identity provider's token
  verifier (signature against its JWKS, RS256, ``iss``, ``exp``, ``token_use=access``,
  ``client_id``); the account must exist here, be active and not signed out since the
  token was issued. A present but bad token is a 401 with a specific code
  (``token_expired``, ``token_key_unknown``, ...) and never falls back to the session.
* the Django session cookie, with CSRF enforced for unsafe methods (a 403
  ``csrf_failed`` otherwise), as Django's own views do.

Neither creates a user or a session. Without either, the API answers 401
``not_authenticated``. The signed-in user is ``request.auth`` and ``request.user``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from apps.users.models import User
from project import telemetry
from project.errors import PermissionDenied

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class AuthenticatedRequest(HttpRequest):
    """The request of an endpoint behind ``api_auth``: ``auth`` is the signed-in account.

    Annotate such an endpoint's ``request`` with it (types only: ninja passes the
    ``HttpRequest`` it has, which ``api_auth`` gave an ``auth``).
    """

    auth: User


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


class BearerAuth(HttpBearer):
    """``Authorization: Bearer <access token>`` from the identity provider."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from apps.users.services import user_from_access_token

        try:
            user = user_from_access_token(token=token)
        except Exception as error:
            telemetry.metric(telemetry.AUTH_FAILURES, reason=getattr(error, "code", "bad_token"))
            raise
        request.user = user
        telemetry.annotate(user_id=user.pk)
        return user


class SessionAuth(APIKeyCookie):
    """The Django session, CSRF-checked for unsafe methods."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=False)  # checked below, only for unsafe methods

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        unsafe = request.method not in _SAFE_METHODS
        exempt = getattr(request, "_ninja_csrf_exempt", False)
        if unsafe and not exempt and check_csrf(request) is not None:
            raise CsrfFailed("CSRF check failed: send the csrftoken as X-CSRFToken.")
        return user


bearer_auth = BearerAuth()
session_auth = SessionAuth()

#: Use as ``Router(auth=api_auth)`` or ``@router.get(..., auth=api_auth)``.
api_auth = [bearer_auth, session_auth]
