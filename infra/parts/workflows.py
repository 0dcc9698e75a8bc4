"""Step Functions state machines from the apps' ASL files.

A Task state naming a Nimbus step (``"Resource": "step:files.inspect"``, as
``apps/workflows/registry.py`` defines) invokes the function with
``{"workflow_step": <step>, "input.$": "$"}``; a ``.waitForTaskToken`` suffix uses the
task-token integration and adds ``"task_token.$": "$$.Task.Token"``. Tasks already naming an
AWS ARN (``arn:aws:states:::sqs:sendMessage...``) are left as written.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from troposphere import GetAtt, Sub, iam, logs, stepfunctions

from infra.context import Stack
from infra.inputs import aws_name, logical_id

TOKEN_SUFFIX = ".waitForTaskToken"  # noqa: S105 - an ASL suffix, not a secret
STEP_PREFIX = "step:"


def step_name(resource: str) -> tuple[str, bool] | None:
    """``(step, waits_for_token)`` when a Task's Resource names a Nimbus step, else None."""
    if not resource.startswith(STEP_PREFIX):
        return None
    waits = resource.endswith(TOKEN_SUFFIX)
    return resource[len(STEP_PREFIX) :].removesuffix(TOKEN_SUFFIX), waits


def _invoke(step: str, waits: bool, parameters: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"workflow_step": step, "execution_arn.$": "$$.Execution.Id"}
    if parameters is None:
        payload["input.$"] = "$"
    else:
        payload["input"] = parameters  # the Task's own Parameters shape the step's input
    if waits:
        payload["task_token.$"] = "$$.Task.Token"
        return {
            "Resource": "arn:aws:states:::lambda:invoke" + TOKEN_SUFFIX,
            "Parameters": {"FunctionName": "${FunctionArn}", "Payload": payload},
        }
    # Invoking the function ARN directly hands the step's return value to ResultPath as
    # it is (lambda:invoke would wrap it in {"Payload": ...}).
    return {"Resource": "${FunctionArn}", "Parameters": payload}


def substitute_tasks(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an ASL definition whose Nimbus Task states invoke the function."""
    result = copy.deepcopy(dict(definition))
    _walk(result)
    return result


def _walk(machine: dict[str, Any]) -> None:
    for state in machine.get("States", {}).values():
        if state.get("Type") == "Task":
            found = step_name(str(state.get("Resource", "")))
            if found is not None:
                state.update(_invoke(*found, state.pop("Parameters", None)))
        for branch in state.get("Branches", []):
            _walk(branch)
        for key in ("Iterator", "ItemProcessor"):
            if isinstance(state.get(key), dict):
                _walk(state[key])


def machine_arn_prefix(stack: Stack) -> str:
    """What the ARN of each of this stage's state machines starts with (for ``Sub``)."""
    return (
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
        f"{stack.prefix}-"
    )


def _state_machine(stack: Stack, definition: Mapping[str, Any]) -> dict[str, Any]:
    convert = stack.inputs.to_state_machine
    if convert is None:
        return substitute_tasks(definition)
    return convert(copy.deepcopy(dict(definition)), "${FunctionArn}")


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
                Definition=_state_machine(stack, workflow.definition),
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
