"""The outbox, local deliveries and the inbox that makes receivers' effects exactly once."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone

from apps.events.envelope import EventEnvelope


class Event(models.Model):
    """One published event: written in the publisher's transaction (the outbox).

    ``state`` is ``pending`` until the configured bus accepted it (local bus: deliveries
    created; AWS: ``PutEvents`` succeeded for it). The sweeper republishes pending rows.
    """

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        PUBLISHED = "published", "published"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    detail_type = models.CharField(max_length=128, db_index=True)
    source = models.CharField(max_length=128)
    detail = models.JSONField()
    time = models.DateTimeField(default=timezone.now, db_index=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    published_at = models.DateTimeField(null=True, blank=True)
    publish_attempts = models.PositiveIntegerField(default=0)
    last_publish_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-time"]
        indexes = [models.Index(fields=["state", "time"], name="events_outbox_pending")]

    def __str__(self) -> str:
        return f"{self.detail_type} {self.id}"

    def as_eventbridge(self) -> dict[str, Any]:
        """The event as EventBridge delivers it to targets (what patterns match against)."""
        return EventEnvelope.from_event(self).as_dict()


class Delivery(models.Model):
    """One event to one receiver on the local bus: claimed under a lease, retried, dead."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        DEAD = "dead", "dead"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    receiver = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "receiver"], name="events_delivery_once")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="events_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.receiver} <- {self.event_id} ({self.status})"


class DeadLetter(Delivery):
    """Proxy for the admin's dead-letter list."""

    class Meta:
        proxy = True
        verbose_name = "dead letter"


class Inbox(models.Model):
    """``(event id, receiver)`` pairs whose effects committed: the exactly-once guard.

    The row is inserted in the same transaction as the receiver's effects; a second
    delivery of the same event hits the unique constraint and is acknowledged unrun.
    ``event_id`` is not a foreign key: events from AWS services have no outbox row.
    """

    event_id = models.CharField(max_length=64)
    receiver = models.CharField(max_length=64)
    processed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "inbox"
        constraints = [
            models.UniqueConstraint(fields=["event_id", "receiver"], name="events_inbox_once")
        ]

    def __str__(self) -> str:
        return f"{self.receiver} processed {self.event_id}"
