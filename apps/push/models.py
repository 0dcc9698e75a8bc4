"""Stored notifications (what a browser catches up on) and the local live-message relay."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Notification(models.Model):
    """One thing a user was told about, kept so nothing is lost across a disconnect.

    ``id`` increases and, for one user, is committed in increasing order (see
    :class:`Inbox`), so a client that saw id *n* asks for everything after *n*.
    ``payload`` is the pushed message itself; replaying it re-applies the update.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=100)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    payload = models.JSONField(default=dict)
    read = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["user", "id"], name="push_notif_user_id"),
            models.Index(fields=["user", "read"], name="push_notif_user_read"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} for user {self.user_id}"


class Inbox(models.Model):
    """One row per user, locked while a notification is added.

    Holding the lock until commit makes one user's notification ids commit in id order
    (on PostgreSQL two transactions could otherwise commit ids 10 and 9 in that order, and
    a client that had seen 10 would never ask for 9).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    last_notification_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"inbox of user {self.user_id}"


class LiveMessage(models.Model):
    """A live message waiting for the local server process to relay it to the channel layer.

    Only used by the local backend with ``relay=True``: the background worker is another
    process, so the in-memory channel layer of the server cannot be reached directly.
    Rows are deleted by the relay a minute after they are written.
    """

    user_id = models.BigIntegerField()
    frame = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"live message #{self.pk} for user {self.user_id}"


class ConnectTicketClaim(models.Model):
    """A connect ticket that has opened its one WebSocket (see :mod:`apps.push.tickets`).

    The primary key is the ticket's digest, so two Lambda containers redeeming the same
    ticket at once race on one unique row: exactly one insert commits. A table rather than
    the shared cache because a cache may evict (Django's database cache culls a third of
    its rows once it is full), and an evicted claim would let a ticket open a second
    socket. Rows outlive their ticket and are pruned by ``push.prune-ticket-claims``.
    """

    digest = models.CharField(max_length=64, primary_key=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"ticket claim {self.digest[:12]}"
