"""The Lambda entry as AWS reaches it, beyond the main job: WebSocket routes with the
DynamoDB registry, SQS batches with a poison record and a repeated message, scheduled
events, and what the entry refuses."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.rehearsal.http import websocket_event
from tests.rehearsal.lambda_service import InvocationError, posted_to

pytestmark = [pytest.mark.slow]


def _connections(world) -> list[dict]:
    table = world.environment["PUSH_CONNECTIONS_TABLE"]
    return world.session.client("dynamodb").scan(TableName=table)["Items"]


def test_websocket_connect_message_disconnect_with_the_dynamodb_registry(lam, world, browser):
    ticket = browser.get("/api/notifications/ticket")
    assert ticket.status == 200, ticket.body
    connection = "Rehearsal" + uuid.uuid4().hex[:8] + "="
    answer = lam.invoke(
        websocket_event(world, "$connect", connection, query={"ticket": ticket.json()["ticket"]})
    )
    assert answer["statusCode"] == 200, answer
    assert any(connection in json.dumps(item) for item in _connections(world))
    answer = lam.invoke(
        websocket_event(world, "$default", connection, body=json.dumps({"type": "ping"}))
    )
    assert answer["statusCode"] == 200, answer
    assert any(m.get("type") == "pong" for m in posted_to(connection)), posted_to(connection)
    answer = lam.invoke(websocket_event(world, "$disconnect", connection))
    assert answer["statusCode"] == 200
    assert not any(connection in json.dumps(item) for item in _connections(world))


def test_a_forged_ticket_is_refused_at_connect(lam, world):
    answer = lam.invoke(
        websocket_event(world, "$connect", "Forged000=", query={"ticket": "forged:1:abc"})
    )
    assert answer["statusCode"] in (401, 403), answer


def _recorded_sqs_record(lam, detail_type: str) -> dict:
    for invocation in lam.invocations:
        for record in invocation["event"].get("Records") or []:
            if (
                record.get("eventSource") == "aws:sqs"
                and json.loads(record["body"]).get("detail-type") == detail_type
            ):
                return dict(record)
    raise AssertionError(f"no {detail_type} record was delivered")


def test_a_poison_record_is_reported_alone_and_a_repeat_has_no_second_effect(
    lam, browser, uploaded
):
    before = browser.get(f"/api/files/{uploaded['file_id']}").json()
    repeat = _recorded_sqs_record(lam, "files.FileUploaded")
    repeat = {**repeat, "messageId": str(uuid.uuid4())}  # the same event, delivered again
    poison = {**repeat, "messageId": str(uuid.uuid4()), "body": "{not json"}
    result = lam.invoke({"Records": [repeat, poison]})
    assert result["batchItemFailures"] == [{"itemIdentifier": poison["messageId"]}]
    after = browser.get(f"/api/files/{uploaded['file_id']}").json()
    assert after["updated_at"] == before["updated_at"]  # inspected once


def test_scheduled_events_run_their_job(lam, world):
    (logical,) = [
        k
        for k, r in world.of_type("AWS::Events::Rule").items()
        if r["Properties"].get("Name") == "nimbus-dev-events-sweep-outbox"
    ]
    props = world.properties(logical)
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-06T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{props['Name']}"],
        "detail": {},
    }
    if "Input" in props["Targets"][0]:
        event = json.loads(props["Targets"][0]["Input"])
    assert lam.invoke(event) is not None


@pytest.mark.parametrize(
    "event",
    [{"hello": "world"}, {"detail-type": "Custom", "source": "someone.else", "detail": {}}],
    ids=["no-shape", "foreign-eventbridge"],
)
def test_unknown_shapes_raise(lam, event):
    with pytest.raises(InvocationError):
        lam.invoke(event)


@pytest.mark.parametrize(
    "event",
    [
        {"manage": "shell"},
        {"manage": "createsuperuser --noinput"},
        {"raw_command": "import os"},
        {"command": "os.getcwd"},
    ],
    ids=["shell", "createsuperuser", "raw_command", "command"],
)
def test_zappa_commands_off_the_allow_list_are_refused(lam, event):
    with pytest.raises(InvocationError, match="RefusedEventError"):
        lam.invoke(event)
