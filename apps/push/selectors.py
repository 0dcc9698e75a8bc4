"""Reads of the push app."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.push.exceptions import NotificationNotFound
from apps.push.models import Notification

#: Most notifications returned by one catch-up or list call.
PAGE_SIZE = 100


def notifications_after(
    *, user_id: int, after: int = 0, unread: bool | None = None, limit: int = PAGE_SIZE
) -> list[Notification]:
    """The user's notifications with an id above ``after``, oldest first, at most ``limit``."""
    qs: QuerySet[Notification] = Notification.objects.filter(user_id=user_id, id__gt=after)
    if unread is not None:
        qs = qs.filter(read=not unread)
    return list(qs.order_by("id")[: max(1, min(limit, PAGE_SIZE))])


def notification_get(*, user_id: int, notification_id: int) -> Notification:
    """One of the user's notifications; another user's is reported as not found."""
    try:
        return Notification.objects.get(user_id=user_id, id=notification_id)
    except Notification.DoesNotExist:
        raise NotificationNotFound(
            "No such notification.", detail={"notification_id": notification_id}
        ) from None


def notification_unread_count(*, user_id: int) -> int:
    return Notification.objects.filter(user_id=user_id, read=False).count()


def notification_last_id(*, user_id: int) -> int:
    last = (
        Notification.objects.filter(user_id=user_id).order_by("-id").values_list("id", flat=True)
    ).first()
    return int(last or 0)
