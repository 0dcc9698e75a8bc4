"""EventBridge bus, one rule per receiver, one SQS queue (+ DLQ) per receiver group, event
source mappings with ``ReportBatchItemFailures``, schedule rules, and DLQ alarms.

Names follow ``apps/events/registry.py``: queue ``nimbus-<stage>-<group>`` (DLQ ``-dlq``),
rule ``nimbus-<stage>-<receiver>``, schedule rule ``nimbus-<stage>-<job>``.
"""

from __future__ import annotations

from troposphere import GetAtt, Ref, Sub, awslambda, cloudwatch, events, iam, sqs

from apps.events.registry import RULES_GROUP, TASKS_GROUP
from infra.context import Stack
from infra.inputs import aws_name, logical_id

#: Receives before a message moves to its group's DLQ.
MAX_RECEIVE_COUNT = 5
DLQ_RETENTION = 14 * 24 * 3600


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
    # Where EventBridge puts events it could not deliver to a target (every rule's DLQ).
    _dead_letter_queue(stack, "RulesDeadLetterQueue", f"{stack.prefix}-{RULES_GROUP}-dlq")


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
    _queue_policies(stack)


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
            FunctionName=stack.prefix,
            BatchSize=10,
            MaximumBatchingWindowInSeconds=1,
            # Zappa cannot set this: only the failed records of a batch are retried.
            FunctionResponseTypes=["ReportBatchItemFailures"],
        )
    )


def _queue_policies(stack: Stack) -> None:
    """EventBridge may send to the group queues and the rules DLQ, from this stack's rules only."""
    targets = [*stack.queues, "RulesDeadLetterQueue"]
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


def _rule_target_extras() -> dict[str, object]:
    return {
        "DeadLetterConfig": events.DeadLetterConfig(Arn=GetAtt("RulesDeadLetterQueue", "Arn")),
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
                        **_rule_target_extras(),
                    )
                ],
            )
        )


def add_upload_forwarding(stack: Stack) -> None:
    """S3 sends Object Created events to the default bus; forward the uploads bucket's to ours."""
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
    rule_id = "RuleUploadsToBus"
    stack.rules[rule_id] = stack.add(
        events.Rule(
            rule_id,
            Name=f"{stack.prefix}-uploads-to-bus",
            Description="Uploads bucket Object Created events -> the Nimbus bus",
            EventPattern={
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {"bucket": {"name": [Ref("UploadsBucket")]}},
            },
            State="ENABLED",
            Targets=[
                events.Target(
                    Id="bus",
                    Arn=GetAtt("EventBus", "Arn"),
                    RoleArn=GetAtt("ForwardEventsRole", "Arn"),
                    **_rule_target_extras(),
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
                    events.Target(Id="function", Arn=stack.function_arn(), **_rule_target_extras())
                ],
            )
        )
        stack.add(
            awslambda.Permission(
                f"{rule_id}Invoke",
                Condition="FunctionReady",
                FunctionName=stack.prefix,
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=GetAtt(rule_id, "Arn"),
            )
        )
