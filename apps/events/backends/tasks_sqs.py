"""A Django Tasks backend for AWS: ``task.enqueue()`` sends an SQS message.

The tasks queue feeds the same Lambda function; :func:`apps.events.entry.handle_sqs`
recognises these records (body ``{"nimbus_task": {...}}``) and runs the task. Settings::

    TASKS = {"default": {"BACKEND": "apps.events.backends.tasks_sqs.SQSTaskBackend",
                         "QUEUES": ["default", "events", "workflows"],
                         "OPTIONS": {"queue_url": "https://sqs.../nimbus-prod-tasks"}}}

``run_after`` becomes ``DelaySeconds`` (SQS allows 15 minutes); a later time is carried in
the message and the handler sends it back with the remaining delay until it is due.
Results are not stored (``supports_get_result`` is False), as with Django's immediate
backend; failures are logged and, unless the task re-enqueued itself for a retry (see
``project.tasks.background``), reported to SQS so the message reaches the tasks DLQ.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import Task, TaskResult, TaskResultStatus
from django.tasks.signals import task_enqueued
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.json import normalize_json

from project.aws import aws_client

MAX_DELAY_SECONDS = 900
#: Enqueues made on this thread while a task runs (:func:`track_enqueues`).
_local = threading.local()


class SQSTaskBackend(BaseTaskBackend):
    supports_defer = True
    supports_priority = True
    supports_get_result = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        options = dict(params.get("OPTIONS", {}))
        unknown = set(options) - {"queue_url", "region_name", "endpoint_url"}
        if unknown or not options.get("queue_url"):
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"SQSTaskBackend needs OPTIONS queue_url (and optionally region_name, "
                f"endpoint_url); got {sorted(options)}."
            )
        self.queue_url: str = options["queue_url"]
        self.region_name: str | None = options.get("region_name")
        self.endpoint_url: str | None = options.get("endpoint_url")

    @property
    def client(self) -> Any:
        return aws_client("sqs", region_name=self.region_name, endpoint_url=self.endpoint_url)

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        result: TaskResult = TaskResult(
            task=task,
            id=get_random_string(32),
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        body = {
            "nimbus_task": {
                "id": result.id,
                "func": task.module_path,
                "args": normalize_json(args),
                "kwargs": normalize_json(kwargs),
                "queue_name": task.queue_name,
                "priority": task.priority,
                "backend": self.alias,
                "run_after": task.run_after.isoformat() if task.run_after else None,
            }
        }
        self.send(body, run_after=task.run_after)
        _note_enqueued(task.module_path)
        task_enqueued.send(type(self), task_result=result)
        return result

    def send(self, body: dict[str, Any], *, run_after: datetime | None) -> None:
        delay = 0
        if run_after is not None:
            delay = max(
                0, min(MAX_DELAY_SECONDS, int((run_after - timezone.now()).total_seconds()))
            )
        self.client.send_message(
            QueueUrl=self.queue_url, MessageBody=json.dumps(body), DelaySeconds=delay
        )


def _note_enqueued(func_path: str) -> None:
    """Remember enqueues made while a task runs (a retry re-enqueues the same task)."""
    seen = getattr(_local, "enqueued", None)
    if seen is not None:
        seen.append(func_path)


def track_enqueues() -> list[str]:
    """Start recording enqueues on this thread; returns the list being filled."""
    _local.enqueued = []
    return _local.enqueued


def stop_tracking() -> None:
    _local.enqueued = None
