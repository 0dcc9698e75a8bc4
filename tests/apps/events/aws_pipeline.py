"""The AWS events pipeline in moto, wired from the registry as the infra stack wires it.

``AwsEventsPipeline.wire()`` creates the stage's bus, one queue per receiver group and one
rule per receiver (pattern -> group queue); ``pump()`` plays the SQS event source mapping:
it feeds every queue's messages to the Lambda entry in batches, deletes the records that
succeeded, and repeats until the queues are quiet (receivers publish further events, which
the EventBridge bus puts back on the bus after commit). Other apps' tests can use it for
end-to-end runs on the AWS backends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

from apps.events import registry

REGION = "us-east-1"


class AwsEventsPipeline:
    def __init__(self, *, stage: str = "dev", endpoint_url: str | None = None) -> None:
        self.stage = stage
        self.prefix = f"nimbus-{stage}"
        self.endpoint_url = endpoint_url
        self.events = boto3.client("events", region_name=REGION, endpoint_url=endpoint_url)
        self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint_url)
        self.queues: dict[str, tuple[str, str]] = {}  # group -> (url, arn)

    def bus_settings(self) -> dict[str, Any]:
        """``NIMBUS_EVENTS`` selecting the EventBridge bus of this pipeline."""
        return {
            "default": {
                "BACKEND": "apps.events.backends.aws.EventBridgeBus",
                "OPTIONS": {
                    "bus_name": self.prefix,
                    "region_name": REGION,
                    "endpoint_url": self.endpoint_url,
                    "retry_delay": 0.0,
                },
            }
        }

    def wire(self) -> AwsEventsPipeline:
        self.events.create_event_bus(Name=self.prefix)
        for group in sorted({r.group for r in registry.receivers.values()}):
            name = f"{self.prefix}-{registry.aws_name(group)}"
            url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            self.queues[group] = (url, arn)
        for r in registry.receivers.values():
            rule = f"{self.prefix}-{r.rule_name_suffix}"
            self.events.put_rule(
                Name=rule, EventBusName=self.prefix, EventPattern=json.dumps(r.pattern)
            )
            self.events.put_targets(
                Rule=rule,
                EventBusName=self.prefix,
                Targets=[{"Id": "queue", "Arn": self.queues[r.group][1]}],
            )
        return self

    def put_service_event(self, event: dict[str, Any]) -> None:
        """An AWS service's event (e.g. S3 Object Created) arriving on the stage's bus."""
        result = self.events.put_events(
            Entries=[
                {
                    "EventBusName": self.prefix,
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event.get("resources", []),
                }
            ]
        )
        assert result["FailedEntryCount"] == 0

    def pump(
        self, invoke: Callable[[dict[str, Any]], dict[str, Any]], *, rounds: int = 10
    ) -> list[dict[str, Any]]:
        """Deliver until no queue has messages; returns the records reported as failed."""
        failed: list[dict[str, Any]] = []
        for _ in range(rounds):
            delivered = 0
            for url, arn in self.queues.values():
                messages = self.sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
                ).get("Messages", [])
                if not messages:
                    continue
                records = [self._record(m, arn) for m in messages]
                result = invoke({"Records": records})
                failures = {f["itemIdentifier"] for f in result["batchItemFailures"]}
                for m, record in zip(messages, records, strict=True):
                    if m["MessageId"] in failures:
                        failed.append(record)
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                delivered += len(messages)
            if not delivered:
                return failed
        raise AssertionError(f"queues still busy after {rounds} rounds")

    @staticmethod
    def _record(message: dict[str, Any], arn: str) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": REGION,
        }
