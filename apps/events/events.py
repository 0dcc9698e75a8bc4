"""Event types from AWS services that Nimbus publishes locally in the same shape.

``Object Created`` is what S3 sends to EventBridge when an object lands in a bucket with
EventBridge notifications on; the local upload endpoint publishes the same event
(``source="aws.s3"``) so receivers are written once for both places.
"""

from __future__ import annotations

from apps.events.registry import declare_event

S3_OBJECT_CREATED = declare_event(
    "Object Created",
    source="aws.s3",
    description="An object was written to a bucket (S3 -> EventBridge notification).",
    schema={
        "type": "object",
        "required": ["bucket", "object"],
        "properties": {
            "version": {"type": "string"},
            "bucket": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string", "minLength": 1}},
            },
            "object": {
                "type": "object",
                "required": ["key", "size"],
                "properties": {
                    "key": {"type": "string", "minLength": 1},
                    "size": {"type": "integer", "minimum": 0},
                    "etag": {"type": "string"},
                    "version-id": {"type": "string"},
                    "sequencer": {"type": "string"},
                },
            },
            "request-id": {"type": "string"},
            "requester": {"type": "string"},
            "source-ip-address": {"type": "string"},
            "reason": {"type": "string"},
        },
    },
)
