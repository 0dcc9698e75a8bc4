"""API Gateway WebSocket routes, reached through the Lambda entry (NIMBUS_LAMBDA_ROUTES).

* ``$connect``: the connect ticket (``?ticket=``) or access token (``?token=``) is verified; the connection is registered
  for its user (any non-2xx answer makes API Gateway refuse the connection);
* ``$disconnect``: the connection is forgotten;
* ``$default``: client frames — ``{"type": "catch_up", "after": <id>}`` is answered with
  the stored notifications after that id (through ``post_to_connection``), ``ping`` with
  ``pong``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from apps.push.backends import push_backend
from apps.push.backends.aws import ApiGatewayPushBackend

logger = logging.getLogger("nimbus.push")


def handle_websocket(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve one WebSocket route event; always returns ``{"statusCode": ...}``."""
    request = event.get("requestContext") or {}
    connection_id = request.get("connectionId")
    event_type = request.get("eventType")
    if not isinstance(connection_id, str) or not connection_id:
        raise ValueError("WebSocket event without a connectionId.")
    backend = _backend()
    if event_type == "CONNECT":
        query = event.get("queryStringParameters") or {}
        return _connect(backend, connection_id, query.get("token") or "", query.get("ticket") or "")
    if event_type == "DISCONNECT":
        backend.connection_close(connection_id=connection_id)
        return {"statusCode": 200}
    if event_type == "MESSAGE":
        return _message(backend, connection_id, event.get("body"))
    raise ValueError(f"Unknown WebSocket event type {event_type!r}.")


def _backend() -> ApiGatewayPushBackend:
    backend = push_backend()
    if not isinstance(backend, ApiGatewayPushBackend):
        raise ImproperlyConfigured(
            "WebSocket events reached the Lambda but NIMBUS_PUSH does not select "
            "apps.push.backends.aws.ApiGatewayPushBackend."
        )
    return backend


def _connect(
    backend: ApiGatewayPushBackend, connection_id: str, token: str, ticket: str
) -> dict[str, Any]:
    from apps.push.auth import principal_for_credentials, still_signed_in

    principal = principal_for_credentials(token=token, ticket=ticket)
    if principal is None:
        return {"statusCode": 401, "body": "not_authenticated"}
    backend.connection_open(connection_id=connection_id, user_id=principal.user_id)
    if not still_signed_in(principal):
        # Signed out between the check and the registration: nothing closed this one.
        backend.connection_close(connection_id=connection_id)
        return {"statusCode": 401, "body": "not_authenticated"}
    return {"statusCode": 200}


def _message(backend: ApiGatewayPushBackend, connection_id: str, body: Any) -> dict[str, Any]:
    from apps.push.services import notifications_catch_up

    user_id = backend.connection_user(connection_id=connection_id)
    if user_id is None:
        return {"statusCode": 403, "body": "unknown_connection"}
    try:
        content = json.loads(body or "")
    except ValueError:
        content = None
    kind = content.get("type") if isinstance(content, dict) else None
    if kind == "catch_up":
        after = content.get("after", 0) if isinstance(content, dict) else 0
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            frames = [_error("invalid_input", "'after' must be a non-negative integer.")]
        else:
            frames = notifications_catch_up(user_id=user_id, after=after)
    elif kind == "ping":
        frames = [{"type": "pong"}]
    else:
        frames = [_error("unknown_type", "Expected a 'catch_up' or 'ping' frame.")]
    for frame in frames:
        if not backend.send_to_connection(connection_id=connection_id, frame=frame):
            break
    return {"statusCode": 200}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
