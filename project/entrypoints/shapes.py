"""Recognise what kind of AWS event reached the Lambda function, by its shape.

This module (with the rest of ``project.entrypoints``) is the only code in Nimbus that
reads raw AWS event dicts. Order matters and follows what each service sends.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    HTTP_V2 = "http_v2"  # API Gateway HTTP API (payload 2.0)
    HTTP_V1 = "http_v1"  # API Gateway REST API proxy / ALB
    WEBSOCKET = "websocket"  # API Gateway WebSocket API route
    SCHEDULE = "schedule"  # EventBridge scheduled rule
    EVENTBRIDGE = "eventbridge"  # EventBridge event (custom or AWS service)
    WORKFLOW_STEP = "workflow_step"  # Step Functions Task invoking a @step
    SQS = "sqs"  # SQS batch (event source mapping)
    DYNAMODB_STREAM = "dynamodb_stream"
    COGNITO_TRIGGER = "cognito_trigger"
    MANAGE = "manage"  # `zappa manage <stage> "<command>"`
    COMMAND = "command"  # `zappa invoke <stage> <dotted.function>`
    RAW_COMMAND = "raw_command"  # `zappa invoke --raw`: always refused


class UnknownEventError(ValueError):
    """The event has a shape Nimbus does not handle; it must not be dropped silently."""


def classify(event: Any) -> EventKind:
    if not isinstance(event, dict):
        raise UnknownEventError(f"Lambda event is a {type(event).__name__}, not an object.")
    request_context = event.get("requestContext")
    if "raw_command" in event:
        return EventKind.RAW_COMMAND
    if (
        event.get("version") == "2.0"
        and isinstance(request_context, dict)
        and "http" in request_context
    ):
        return EventKind.HTTP_V2
    if "httpMethod" in event:
        return EventKind.HTTP_V1
    if isinstance(request_context, dict) and request_context.get("eventType") in {
        "CONNECT",
        "MESSAGE",
        "DISCONNECT",
    }:
        return EventKind.WEBSOCKET
    if "workflow_step" in event:
        return EventKind.WORKFLOW_STEP
    if "detail-type" in event and "source" in event:
        if event.get("detail-type") == "Scheduled Event" and event.get("source") == "aws.events":
            return EventKind.SCHEDULE
        return EventKind.EVENTBRIDGE
    if "manage" in event:
        return EventKind.MANAGE
    if "command" in event:
        return EventKind.COMMAND
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        source = records[0].get("eventSource") or records[0].get("EventSource")
        if source == "aws:sqs":
            return EventKind.SQS
        if source == "aws:dynamodb":
            return EventKind.DYNAMODB_STREAM
        raise UnknownEventError(f"Records from {source!r} are not handled by Nimbus.")
    if "triggerSource" in event and "userPoolId" in event:
        return EventKind.COGNITO_TRIGGER
    keys = ", ".join(sorted(map(str, event))[:10])
    raise UnknownEventError(f"Unrecognised Lambda event shape (keys: {keys}).")
