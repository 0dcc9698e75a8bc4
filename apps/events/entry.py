"""Lambda glue for the event kinds the events app owns (``NIMBUS_LAMBDA_ROUTES``).

* ``handle_sqs``: a batch from a receiver group's queue or the tasks queue. Returns
  ``{"batchItemFailures": [...]}`` naming exactly the records that failed, so SQS retries
  only those (the event source mapping has ``ReportBatchItemFailures``); a malformed record
  fails alone, with its reason logged, and reaches the DLQ after ``maxReceiveCount``.
* ``handle_eventbridge``: an event a rule sent straight to the function; every matching
  receiver runs; an exception makes Lambda's async retry / on-failure destination take it.
* ``handle_schedule``: the "Scheduled Event" of a schedule rule; ``resources[0]`` is the
  rule ARN, which names the ``@scheduled`` job.
"""

from __future__ import annotations

import logging
from typing import Any

from project.logging import bind

logger = logging.getLogger("nimbus.events.entry")


def handle_sqs(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from apps.events.inbound import sqs_record_process

    failures = []
    for record in event.get("Records") or []:
        message_id = record.get("messageId") if isinstance(record, dict) else None
        with bind(sqs_message_id=message_id):
            try:
                if not isinstance(record, dict) or not message_id:
                    raise ValueError("SQS record without a messageId")
                sqs_record_process(record=record)
            except Exception as exc:
                logger.exception("SQS record failed: %s", exc)
                if message_id:
                    failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def handle_eventbridge(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from apps.events.envelope import EventEnvelope
    from apps.events.inbound import event_dispatch

    envelope = EventEnvelope.from_eventbridge(event)
    return {"event_id": envelope.id, "status": event_dispatch(envelope=envelope, group=None)}


def handle_schedule(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from apps.events.exceptions import MalformedEventError
    from apps.events.inbound import schedule_run

    resources = event.get("resources") or []
    if not resources or not isinstance(resources[0], str):
        raise MalformedEventError("Scheduled Event without the rule ARN in resources.")
    return {"job": schedule_run(rule_arn=resources[0])}
