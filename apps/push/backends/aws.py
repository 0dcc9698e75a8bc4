"""AWS push: API Gateway WebSocket, with the connection registry in DynamoDB.

``$connect`` registers ``connection_id -> user_id`` (with a TTL a little past API
Gateway's two-hour connection limit, so rows of connections whose ``$disconnect`` never
arrived expire by themselves); pushes look up the user's connections through the
``by_user`` index and ``post_to_connection`` each one. The management API endpoint comes
from settings, never from the current event: most pushes are made by EventBridge/SQS or
workflow invocations that have no WebSocket event. A connection answering
``GoneException`` is removed from the registry. When a user's sessions end, each of
their connections gets a last ``session.ended`` frame, is closed with
``DeleteConnection`` and leaves the registry (so nothing reaches it even if the close
call failed, and its ``$default`` frames are refused as an unknown connection's).

boto3 is imported on first use only (cold start), and clients are built lazily per backend
instance — backends are per thread (``project.backends``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from django.core import checks

from apps.push.backends.base import SESSION_ENDED, PushBackend, encode_frame
from project.aws import AWSClient

logger = logging.getLogger("nimbus.push")

#: Attribute DynamoDB's TTL deletes rows by (epoch seconds).
TTL_ATTRIBUTE = "expires_at"
USER_INDEX = "by_user"

#: The registry table, as ``create_table`` keyword arguments (the infra stack and the
#: tests build the table from this one declaration).
CONNECTIONS_TABLE_SCHEMA: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "connection_id", "KeyType": "HASH"}],
    "AttributeDefinitions": [
        {"AttributeName": "connection_id", "AttributeType": "S"},
        {"AttributeName": "user_id", "AttributeType": "S"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": USER_INDEX,
            "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


class ApiGatewayPushBackend(PushBackend):
    default_options = {
        "table": "",
        "endpoint_url": "",
        #: What browsers connect to (wss://ws.<site domain> on a custom domain); empty:
        #: the management endpoint's own address.
        "websocket_url": "",
        "region_name": None,
        # API Gateway closes every WebSocket after 2 hours; keep rows a little longer.
        "connection_ttl": 2 * 3600 + 600,
    }

    @property
    def websocket_url(self) -> str:
        """The ``wss://`` URL pages connect to."""
        url = str(self.options["websocket_url"] or "")
        return url or "wss://" + str(self.options["endpoint_url"]).split("://", 1)[-1]

    # -- clients -------------------------------------------------------------------------

    #: The connection registry's table (AWS's own endpoint, in ``region_name``).
    dynamodb = AWSClient("dynamodb", endpoint_option=None)
    #: The WebSocket API's management endpoint (``endpoint_url``).
    management = AWSClient("apigatewaymanagementapi")

    # -- registry ------------------------------------------------------------------------

    def connection_open(self, *, connection_id: str, user_id: int) -> None:
        """Register an authenticated connection (``$connect``)."""
        now = int(time.time())
        self.dynamodb.put_item(
            TableName=self.options["table"],
            Item={
                "connection_id": {"S": connection_id},
                "user_id": {"S": str(int(user_id))},
                "connected_at": {"N": str(now)},
                TTL_ATTRIBUTE: {"N": str(now + int(self.options["connection_ttl"]))},
            },
        )

    def connection_close(self, *, connection_id: str) -> None:
        """Forget a connection (``$disconnect``, or after ``GoneException``)."""
        self.dynamodb.delete_item(
            TableName=self.options["table"], Key={"connection_id": {"S": connection_id}}
        )

    def connection_user(self, *, connection_id: str) -> int | None:
        """The user a live registered connection belongs to, or None."""
        item = self.dynamodb.get_item(
            TableName=self.options["table"],
            Key={"connection_id": {"S": connection_id}},
            ConsistentRead=True,
        ).get("Item")
        if not item or int(item[TTL_ATTRIBUTE]["N"]) <= time.time():
            return None
        return int(item["user_id"]["S"])

    def connections_of(self, *, user_id: int) -> list[str]:
        """Every registered connection id of one user."""
        paginator = self.dynamodb.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.options["table"],
            IndexName=USER_INDEX,
            KeyConditionExpression="user_id = :u",
            ExpressionAttributeValues={":u": {"S": str(int(user_id))}},
        )
        return [item["connection_id"]["S"] for page in pages for item in page["Items"]]

    # -- delivery ------------------------------------------------------------------------

    def send(self, *, user_ids: Sequence[int], frame: dict[str, Any]) -> None:
        data = encode_frame(frame)
        for user_id in user_ids:
            for connection_id in self.connections_of(user_id=user_id):
                self._post(connection_id, data)

    def close(self, *, user_ids: Sequence[int]) -> None:
        last = encode_frame({"type": SESSION_ENDED})
        for user_id in user_ids:
            for connection_id in self.connections_of(user_id=user_id):
                self._post(connection_id, last)
                self._delete_connection(connection_id)
                self.connection_close(connection_id=connection_id)

    def _delete_connection(self, connection_id: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.management.delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code != "GoneException":
                # The registry row still goes: nothing is sent to it, its frames are refused.
                logger.exception("delete_connection failed", extra={"code": code})

    def send_to_connection(self, *, connection_id: str, frame: dict[str, Any]) -> bool:
        """Send one frame to one connection; False if it is gone or failed."""
        return self._post(connection_id, encode_frame(frame))

    def _post(self, connection_id: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.management.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "GoneException":
                logger.info("Push connection gone; removing it", extra={"code": code})
                self.connection_close(connection_id=connection_id)
            else:
                # Live delivery is best effort; the stored notification is caught up later.
                logger.exception("post_to_connection failed", extra={"code": code})
            return False
        return True

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        missing = [name for name in ("table", "endpoint_url") if not self.options[name]]
        if missing:
            return [
                checks.Error(
                    f"NIMBUS_PUSH[{self.alias!r}] needs OPTIONS {', '.join(missing)}.",
                    hint="production.py reads PUSH_CONNECTIONS_TABLE and WEBSOCKET_API_ENDPOINT.",
                    id="push.E001",
                )
            ]
        return []
