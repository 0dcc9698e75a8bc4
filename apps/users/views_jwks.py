"""The local identity provider's public keys, where Cognito serves a pool's."""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from apps.users.backends import identity
from apps.users.backends.local import LocalIdentityBackend


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """``GET /identity/.well-known/jwks.json`` (404 unless the local provider is configured)."""
    backend = identity()
    if not isinstance(backend, LocalIdentityBackend):
        raise Http404("The local identity provider is not in use.")
    response = JsonResponse(backend.jwks_document())
    response["Cache-Control"] = "public, max-age=3600"
    return response
