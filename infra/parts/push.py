"""API Gateway WebSocket API (routes to the function) and the DynamoDB connection registry.

The integration invokes the function through a role API Gateway assumes, rather than a
resource policy on the function: the API can then exist before ``zappa deploy``.
"""

from __future__ import annotations

from troposphere import GetAtt, Join, Ref, Sub, apigatewayv2, dynamodb, iam, logs

from infra.context import Stack


def add_connections_table(stack: Stack) -> None:
    schema = stack.inputs.connections_table
    extra = {}
    if indexes := schema.get("GlobalSecondaryIndexes"):
        extra["GlobalSecondaryIndexes"] = [
            dynamodb.GlobalSecondaryIndex(
                IndexName=index["IndexName"],
                KeySchema=[dynamodb.KeySchema(**key) for key in index["KeySchema"]],
                Projection=dynamodb.Projection(**index["Projection"]),
            )
            for index in indexes
        ]
    stack.add(
        dynamodb.Table(
            "ConnectionsTable",
            TableName=f"{stack.prefix}-connections",
            BillingMode=schema.get("BillingMode", "PAY_PER_REQUEST"),
            KeySchema=[dynamodb.KeySchema(**key) for key in schema["KeySchema"]],
            AttributeDefinitions=[
                dynamodb.AttributeDefinition(**attr) for attr in schema["AttributeDefinitions"]
            ],
            TimeToLiveSpecification=dynamodb.TimeToLiveSpecification(
                AttributeName=stack.inputs.connections_ttl_attribute, Enabled=True
            ),
            SSESpecification=dynamodb.SSESpecification(SSEEnabled=True),
            PointInTimeRecoverySpecification=dynamodb.PointInTimeRecoverySpecification(
                PointInTimeRecoveryEnabled=stack.inputs.stage == "prod"
            ),
            **extra,
        ),
        name="ConnectionsTable",
    )
    stack.export_env("PUSH_CONNECTIONS_TABLE", Ref("ConnectionsTable"), "WebSocket connections")


def add_websocket_api(stack: Stack) -> None:
    stage = stack.inputs.stage
    stack.add(
        apigatewayv2.Api(
            "WebSocketApi",
            Name=f"{stack.prefix}-ws",
            ProtocolType="WEBSOCKET",
            RouteSelectionExpression="$request.body.action",
        ),
        name="WebSocketApi",
    )
    stack.add(
        iam.Role(
            "WebSocketInvokeRole",
            AssumeRolePolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "apigateway.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            Policies=[
                iam.Policy(
                    PolicyName="invoke-function",
                    PolicyDocument={
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "lambda:InvokeFunction",
                                "Resource": stack.alias_arn(),
                            }
                        ],
                    },
                )
            ],
        )
    )
    stack.add(
        apigatewayv2.Integration(
            "WebSocketIntegration",
            ApiId=Ref("WebSocketApi"),
            IntegrationType="AWS_PROXY",
            CredentialsArn=GetAtt("WebSocketInvokeRole", "Arn"),
            IntegrationUri=Sub(
                "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/"
                "functions/${Function}/invocations",
                Function=stack.alias_arn(),
            ),
        )
    )
    routes = []
    for suffix, key in (
        ("Connect", "$connect"),
        ("Disconnect", "$disconnect"),
        ("Default", "$default"),
    ):
        route = stack.add(
            apigatewayv2.Route(
                f"WebSocket{suffix}Route",
                ApiId=Ref("WebSocketApi"),
                RouteKey=key,
                Target=Join("/", ["integrations", Ref("WebSocketIntegration")]),
            )
        )
        routes.append(route.title)
    stack.add(
        logs.LogGroup(
            "WebSocketAccessLogs",
            LogGroupName=f"/aws/apigateway/{stack.prefix}-ws",
            RetentionInDays=stack.inputs.log_retention_days,
        )
    )
    stack.add(
        apigatewayv2.Stage(
            "WebSocketStage",
            DependsOn=routes,
            ApiId=Ref("WebSocketApi"),
            StageName=stage,
            AutoDeploy=True,
            DefaultRouteSettings=apigatewayv2.RouteSettings(
                ThrottlingBurstLimit=500, ThrottlingRateLimit=1000
            ),
            AccessLogSettings=apigatewayv2.AccessLogSettings(
                DestinationArn=GetAtt("WebSocketAccessLogs", "Arn"),
                Format='{"requestId":"$context.requestId","routeKey":"$context.routeKey",'
                '"status":"$context.status","connectionId":"$context.connectionId"}',
            ),
        )
    )
    stack.export_env(
        "WEBSOCKET_API_ENDPOINT",
        Sub(f"https://${{WebSocketApi}}.execute-api.${{AWS::Region}}.amazonaws.com/{stage}"),
        "WebSocket management endpoint (post_to_connection)",
    )
    # The URL browsers connect to: infra/parts/websocket_domain.py (the site's domain).
