"""Helpers for the API Gateway WebSocket backend under moto."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from apps.push.backends.aws import CONNECTIONS_TABLE_SCHEMA

TABLE = "nimbus-test-push-connections"
ENDPOINT = "https://ws123.execute-api.us-east-1.amazonaws.com/dev"
AWS_PUSH = {
    "default": {
        "BACKEND": "apps.push.backends.aws.ApiGatewayPushBackend",
        "OPTIONS": {"table": TABLE, "endpoint_url": ENDPOINT, "region_name": "us-east-1"},
    }
}


def create_table() -> None:
    import boto3

    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName=TABLE, **CONNECTIONS_TABLE_SCHEMA
    )


def posted_frames(connection_id: str) -> list[dict[str, Any]]:
    """Every frame moto's management API received for one connection, in order.

    moto appends each ``post_to_connection`` body to one buffer per connection; frames are
    JSON objects, so the buffer is split by decoding one object after another.
    """
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    connections = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].connections
    data = b"".join(
        c.data for cid, c in list(connections.items()) if unquote(cid) == connection_id
    ).decode()
    decoder, frames, index = json.JSONDecoder(), [], 0
    while index < len(data):
        frame, index = decoder.raw_decode(data, index)
        frames.append(frame)
    return frames


def registered(connection_id: str) -> bool:
    import boto3

    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=TABLE, Key={"connection_id": {"S": connection_id}}
    )
    return "Item" in item


class GoneConnections:
    """The management client, except that some connections answer ``GoneException``.

    moto's management API accepts any connection id and never raises GoneException
    (../shared/PLATFORM-FACTS.md), so this wrapper raises the real botocore
    ``ClientError`` AWS returns (HTTP 410) for the ids in ``gone`` and passes every other
    call to the real (moto-backed) client.
    """

    def __init__(self, client: Any, gone: set[str]) -> None:
        self._client = client
        self.gone = gone

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> Any:
        if ConnectionId in self.gone:
            raise ClientError(
                {
                    "Error": {"Code": "GoneException", "Message": ""},
                    "ResponseMetadata": {"HTTPStatusCode": 410},
                },
                "PostToConnection",
            )
        return self._client.post_to_connection(ConnectionId=ConnectionId, Data=Data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
