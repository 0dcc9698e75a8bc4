"""Template context for the live-updates client and the nav's unread badge.

* ``unread_notifications`` — the signed-in user's unread count;
* ``push_live`` — ``after`` (the user's last notification id when the page was rendered,
  where the client's catch-up starts), ``url`` (the WebSocket URL; empty means the same
  origin's ``/ws/``) and ``ticket_url`` (set when the socket is API Gateway's, which the
  session cookie does not reach).

Both are lazy: no query runs unless a template uses them.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return int(user.pk)


def notifications(request: HttpRequest) -> dict[str, Any]:
    def count() -> int:
        from apps.push.selectors import notification_unread_count

        user_id = _user_id(request)
        return 0 if user_id is None else notification_unread_count(user_id=user_id)

    def live() -> dict[str, Any]:
        from apps.push.backends import push_backend
        from apps.push.backends.aws import ApiGatewayPushBackend
        from apps.push.selectors import notification_last_id

        user_id = _user_id(request)
        backend = push_backend()
        url = ticket_url = ""
        if isinstance(backend, ApiGatewayPushBackend):
            url = backend.websocket_url
            ticket_url = "/api/notifications/ticket"
        return {
            "after": 0 if user_id is None else notification_last_id(user_id=user_id),
            "url": url,
            "ticket_url": ticket_url,
        }

    return {"unread_notifications": SimpleLazyObject(count), "push_live": SimpleLazyObject(live)}
