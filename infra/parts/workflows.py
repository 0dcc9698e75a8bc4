"""Step Functions state machines from the apps' ASL files.

A Task state naming a Nimbus step (``"Resource": "step:files.inspect"``, as
``apps/workflows/registry.py`` defines) invokes the function as
:func:`apps.workflows.engine.aws.to_state_machine` writes it (``{"workflow_step": <step>,
"input.$": "$", ...}``; a ``.waitForTaskToken`` suffix uses the task-token integration).
Tasks already naming an AWS ARN (``arn:aws:states:::sqs:sendMessage...``) are left as
written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from troposphere import GetAtt, Sub, iam, logs, stepfunctions

from apps.events.registry import aws_name
from apps.workflows.engine.aws import to_state_machine
from infra.context import Stack
from infra.inputs import logical_id

FUNCTION_ARN = "${FunctionArn}"


def substitute_tasks(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an ASL definition whose Nimbus Task states invoke the function (the
    workflows app's converter, :func:`apps.workflows.engine.aws.to_state_machine`)."""
    return to_state_machine(dict(definition), FUNCTION_ARN)


def machine_arn_prefix(stack: Stack) -> str:
    """What the ARN of each of this stage's state machines starts with (for ``Sub``)."""
    return (
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
        f"{stack.prefix}-"
    )


def add_state_machines(stack: Stack) -> None:
    inputs = stack.inputs
    if not inputs.workflows:
        return
    machine_arns = Sub(
        f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{stack.prefix}-*"
    )
    stack.add(
        iam.Role(
            "StateMachineRole",
            AssumeRolePolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "states.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"ArnLike": {"aws:SourceArn": machine_arns}},
                    }
                ],
            },
            Policies=[
                iam.Policy(
                    PolicyName="invoke-function-and-log",
                    PolicyDocument={
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "lambda:InvokeFunction",
                                "Resource": stack.alias_arn(),
                            },
                            {
                                # Log delivery and X-Ray APIs take no resource ARNs.
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogDelivery",
                                    "logs:GetLogDelivery",
                                    "logs:UpdateLogDelivery",
                                    "logs:DeleteLogDelivery",
                                    "logs:ListLogDeliveries",
                                    "logs:PutResourcePolicy",
                                    "logs:DescribeResourcePolicies",
                                    "logs:DescribeLogGroups",
                                    "xray:PutTraceSegments",
                                    "xray:PutTelemetryRecords",
                                    "xray:GetSamplingRules",
                                    "xray:GetSamplingTargets",
                                ],
                                "Resource": "*",
                            },
                        ],
                    },
                )
            ],
        )
    )
    for workflow in inputs.workflows:
        machine_id = logical_id("Workflow", workflow.name)
        log_id = f"{machine_id}Logs"
        stack.add(
            logs.LogGroup(
                log_id,
                LogGroupName=f"/aws/vendedlogs/states/{stack.prefix}-{aws_name(workflow.name)}",
                RetentionInDays=inputs.log_retention_days,
            )
        )
        stack.state_machines[workflow.name] = stack.add(
            stepfunctions.StateMachine(
                machine_id,
                StateMachineName=f"{stack.prefix}-{aws_name(workflow.name)}",
                StateMachineType="STANDARD",
                RoleArn=GetAtt("StateMachineRole", "Arn"),
                Definition=substitute_tasks(workflow.definition),
                DefinitionSubstitutions={"FunctionArn": stack.alias_arn()},
                TracingConfiguration=stepfunctions.TracingConfiguration(Enabled=True),
                LoggingConfiguration=stepfunctions.LoggingConfiguration(
                    Level="ERROR",
                    IncludeExecutionData=False,
                    Destinations=[
                        stepfunctions.LogDestination(
                            CloudWatchLogsLogGroup=stepfunctions.CloudWatchLogsLogGroup(
                                LogGroupArn=GetAtt(log_id, "Arn")
                            )
                        )
                    ],
                ),
            )
        )
    stack.export_env(
        "NIMBUS_STATE_MACHINE_PREFIX",
        Sub(machine_arn_prefix(stack)),
        "State machine ARN = prefix + workflow name (dots and underscores as '-')",
    )
