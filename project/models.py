"""Operations records: local metric samples and the audit trail of operator actions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class MetricSample(models.Model):
    """One metric data point recorded by the local telemetry backend.

    On AWS the same points go to CloudWatch as EMF log lines instead; locally they are kept
    here (pruned after ``NIMBUS_METRICS_RETENTION_HOURS``) for the operator metrics page.
    """

    name = models.CharField(max_length=100)
    value = models.FloatField()
    unit = models.CharField(max_length=32)
    dimensions = models.JSONField(default=dict, blank=True)
    recorded_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["name", "recorded_at"])]
        ordering = ["-recorded_at"]

    def __str__(self) -> str:
        return f"{self.name}={self.value:g} {self.unit}"


class AuditEntry(models.Model):
    """Who did what to which object, and when: one operator action.

    Written by the admin site itself (project/admin.py) and by operations run outside it
    (``manage.py operators``), never edited or deleted through the admin.
    """

    class Action(models.TextChoices):
        ADDITION = "add", "added"
        CHANGE = "change", "changed"
        DELETION = "delete", "deleted"
        ACTION = "action", "ran action"
        SIGN_IN = "sign_in", "signed in"
        SIGN_IN_FAILED = "sign_in_failed", "failed to sign in"
        SIGN_OUT = "sign_out", "signed out"
        DENIED = "denied", "was denied"
        OPERATOR_GRANT = "operator_grant", "made an operator of"
        OPERATOR_REVOKE = "operator_revoke", "took operator rights from"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: Kept when the actor's account is later deleted.
    actor_repr = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        target = f" {self.target_type} {self.target_repr}" if self.target_type else ""
        return f"{self.actor_repr or 'someone'} {self.get_action_display()}{target}"

    def as_log(self) -> dict[str, Any]:
        return {
            "audit_action": self.action,
            "actor": self.actor_repr,
            "target_type": self.target_type,
            "target_id": self.target_id,
        }


class WorkerLease(models.Model):
    """A running local worker (``manage.py worker``), alive while its lease is renewed.

    The worker renews it every third of ``NIMBUS_TASK_LEASE["lease_seconds"]`` and drops
    it when it stops. Task rows left ``RUNNING`` by a worker whose lease lapsed (it was
    killed) are recovered by :func:`project.tasks.tasks_recover`.
    """

    worker_id = models.CharField(max_length=64, primary_key=True)
    lease_expires_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"worker {self.worker_id} ({self.hostname}:{self.pid})"
