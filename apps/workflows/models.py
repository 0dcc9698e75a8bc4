"""Durable state of workflow executions: the execution, its history, its task tokens."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models

from project.fields import EncryptedTextField


class Execution(models.Model):
    """One run of a workflow. ``name`` is unique per workflow, so a start is idempotent."""

    class Status(models.TextChoices):
        RUNNING = "RUNNING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"
        TIMED_OUT = "TIMED_OUT"
        ABORTED = "ABORTED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.CharField(max_length=80, db_index=True)
    name = models.CharField(max_length=80)
    backend = models.CharField(max_length=20, default="local")
    #: The Step Functions execution ARN (AWS backend), or a local ARN-shaped id.
    arn = models.CharField(max_length=256, blank=True, db_index=True)
    status = models.CharField(max_length=12, choices=Status, default=Status.RUNNING)
    input = models.JSONField(default=dict)
    output = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=256, blank=True)
    cause = models.TextField(blank=True)
    #: The interpreter's run snapshot (local backend): current states, phases, waits.
    run = models.JSONField(default=dict, blank=True)
    #: When a Wait, a retry interval or a timeout is due (None: nothing scheduled).
    wake_at = models.DateTimeField(null=True, blank=True, db_index=True)
    #: A driver holds the execution until this time while it advances it.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=40, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    #: Step Functions' ``redriveCount``: which attempt ``status`` describes (AWS backend).
    #: A status report about an earlier attempt is stale and changes nothing.
    redrive_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "name"], name="workflows_execution_name")
        ]
        indexes = [models.Index(fields=["status", "wake_at"])]

    def __str__(self) -> str:
        return f"{self.workflow}/{self.name}"

    @property
    def is_running(self) -> bool:
        return self.status == self.Status.RUNNING


class HistoryEvent(models.Model):
    """One entry of an execution's history, named as Step Functions names it."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=40)
    state_name = models.CharField(max_length=80, blank=True)
    timestamp = models.DateTimeField()
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["execution", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "seq"], name="workflows_event_seq")
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type} {self.state_name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.seq,
            "type": self.type,
            "state": self.state_name,
            "timestamp": self.timestamp,
            **self.details,
        }


class TaskToken(models.Model):
    """A task waiting for a callback. Only the SHA-256 of the token is stored in clear."""

    token_hash = models.CharField(max_length=64, unique=True)
    #: The token itself, encrypted at rest with the site's keyring (KMS on AWS, with key
    #: rotation), so an operator can resolve a Step Functions task from the admin; never shown.
    sealed = EncryptedTextField(blank=True)
    execution = models.ForeignKey(
        Execution, on_delete=models.CASCADE, related_name="tokens", null=True, blank=True
    )
    state_name = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)
    #: ``{"output": ...}`` or ``{"error": ..., "cause": ...}`` once resolved.
    outcome = models.JSONField(null=True, blank=True)
    #: True once the local driver has handed the outcome to the interpreter.
    applied = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.execution} {self.state_name} {self.token_hash[:12]}…"
