"""Template context: the signed-in user's unread notification count (for the nav badge)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def notifications(request: HttpRequest) -> dict[str, Any]:
    """``unread_notifications``: evaluated only when a template uses it."""

    def count() -> int:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return 0
        from apps.push.selectors import notification_unread_count

        return notification_unread_count(user_id=user.pk)

    return {"unread_notifications": SimpleLazyObject(count)}
