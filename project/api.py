"""The JSON API at ``/api/``: one NinjaAPI with a router per app and one error shape.

OpenAPI at ``/api/openapi.json``, interactive docs at ``/api/docs``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.docs import _csrf_needed
from ninja.parser import Parser
from ninja.types import DictStrAny

from project.errors import NimbusError, RequestTooLarge, error_response, nimbus_error_response
from project.requestbody import json_body

logger = logging.getLogger("nimbus.api")


class BodyParser(Parser):
    """Bodies come from :func:`project.requestbody.json_body`, which the throttles read too
    (BodyGuardMiddleware has refused the ones it cannot parse before any view runs)."""

    def parse_body(self, request: HttpRequest) -> DictStrAny:
        body: DictStrAny = json_body(request)
        return body


class OfflineSwagger(Swagger):
    """django-ninja's Swagger UI page from the site's own static files.

    ninja serves its bundled assets only when it is an installed app (which would import
    it, and pydantic, at every cold start); otherwise its page loads Swagger UI from a CDN,
    which SECURE_CSP blocks. ``templates/ninja/swagger.html`` names the assets that
    ``STATICFILES_DIRS`` collects under ``ninja/``.
    """

    template = "ninja/swagger.html"

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {
            "swagger_settings": json.dumps(self.settings),
            "api": api,
            "add_csrf": _csrf_needed(api),
        }
        return render(request, self.template, context)


api = NinjaAPI(
    title="Nimbus API",
    docs=OfflineSwagger(),
    version="1.0",
    description="Files, events, workflows and notifications of a Nimbus site.",
    urls_namespace="api",
    parser=BodyParser(),
)


@api.exception_handler(NimbusError)
def _nimbus_error(request: HttpRequest, exc: NimbusError) -> HttpResponse:
    return nimbus_error_response(exc)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(
        "invalid_input", "The request did not validate.", 422, {"errors": exc.errors}
    )


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response("not_authenticated", "Authentication required.", 401)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error_response("error", str(exc), exc.status_code)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response("not_found", str(exc) or "Not found.", 404)


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return nimbus_error_response(RequestTooLarge("The request body is too large."))


@api.exception_handler(Exception)
def _unhandled(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled API error in %s %s", request.method, request.path)
    return error_response("internal_error", "Something went wrong on our side.", 500)


@api.get("/status", tags=["status"], summary="Service status")
def status(request: HttpRequest) -> dict[str, str]:
    """The stage and API version; no database access (see ``/healthz`` for that)."""
    from django.conf import settings

    return {"status": "ok", "stage": settings.NIMBUS_STAGE, "version": api.version}


def _add_routers() -> None:
    from apps.events.api import router as events_router
    from apps.files.api import router as files_router
    from apps.push.api import router as push_router
    from apps.users.api import router as users_router
    from apps.workflows.api import router as workflows_router

    api.add_router("/", users_router)
    api.add_router("/files/", files_router)
    api.add_router("/events/", events_router)
    api.add_router("/workflows/", workflows_router)
    api.add_router("/notifications/", push_router)


_add_routers()
