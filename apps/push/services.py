"""Writes of the push app: tell users things, live and (optionally) durably.

Frames on the wire are JSON objects with a string ``type``:

* a live message as given, e.g. ``{"type": "file.status", "file_id": 7, "status": ...}``;
* a stored notification: the message plus ``"notification": {id, kind, title, body, read,
  created_at}`` — replaying it (catch-up) re-applies the update;
* ``{"type": "ref", "notification_id": n}`` when a notification's frame is over the
  128 KB WebSocket limit: the client fetches ``GET /api/notifications/<n>``;
* ``{"type": "catch_up.done", "last_id": n, "more": bool}`` after a catch-up batch;
* ``{"type": "session.ended"}``, the last frame before the server closes a connection
  whose user signed out everywhere (or was disabled, deleted, or changed the password).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.push.backends import push_backend
from apps.push.backends.base import SESSION_ENDED, encode_frame
from apps.push.exceptions import InvalidMessage, MessageTooLarge, UnknownGroup, UnknownRecipient
from apps.push.models import Inbox, Notification
from apps.push.selectors import PAGE_SIZE, notifications_after

logger = logging.getLogger("nimbus.push")

#: How long the local relay's rows are kept (they are relayed within a second).
LIVE_MESSAGE_TTL = timedelta(seconds=60)


def push_to_user(
    *,
    user_id: int,
    message: dict[str, Any],
    notify: bool = False,
    title: str | None = None,
    body: str | None = None,
) -> Notification | None:
    """Send ``message`` to every open connection of the user once the transaction commits.

    With ``notify=True`` the message is also stored as a :class:`Notification` in the
    caller's transaction (so it is caught up after a disconnect, and counted as unread)
    and returned. A live-only message over the size limit raises :class:`MessageTooLarge`
    now; a stored one is announced by reference instead.
    """
    _validate(message)
    notification = None
    if notify:
        notification = notification_create(user_id=user_id, message=message, title=title, body=body)
        frame = notification_wire_frame(notification)
    else:
        frame = message
        _check_size(frame)
    _send_on_commit([user_id], frame)
    return notification


def push_to_group(*, group: str, message: dict[str, Any]) -> int:
    """Send a live ``message`` to every active member of the auth group, after commit.

    Returns how many users it is addressed to; an unknown group raises
    :class:`UnknownGroup`.
    """
    from django.contrib.auth.models import Group

    _validate(message)
    _check_size(message)
    if not Group.objects.filter(name=group).exists():
        raise UnknownGroup(f"No group named {group!r}.", detail={"group": group})
    user_ids = list(
        get_user_model()
        .objects.filter(groups__name=group, is_active=True)
        .values_list("pk", flat=True)
    )
    _send_on_commit(user_ids, message)
    return len(user_ids)


def connections_close(*, user_id: int) -> None:
    """Close every open connection of the user once the transaction commits (each gets a
    last ``{"type": "session.ended"}`` frame); the users app calls it through
    ``sessions_ended`` when the account signs out everywhere, is disabled or deleted, or
    its password changes."""
    transaction.on_commit(partial(_close, [int(user_id)]), robust=True)


def notification_create(
    *, user_id: int, message: dict[str, Any], title: str | None = None, body: str | None = None
) -> Notification:
    """Store a notification for the user (no live push; see :func:`push_to_user`).

    Raises :class:`UnknownRecipient` for a user id that names nobody (checked now: the
    foreign key would only fail at commit on PostgreSQL, taking the caller's work with it).
    """
    _validate(message)
    if not get_user_model().objects.filter(pk=user_id).exists():
        raise UnknownRecipient("No such user.", detail={"user_id": user_id})
    with transaction.atomic():
        # Lock the user's inbox so their notification ids commit in increasing order.
        inbox, _ = Inbox.objects.select_for_update().get_or_create(user_id=user_id)
        notification = Notification.objects.create(
            user_id=user_id,
            kind=message["type"][:100],
            title=(title or message["type"])[:200],
            body=body or "",
            payload=message,
        )
        inbox.last_notification_id = notification.pk
        inbox.save(update_fields=["last_notification_id"])
    return notification


def notification_frame(notification: Notification) -> dict[str, Any]:
    """The full frame of a stored notification (the message plus its metadata)."""
    return {
        **notification.payload,
        "notification": {
            "id": notification.pk,
            "kind": notification.kind,
            "title": notification.title,
            "body": notification.body,
            "read": notification.read,
            "created_at": notification.created_at.isoformat(),
        },
    }


def notification_wire_frame(notification: Notification) -> dict[str, Any]:
    """The frame to send for a notification: in full, or a reference if it is too large."""
    frame = notification_frame(notification)
    if len(encode_frame(frame)) > push_backend().max_message_bytes:
        return {"type": "ref", "notification_id": notification.pk}
    return frame


def notifications_catch_up(*, user_id: int, after: int) -> list[dict[str, Any]]:
    """Frames for everything after ``after``, ending with a ``catch_up.done`` frame.

    At most one page per call; ``more`` tells the client to ask again from ``last_id``.
    """
    batch = notifications_after(user_id=user_id, after=max(0, after), limit=PAGE_SIZE)
    frames = [notification_wire_frame(n) for n in batch]
    last_id = batch[-1].pk if batch else max(0, after)
    frames.append({"type": "catch_up.done", "last_id": last_id, "more": len(batch) == PAGE_SIZE})
    return frames


def notifications_mark_read(
    *, user_id: int, ids: Sequence[int] | None = None, up_to: int | None = None
) -> int:
    """Mark the user's notifications read (given ids, all up to an id, or all); returns count.

    Other users' ids are ignored. The user's open pages get ``{"type": "notifications.read",
    "unread": n}`` so their badges follow.
    """
    qs = Notification.objects.filter(user_id=user_id, read=False)
    if ids is not None:
        qs = qs.filter(id__in=list(ids))
    if up_to is not None:
        qs = qs.filter(id__lte=up_to)
    count = qs.update(read=True, read_at=timezone.now())
    if count:
        unread = Notification.objects.filter(user_id=user_id, read=False).count()
        _send_on_commit([user_id], {"type": "notifications.read", "unread": unread})
    return count


def live_messages_prune(*, older_than: timedelta = LIVE_MESSAGE_TTL) -> int:
    """Delete relayed live messages older than ``older_than``; returns how many."""
    from apps.push.models import LiveMessage

    deleted, _ = LiveMessage.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


def notifications_prune(*, batch: int = 1000) -> int:
    """Delete notifications older than ``NIMBUS_NOTIFICATION_RETENTION_DAYS``.

    In batches of ``batch`` rows, each its own short transaction, so pruning a backlog
    never holds a long lock on the table users' pages read. A client catching up from an
    id that was pruned simply receives what is left after it. Returns how many went.
    """
    from django.conf import settings

    from apps.push.models import Notification

    cutoff = timezone.now() - timedelta(days=settings.NIMBUS_NOTIFICATION_RETENTION_DAYS)
    old = Notification.objects.filter(created_at__lt=cutoff)
    total = 0
    while ids := list(old.values_list("id", flat=True)[:batch]):
        deleted, _ = Notification.objects.filter(id__in=ids).delete()
        total += deleted
    if total:
        logger.info("Pruned %d notification(s) older than the retention", total)
    return total


# -- helpers ------------------------------------------------------------------------------


def _validate(message: Any) -> None:
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise InvalidMessage("A pushed message must be a JSON object with a string 'type'.")
    if not message["type"] or message["type"] in {"ref", "catch_up.done", "error", SESSION_ENDED}:
        raise InvalidMessage(f"Message type {message['type']!r} is reserved.")
    if "notification" in message:
        raise InvalidMessage("The key 'notification' is reserved for stored notifications.")
    try:
        encode_frame(message)
    except (TypeError, ValueError) as exc:
        raise InvalidMessage(f"The message is not JSON-serialisable: {exc}") from exc


def _check_size(frame: dict[str, Any]) -> None:
    size = len(encode_frame(frame))
    limit = push_backend().max_message_bytes
    if size > limit:
        raise MessageTooLarge(
            f"The message is {size} bytes; live messages are limited to {limit} bytes. "
            "Send it with notify=True to deliver it by reference.",
            detail={"size": size, "limit": limit},
        )


def _send_on_commit(user_ids: Sequence[int], frame: dict[str, Any]) -> None:
    if user_ids:
        transaction.on_commit(partial(_deliver, list(user_ids), frame), robust=True)


def _deliver(user_ids: list[int], frame: dict[str, Any]) -> None:
    push_backend().send(user_ids=user_ids, frame=frame)


def _close(user_ids: list[int]) -> None:
    push_backend().close(user_ids=user_ids)
