"""The function's log group and its least-privilege role (Zappa uses it: manage_roles false).

Every statement names the resources this stack creates; ``Resource: "*"`` appears only for
actions that take no resource (X-Ray, ``cloudwatch:PutMetricData`` with a namespace
condition, Step Functions task-token callbacks, the network-interface calls Lambda makes to
put the function in its VPC). :data:`STAR_ACTIONS` lists them, and the template checks
refuse any other wildcard.

Zappa's REST API integration invokes the function with this role as its credentials
(``role_name``), so API Gateway may assume it, and it may invoke the function's alias.
"""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Join, Output, Ref, Sub, iam, logs

from apps.users.backends.aws import POOL_ACTIONS
from infra.context import Stack

METRICS_NAMESPACE = "Nimbus"
#: Actions that AWS only grants on Resource "*".
STAR_ACTIONS = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "cloudwatch:PutMetricData",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:SendTaskHeartbeat",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        # AWSLambdaVPCAccessExecutionRole: Lambda creates and lists the function's
        # network interfaces before any exists, so these take no resource ARN.
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
    }
)
#: What Lambda does with the function's network interfaces in its VPC, scoped to them.
NETWORK_INTERFACE_ACTIONS = (
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


def add_log_group(stack: Stack) -> None:
    stack.add(
        logs.LogGroup(
            "FunctionLogs",
            LogGroupName=f"/aws/lambda/{stack.prefix}",
            RetentionInDays=stack.inputs.log_retention_days,
        ),
        name="FunctionLogs",
    )


def _statement(sid: str, actions: list[str], resources: Any, **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _arn(service: str, resource: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def _bucket_objects(bucket: str) -> Join:
    return Join("", [GetAtt(bucket, "Arn"), "/*"])


def add_function_role(stack: Stack) -> None:
    p = stack.prefix
    queues = [GetAtt(q, "Arn") for q in stack.queues]
    dlqs = [GetAtt(q, "Arn") for q in stack.dead_letter_queues]
    statements = [
        _statement(
            "Logs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            _arn("logs", f"log-group:/aws/lambda/{p}:*"),
        ),
        _statement(
            "Tracing",
            [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
            ],
            "*",
        ),
        _statement(
            "VpcNetworkInterfaces",
            [
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
            ],
            "*",
        ),
        _statement(
            "VpcOwnNetworkInterfaces",
            list(NETWORK_INTERFACE_ACTIONS),
            _arn("ec2", "network-interface/*"),
        ),
        # Zappa's REST API integration assumes this role to invoke the function.
        _statement("InvokeAlias", ["lambda:InvokeFunction"], stack.alias_arn()),
        _statement(
            "Metrics",
            ["cloudwatch:PutMetricData"],
            "*",
            Condition={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
        ),
        _statement(
            "UploadsObjects",
            [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            _bucket_objects("UploadsBucket"),
        ),
        _statement(
            "UploadsBucket",
            ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
            GetAtt("UploadsBucket", "Arn"),
        ),
        # collectstatic through `zappa manage` writes the static bucket.
        _statement(
            "StaticObjects",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            _bucket_objects("StaticBucket"),
        ),
        _statement("StaticBucket", ["s3:ListBucket"], GetAtt("StaticBucket", "Arn")),
        _statement("PublishEvents", ["events:PutEvents"], GetAtt("EventBus", "Arn")),
        _statement(
            "ParameterStore",
            ["ssm:GetParametersByPath", "ssm:GetParameter", "ssm:GetParameters"],
            [
                _arn("ssm", f"parameter/nimbus/{stack.inputs.stage}"),
                _arn("ssm", f"parameter/nimbus/{stack.inputs.stage}/*"),
            ],
        ),
        _statement(
            "Secrets",
            ["secretsmanager:GetSecretValue"],
            [
                Ref("AppSecret"),
                Ref("OriginSecret"),
                stack.named["DatabaseSecretRef"],
            ],
        ),
        _statement(
            "Key",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            GetAtt("Key", "Arn"),
        ),
        _statement(
            "Identity",
            sorted(f"cognito-idp:{action}" for action in POOL_ACTIONS),
            GetAtt("UserPool", "Arn"),
        ),
        _statement(
            "Connections",
            [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
            ],
            [
                GetAtt("ConnectionsTable", "Arn"),
                Join("", [GetAtt("ConnectionsTable", "Arn"), "/index/*"]),
            ],
        ),
        _statement(
            "PushToConnections",
            ["execute-api:ManageConnections"],
            _arn("execute-api", "${WebSocketApi}/" + stack.inputs.stage + "/*/@connections/*"),
        ),
    ]
    if queues:
        statements.append(
            _statement(
                "ConsumeQueues",
                [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                    "sqs:SendMessage",
                ],
                queues,
            )
        )
    # The admin lists, redrives and discards dead letters.
    statements.append(
        _statement(
            "DeadLetters",
            [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:StartMessageMoveTask",
                "sqs:ListMessageMoveTasks",
                "sqs:CancelMessageMoveTask",
            ],
            dlqs,
        )
    )
    if stack.state_machines:
        statements += [
            _statement(
                "Workflows",
                ["states:StartExecution", "states:DescribeStateMachine", "states:ListExecutions"],
                _arn("states", f"stateMachine:{p}-*"),
            ),
            _statement(
                "Executions",
                [
                    "states:DescribeExecution",
                    "states:GetExecutionHistory",
                    "states:StopExecution",
                    "states:RedriveExecution",
                ],
                _arn("states", f"execution:{p}-*:*"),
            ),
            # Task-token callbacks are authorised by the token, not a resource ARN.
            _statement(
                "TaskTokens",
                ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
                "*",
            ),
        ]
    stack.add(
        iam.Role(
            "FunctionRole",
            RoleName=f"{p}-function",
            Description=f"{p}: the Lambda function (Zappa: role_name, manage_roles false)",
            AssumeRolePolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    },
                    {
                        # Zappa's REST API integration (its ``Credentials``).
                        "Effect": "Allow",
                        "Principal": {"Service": "apigateway.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}},
                    },
                ],
            },
            Policies=[
                iam.Policy(
                    PolicyName="nimbus-function",
                    PolicyDocument={"Version": "2012-10-17", "Statement": statements},
                )
            ],
        ),
        name="FunctionRole",
    )
    stack.template.add_output(
        Output("FunctionRoleArn", Value=GetAtt("FunctionRole", "Arn"), Description="role_arn")
    )
