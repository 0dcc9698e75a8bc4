"""Running what arrives from AWS: SQS records (events or tasks), direct events, schedules.

Queue names follow the registry's convention: ``nimbus-<stage>-<group>`` carries the
EventBridge events routed to receiver group ``<group>``; ``nimbus-<stage>-tasks`` carries
Django Tasks (see :mod:`apps.events.backends.tasks_sqs`). Any record whose body is a task
message is run as a task whichever queue it came from.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.events import registry
from apps.events.delivery import receiver_run
from apps.events.envelope import EventEnvelope
from apps.events.exceptions import MalformedEventError
from project.logging import bind

logger = logging.getLogger("nimbus.events.inbound")


class ReceiversFailedError(RuntimeError):
    """At least one receiver of an event raised; the others' effects are committed."""


def queue_group(queue_arn: str) -> str | None:
    """``arn:aws:sqs:...:nimbus-dev-files`` -> ``files`` (None for other queues)."""
    name = queue_arn.rsplit(":", 1)[-1]
    prefix = f"nimbus-{registry.aws_name(settings.NIMBUS_STAGE)}-"
    return name[len(prefix) :] if name.startswith(prefix) else None


def sqs_record_process(*, record: Mapping[str, Any]) -> str:
    """Run one SQS record; raise if it must be retried (or dead-lettered by SQS)."""
    try:
        body = json.loads(record["body"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEventError(f"SQS record body is not JSON: {exc}") from exc
    if isinstance(body, Mapping) and "nimbus_task" in body:
        return task_message_run(message=body["nimbus_task"])
    group = queue_group(str(record.get("eventSourceARN", "")))
    if group is None:
        raise MalformedEventError(
            f"SQS record from {record.get('eventSourceARN')!r}, not a queue of this stage."
        )
    envelope = EventEnvelope.from_eventbridge(body)
    return event_dispatch(envelope=envelope, group=group)


def event_dispatch(*, envelope: EventEnvelope, group: str | None) -> str:
    """Run every receiver (of ``group``, or all) matching the event, each exactly once.

    An event no receiver matches is refused (it would otherwise vanish): the rules and the
    code disagree, which an operator must see in the DLQ.
    """
    with bind(event_id=envelope.id, detail_type=envelope.detail_type):
        chosen = [
            r
            for r in registry.receivers_for(envelope.as_dict())
            if group is None or registry.aws_name(r.group) == group
        ]
        if not chosen:
            raise MalformedEventError(
                f"No receiver{f' in group {group!r}' if group else ''} matches "
                f"{envelope.detail_type!r} from {envelope.source!r}."
            )
        failed = []
        for r in chosen:
            try:
                receiver_run(receiver=r, envelope=envelope)
            except Exception:
                logger.exception("Receiver %s failed", r.name)
                failed.append(r.name)
        if failed:
            raise ReceiversFailedError(f"Receivers failed: {', '.join(failed)}")
        return "ok"


def task_message_run(*, message: Any) -> str:
    """Run a task message sent by the SQS tasks backend."""
    from django.tasks import task_backends
    from django.utils.module_loading import import_string

    from apps.events.backends import tasks_sqs

    if not isinstance(message, Mapping) or not isinstance(message.get("func"), str):
        raise MalformedEventError("Task message lacks its function path.")
    run_after = message.get("run_after")
    if run_after and datetime.fromisoformat(run_after) > timezone.now():
        backend = task_backends[message.get("backend") or "default"]
        if not isinstance(backend, tasks_sqs.SQSTaskBackend):
            raise MalformedEventError("A deferred task message reached a non-SQS backend.")
        backend.send({"nimbus_task": dict(message)}, run_after=datetime.fromisoformat(run_after))
        return "deferred"
    try:
        task = import_string(message["func"])
    except ImportError as exc:
        raise MalformedEventError(f"Unknown task {message['func']!r}.") from exc
    args, kwargs = message.get("args") or [], message.get("kwargs") or {}
    enqueued = tasks_sqs.track_enqueues()
    try:
        with bind(task_id=message.get("id"), task=message["func"]):
            task.call(*args, **kwargs)
    except Exception:
        if message["func"] in enqueued:
            # project.tasks.background() re-enqueued a retry with backoff: this copy is done.
            return "retrying"
        raise
    finally:
        tasks_sqs.stop_tracking()
    return "ok"


def schedule_run(*, rule_arn: str) -> str:
    """Run the ``@scheduled`` job an EventBridge schedule rule names."""
    rule_name = rule_arn.rsplit("/", 1)[-1]
    job = registry.schedule_for_rule(rule_name)
    if job is None:
        raise MalformedEventError(f"No scheduled job for rule {rule_name!r}.")
    with bind(schedule=job.name):
        job.func()
    return job.name
