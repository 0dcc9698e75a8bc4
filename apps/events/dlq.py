"""The SQS dead-letter queues on AWS: list, redrive, discard (the admin's "SQS dead letters").

Each receiver group's queue ``<prefix><group>`` has a DLQ ``<prefix><group>-dlq`` where SQS
moves a message after ``maxReceiveCount`` failed receives (a CloudWatch alarm on its depth
notifies the operators' SNS topic). ``<prefix>`` is ``settings.NIMBUS_EVENTS_QUEUE_URL_PREFIX``
(an infra stack output). Redrive sends the body back to the group's queue and deletes it
from the DLQ; discard deletes it. Locally the setting is absent and dead letters are the
``Delivery`` rows in the database instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.events import registry
from apps.events.registry import RULES_GROUP, TASKS_GROUP
from project.aws import aws_client
from project.errors import NimbusError, NotFound


class DeadLetterQueuesUnavailableError(NimbusError):
    code = "dead_letter_queues_unavailable"
    status = 409


@dataclass(frozen=True)
class DeadMessage:
    message_id: str
    receive_count: int
    sent_at: str
    body: str
    summary: str


def enabled() -> bool:
    return bool(getattr(settings, "NIMBUS_EVENTS_QUEUE_URL_PREFIX", ""))


def _client() -> Any:
    return aws_client("sqs", region_name=getattr(settings, "AWS_REGION", None))


def _urls(group: str) -> tuple[str, str]:
    if not enabled():
        raise DeadLetterQueuesUnavailableError("SQS dead-letter queues exist only on AWS.")
    if group not in groups() and group != RULES_GROUP:
        raise NotFound(f"No receiver group {group!r}.")
    prefix = getattr(settings, "NIMBUS_EVENTS_QUEUE_URL_PREFIX", "")
    source = f"{prefix}{registry.aws_name(group)}"
    return source, f"{source}-dlq"


def groups() -> list[str]:
    """Every queue that has a DLQ: one per receiver group, plus the tasks queue."""
    return sorted({r.group for r in registry.receivers.values()} | {TASKS_GROUP})


def dead_letter_counts() -> dict[str, int]:
    """Approximate number of messages in each group's DLQ."""
    counts = {}
    for group in [*groups(), RULES_GROUP]:
        _, dlq = _urls(group)
        attributes = _client().get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        counts[group] = int(attributes.get("ApproximateNumberOfMessages", 0))
    return counts


def dead_letters_peek(*, group: str, limit: int = 10) -> list[DeadMessage]:
    """Up to ``limit`` (max 10) messages of a DLQ, left in place (visible again at once)."""
    _, dlq = _urls(group)
    messages = (
        _client()
        .receive_message(
            QueueUrl=dlq,
            MaxNumberOfMessages=max(1, min(10, limit)),
            VisibilityTimeout=0,
            AttributeNames=["All"],
        )
        .get("Messages", [])
    )
    return [_describe(m) for m in messages]


def _describe(message: dict[str, Any]) -> DeadMessage:
    body = message.get("Body", "")
    try:
        parsed = json.loads(body)
    except ValueError:
        summary = "not JSON"
    else:
        if isinstance(parsed, dict) and "nimbus_task" in parsed:
            summary = f"task {parsed['nimbus_task'].get('func')}"
        elif isinstance(parsed, dict):
            summary = f"{parsed.get('detail-type')} from {parsed.get('source')}"
        else:
            summary = "not an object"
    attributes = message.get("Attributes", {})
    return DeadMessage(
        message_id=message["MessageId"],
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        sent_at=str(attributes.get("SentTimestamp", "")),
        body=body,
        summary=summary,
    )


def _take(dlq: str, message_id: str | None, limit: int) -> list[dict[str, Any]]:
    """Receive messages (all, or the one with ``message_id``), releasing the others."""
    sqs = _client()
    taken: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(taken) < limit:
        batch = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
            "Messages", []
        )
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        for m in fresh:
            seen.add(m["MessageId"])
            if message_id is None or m["MessageId"] == message_id:
                taken.append(m)
            else:
                sqs.change_message_visibility(
                    QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
        if message_id is not None and taken:
            break
    return taken


def dead_letters_redrive(*, group: str, message_id: str | None = None, limit: int = 100) -> int:
    """Send DLQ messages (all, or one) back to the group's queue; returns how many."""
    source, dlq = _urls(group)
    sqs = _client()
    moved = 0
    for m in _take(dlq, message_id, limit):
        if group == RULES_GROUP:
            _put_back_on_bus(m["Body"])
        else:
            sqs.send_message(QueueUrl=source, MessageBody=m["Body"])
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
        moved += 1
    if message_id is not None and not moved:
        raise NotFound(f"No message {message_id} in the {group} dead-letter queue.")
    return moved


def dead_letter_discard(*, group: str, message_id: str) -> None:
    """Delete one message from a group's DLQ."""
    _, dlq = _urls(group)
    taken = _take(dlq, message_id, 1)
    if not taken:
        raise NotFound(f"No message {message_id} in the {group} dead-letter queue.")
    _client().delete_message(QueueUrl=dlq, ReceiptHandle=taken[0]["ReceiptHandle"])


def _put_back_on_bus(body: str) -> None:
    """Send an event EventBridge failed to deliver back through the bus (all its rules).

    The original id rides along in ``detail._nimbus`` so receivers that already processed
    the event recognise it in their inbox.
    """
    from apps.events.backends import buses
    from apps.events.backends.aws import EventBridgeBus
    from apps.events.envelope import META_KEY, EventEnvelope

    bus = buses.default
    if not isinstance(bus, EventBridgeBus):
        raise DeadLetterQueuesUnavailableError("Redriving to the bus needs the EventBridge bus.")
    envelope = EventEnvelope.from_eventbridge(json.loads(body))
    entry = {
        "Source": envelope.source,
        "DetailType": envelope.detail_type,
        "Detail": json.dumps({**envelope.detail, META_KEY: {"event_id": envelope.id}}),
        "Resources": envelope.resources,
        "EventBusName": bus.options["bus_name"],
    }
    result = bus.client.put_events(Entries=[entry])
    if result.get("FailedEntryCount"):
        raise NimbusError(
            f"EventBridge refused the event again: {result['Entries'][0].get('ErrorCode')}",
            code="redrive_refused",
        )
