"""JSON API of the workflows app: the callback endpoint for external systems.

``POST /api/workflows/callbacks/<token>`` with ``{"outcome": "success", "output": {...}}``
or ``{"outcome": "failure", "error": "...", "cause": "..."}``. The signed token is the only
credential (like a Step Functions task token); it is single use and expires.

The token is part of the path, and Django logs the path of every 4xx response: these
views render their own errors, mark them as logged, and log a fingerprint instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router, Schema
from pydantic import ValidationError

from apps.workflows import services
from apps.workflows.exceptions import CallbackPayloadInvalid
from project.errors import NimbusError, error_response
from project.requestbody import json_body

router = Router(tags=["workflows"])
logger = logging.getLogger("nimbus.workflows")


class CallbackIn(Schema):
    outcome: Literal["success", "failure"]
    output: Any = None
    error: str | None = None
    cause: str | None = None


class CallbackOut(Schema):
    status: str
    state: str


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _refused(token: str, exc: NimbusError) -> HttpResponse:
    response = error_response(exc.code, exc.message, exc.status, exc.detail)
    # Django's request logger skips responses marked as logged (the path holds the token).
    response._has_been_logged = True  # type: ignore[attr-defined]
    logger.warning("Workflow callback %s refused: %s", _fingerprint(token), exc.code)
    return response


def _crashed(token: str) -> HttpResponse:
    logger.exception("Workflow callback %s failed", _fingerprint(token))
    response = error_response("internal_error", "Something went wrong on our side.", 500)
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _payload(request: HttpRequest) -> CallbackIn:
    try:
        body = json_body(request)  # BodyGuardMiddleware refused what it cannot parse
        return CallbackIn.model_validate({} if body is None else body)
    except (ValueError, ValidationError) as exc:
        errors = exc.errors() if isinstance(exc, ValidationError) else [{"msg": str(exc)}]
        raise CallbackPayloadInvalid(
            "The callback body did not validate.",
            detail={"errors": json.loads(json.dumps(errors, default=str))},
        ) from None


@router.post(
    "/callbacks/{token}",
    response={202: CallbackOut},
    summary="Resolve a waiting workflow task",
    auth=None,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CallbackIn.model_json_schema()}},
        }
    },
)
def callback(request: HttpRequest, token: str) -> HttpResponse:
    """Report the outcome of a task a workflow is waiting on (single use, expiring)."""
    try:
        payload = _payload(request)
        task = services.callback_resolve(
            signed_token=token,
            outcome=payload.outcome,
            output=payload.output,
            error=payload.error,
            cause=payload.cause,
        )
    except NimbusError as exc:
        return _refused(token, exc)
    except Exception:
        return _crashed(token)
    return JsonResponse({"status": "accepted", "state": task.state_name}, status=202)


@router.post(
    "/callbacks/{token}/heartbeat",
    response={202: CallbackOut},
    summary="Tell a waiting workflow task the work is still going on",
    auth=None,
)
def heartbeat(request: HttpRequest, token: str) -> HttpResponse:
    try:
        services.callback_heartbeat(signed_token=token)
    except NimbusError as exc:
        return _refused(token, exc)
    except Exception:
        return _crashed(token)
    return JsonResponse({"status": "accepted", "state": ""}, status=202)
