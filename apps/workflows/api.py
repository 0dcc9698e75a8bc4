"""JSON API of the workflows app: the callback endpoint for external systems.

``POST /api/workflows/callbacks/<token>`` with ``{"outcome": "success", "output": {...}}``
or ``{"outcome": "failure", "error": "...", "cause": "..."}``. The signed token is the only
credential (like a Step Functions task token); it is single use and expires.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status

from apps.workflows import services

router = Router(tags=["workflows"])


class CallbackIn(Schema):
    outcome: Literal["success", "failure"]
    output: Any = None
    error: str | None = None
    cause: str | None = None


class CallbackOut(Schema):
    status: str
    state: str


@router.post(
    "/callbacks/{token}",
    response={202: CallbackOut},
    summary="Resolve a waiting workflow task",
    auth=None,
)
def callback(request: HttpRequest, token: str, payload: CallbackIn) -> Status:
    """Report the outcome of a task a workflow is waiting on (single use, expiring)."""
    task = services.callback_resolve(
        signed_token=token,
        outcome=payload.outcome,
        output=payload.output,
        error=payload.error,
        cause=payload.cause,
    )
    return Status(202, CallbackOut(status="accepted", state=task.state_name))


@router.post(
    "/callbacks/{token}/heartbeat",
    response={202: CallbackOut},
    summary="Tell a waiting workflow task the work is still going on",
    auth=None,
)
def heartbeat(request: HttpRequest, token: str) -> Status:
    services.callback_heartbeat(signed_token=token)
    return Status(202, CallbackOut(status="accepted", state=""))
