"""EventBridge bus, one rule per receiver, one SQS queue (+ DLQ) per receiver group, event
source mappings with ``ReportBatchItemFailures``, schedule rules, DLQ alarms, and rules on
the default bus forwarding the AWS service events apps declare (S3 ``Object Created``,
``Step Functions Execution Status Change``) to the Nimbus bus.

Names follow ``apps/events/registry.py``: queue ``nimbus-<stage>-<group>`` (DLQ ``-dlq``),
rule ``nimbus-<stage>-<receiver>``, schedule rule ``nimbus-<stage>-<job>``, forwarding
rule ``nimbus-<stage>-<source>-<detail-type>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from troposphere import GetAtt, Ref, Sub, awslambda, cloudwatch, events, iam, sqs

from apps.events.registry import RULES_GROUP, TASKS_GROUP, aws_name
from infra.context import Stack
from infra.inputs import logical_id
from infra.parts.workflows import machine_arn_prefix

#: Receives before a message moves to its group's DLQ.
MAX_RECEIVE_COUNT = 5
DLQ_RETENTION = 14 * 24 * 3600
RULE_NAME_MAX = 64
RULES_DLQ = "RulesDeadLetterQueue"


def add_bus(stack: Stack) -> None:
    stack.add(events.EventBus("EventBus", Name=stack.prefix), name="EventBus")
    stack.export_env("EVENT_BUS_NAME", GetAtt("EventBus", "Name"), "EventBridge bus")
    stack.export_env(
        "EVENTS_QUEUE_URL_PREFIX",
        Sub(
            f"https://sqs.${{AWS::Region}}.${{AWS::URLSuffix}}/${{AWS::AccountId}}/{stack.prefix}-"
        ),
        "Receiver group queue URL = prefix + group (DLQ: + '-dlq')",
    )


def _dead_letter_queue(stack: Stack, logical: str, name: str) -> sqs.Queue:
    queue = stack.add(
        sqs.Queue(
            logical,
            QueueName=name,
            MessageRetentionPeriod=DLQ_RETENTION,
            SqsManagedSseEnabled=True,
        ),
        name=logical,
    )
    stack.dead_letter_queues[logical] = queue
    stack.add(
        cloudwatch.Alarm(
            f"{logical}Alarm",
            AlarmName=f"{name}-not-empty",
            AlarmDescription=f"Messages are waiting in {name}: see Dead letters in the admin.",
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[
                cloudwatch.MetricDimension(Name="QueueName", Value=GetAtt(logical, "QueueName"))
            ],
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=[Ref("OperatorsTopic")],
            OKActions=[Ref("OperatorsTopic")],
        )
    )
    return queue


def add_receiver_queues(stack: Stack) -> None:
    """One queue + DLQ + event source mapping per receiver group, and one for Django Tasks."""
    for group in sorted({*stack.inputs.groups, TASKS_GROUP}):
        _consumed_queue(stack, group)
    stack.export_env("TASKS_QUEUE_URL", Ref(logical_id("Queue", TASKS_GROUP)), "Django Tasks queue")


def _consumed_queue(stack: Stack, group: str) -> None:
    # SQS visibility must outlast a whole batch run (AWS recommends 6x the function timeout).
    visibility = max(30, 6 * stack.inputs.function_timeout)
    base = f"{stack.prefix}-{aws_name(group)}"
    queue_id = logical_id("Queue", group)
    dlq_id = logical_id("Queue", group, "dlq")
    _dead_letter_queue(stack, dlq_id, f"{base}-dlq")
    stack.queues[queue_id] = stack.add(
        sqs.Queue(
            queue_id,
            QueueName=base,
            VisibilityTimeout=visibility,
            SqsManagedSseEnabled=True,
            RedrivePolicy=sqs.RedrivePolicy(
                deadLetterTargetArn=GetAtt(dlq_id, "Arn"),
                maxReceiveCount=MAX_RECEIVE_COUNT,
            ),
        ),
        name=queue_id,
    )
    stack.add(
        awslambda.EventSourceMapping(
            logical_id("Mapping", group),
            Condition="FunctionReady",
            EventSourceArn=GetAtt(queue_id, "Arn"),
            FunctionName=stack.alias_name(),
            BatchSize=10,
            MaximumBatchingWindowInSeconds=1,
            # Zappa cannot set this: only the failed records of a batch are retried.
            FunctionResponseTypes=["ReportBatchItemFailures"],
        )
    )


def add_queue_policies(stack: Stack) -> None:
    """EventBridge may send to the group queues and the rules DLQ, from this stack's rules
    only (after every rule is added: the rules DLQ exists once a rule needs it)."""
    targets = [*stack.queues, *([RULES_DLQ] if RULES_DLQ in stack.named else [])]
    stack.add(
        sqs.QueuePolicy(
            "EventBridgeSendsToQueues",
            Queues=[Ref(queue) for queue in targets],
            PolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "RulesSend",
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": [GetAtt(queue, "Arn") for queue in targets],
                        "Condition": {
                            "ArnLike": {
                                "aws:SourceArn": Sub(
                                    "arn:${AWS::Partition}:events:${AWS::Region}:"
                                    f"${{AWS::AccountId}}:rule/{stack.prefix}*"
                                )
                            }
                        },
                    },
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "sqs:*",
                        "Resource": [GetAtt(queue, "Arn") for queue in targets],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            },
        )
    )


def _rule_target_extras(stack: Stack) -> dict[str, object]:
    if RULES_DLQ not in stack.named:
        # Where EventBridge puts events it could not deliver to a target (every rule's DLQ).
        _dead_letter_queue(stack, RULES_DLQ, f"{stack.prefix}-{RULES_GROUP}-dlq")
    return {
        "DeadLetterConfig": events.DeadLetterConfig(Arn=GetAtt(RULES_DLQ, "Arn")),
        "RetryPolicy": events.RetryPolicy(
            MaximumEventAgeInSeconds=24 * 3600, MaximumRetryAttempts=185
        ),
    }


def add_receiver_rules(stack: Stack) -> None:
    for receiver in stack.inputs.receivers:
        rule_id = logical_id("Rule", receiver.name)
        stack.rules[rule_id] = stack.add(
            events.Rule(
                rule_id,
                Name=f"{stack.prefix}-{aws_name(receiver.name)}",
                Description=f"Receiver {receiver.name} (group {receiver.group})",
                EventBusName=GetAtt("EventBus", "Name"),
                EventPattern=dict(receiver.pattern),
                State="ENABLED",
                Targets=[
                    events.Target(
                        Id="queue",
                        Arn=GetAtt(logical_id("Queue", receiver.group), "Arn"),
                        **_rule_target_extras(stack),
                    )
                ],
            )
        )


def _uploads_bucket_only(stack: Stack) -> dict[str, Any]:
    return {"bucket": {"name": [Ref("UploadsBucket")]}}


def _stage_machines_only(stack: Stack) -> dict[str, Any]:
    # Machines are ``nimbus-<stage>-<workflow>``: the dash keeps out e.g. ``dev2``'s.
    return {"stateMachineArn": [{"prefix": Sub(machine_arn_prefix(stack))}]}


#: AWS service source -> the ``detail`` condition that keeps a forwarding rule to this
#: stack's resources (the default bus carries every event of the account and region).
AWS_SOURCE_SCOPES: dict[str, Callable[[Stack], dict[str, Any]]] = {
    "aws.s3": _uploads_bucket_only,
    "aws.states": _stage_machines_only,
}


def add_aws_event_forwarding(stack: Stack) -> None:
    """AWS services send their events (S3 ``Object Created``, Step Functions' status
    changes, ...) to the account's default bus: for each such type an app declares, a rule
    there forwards this stack's events to the Nimbus bus, where the receivers' rules take
    them like any other event."""
    declared = [t for t in stack.inputs.event_types if t.from_aws]
    if not declared:
        return
    _forward_role(stack)
    for event_type in declared:
        scope = AWS_SOURCE_SCOPES.get(event_type.source)
        if scope is None:
            raise ValueError(
                f"Event type {event_type.detail_type!r} comes from {event_type.source!r}, "
                "which infra/parts/events.py cannot limit to this stack (AWS_SOURCE_SCOPES): "
                "its rule would forward every such event of the account."
            )
        rule_id = logical_id("Forward", event_type.source, event_type.detail_type)
        stack.rules[rule_id] = stack.add(
            events.Rule(
                rule_id,
                Name=_rule_name(stack, event_type.source, event_type.detail_type),
                Description=f"{event_type.detail_type} ({event_type.source}) -> the Nimbus bus",
                EventPattern={
                    "source": [event_type.source],
                    "detail-type": [event_type.detail_type],
                    "detail": scope(stack),
                },
                State="ENABLED",
                Targets=[
                    events.Target(
                        Id="bus",
                        Arn=GetAtt("EventBus", "Arn"),
                        RoleArn=GetAtt("ForwardEventsRole", "Arn"),
                        **_rule_target_extras(stack),
                    )
                ],
            )
        )


def _rule_name(stack: Stack, *parts: str) -> str:
    """``nimbus-<stage>-<parts>``, within EventBridge's 64 characters (a digest if longer)."""
    name = "-".join([stack.prefix, *(aws_name(part) for part in parts)])
    if len(name) <= RULE_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: RULE_NAME_MAX - 9]}-{digest}"


def _forward_role(stack: Stack) -> None:
    stack.add(
        iam.Role(
            "ForwardEventsRole",
            AssumeRolePolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            Policies=[
                iam.Policy(
                    PolicyName="put-events",
                    PolicyDocument={
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "events:PutEvents",
                                "Resource": GetAtt("EventBus", "Arn"),
                            }
                        ],
                    },
                )
            ],
        )
    )


def add_schedules(stack: Stack) -> None:
    """One rule per ``@scheduled`` job, invoking the function (once it exists)."""
    for job in stack.inputs.schedules:
        rule_id = logical_id("Schedule", job.name)
        stack.rules[rule_id] = stack.add(
            events.Rule(
                rule_id,
                Condition="FunctionReady",
                Name=f"{stack.prefix}-{aws_name(job.name)}",
                Description=f"Scheduled job {job.name}",
                ScheduleExpression=job.expression,
                State="ENABLED",
                Targets=[
                    events.Target(
                        Id="function", Arn=stack.alias_arn(), **_rule_target_extras(stack)
                    )
                ],
            )
        )
        stack.add(
            awslambda.Permission(
                f"{rule_id}Invoke",
                Condition="FunctionReady",
                FunctionName=stack.alias_name(),
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=GetAtt(rule_id, "Arn"),
            )
        )
