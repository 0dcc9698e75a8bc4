"""API Gateway WebSocket routes through the Lambda entry (real payloads, Zappa's handler
behind it), with moto for DynamoDB and the management API."""

from __future__ import annotations

import copy
import json
import time

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from apps.push.backends import push_backend
from apps.push.services import push_to_user
from tests.apps.push import aws
from tests.apps.users.factories import access_token_for
from tests.conftest import load_aws_event

pytestmark = pytest.mark.django_db

CONNECTION = "NDkS5dbUoAMCJuA="


@pytest.fixture
def aws_push(settings):
    with mock_aws():
        aws.create_table()
        settings.NIMBUS_PUSH = aws.AWS_PUSH
        yield push_backend()


def ws_event(name: str, *, connection: str = CONNECTION, token: str | None = None, body=None):
    event = copy.deepcopy(load_aws_event(f"websocket_{name}"))
    event["requestContext"]["connectionId"] = connection
    if token is not None:
        event["queryStringParameters"] = {"token": token}
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def test_connect_with_a_valid_access_token_registers_the_connection(
    lambda_entry, lambda_context, aws_push, alice
):
    event = ws_event("connect", token=access_token_for(alice))
    assert lambda_entry(event, lambda_context) == {"statusCode": 200}
    assert aws_push.connection_user(connection_id=CONNECTION) == alice.pk
    assert aws_push.connections_of(user_id=alice.pk) == [CONNECTION]


def test_connect_ttl_is_set_past_api_gateways_two_hour_limit(
    lambda_entry, lambda_context, aws_push, alice
):
    import boto3

    lambda_entry(ws_event("connect", token=access_token_for(alice)), lambda_context)
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=aws.TABLE, Key={"connection_id": {"S": CONNECTION}}
    )["Item"]
    assert int(item["expires_at"]["N"]) - time.time() > 2 * 3600


@pytest.mark.parametrize("token", ["", "eyJraWQiOiJleGFtcGxlIn0.e30.sig"])
def test_connect_without_a_good_token_is_refused_and_not_registered(
    lambda_entry, lambda_context, aws_push, token
):
    event = ws_event("connect", token=token)
    if not token:
        event["queryStringParameters"] = None
    assert lambda_entry(event, lambda_context)["statusCode"] == 401
    assert not aws.registered(CONNECTION)


def test_disabled_users_token_is_refused(lambda_entry, lambda_context, aws_push, alice):
    token = access_token_for(alice)
    alice.is_active = False
    alice.save()
    assert lambda_entry(ws_event("connect", token=token), lambda_context)["statusCode"] == 401


def test_disconnect_forgets_the_connection(lambda_entry, lambda_context, aws_push, alice):
    lambda_entry(ws_event("connect", token=access_token_for(alice)), lambda_context)
    assert lambda_entry(ws_event("disconnect"), lambda_context) == {"statusCode": 200}
    assert not aws.registered(CONNECTION)


def test_message_from_an_unknown_connection_is_refused(lambda_entry, lambda_context, aws_push):
    response = lambda_entry(ws_event("message"), lambda_context)
    assert response["statusCode"] == 403
    assert aws.posted_frames(CONNECTION) == []


def test_catch_up_message_is_answered_through_the_management_api(
    lambda_entry, lambda_context, aws_push, alice, bob
):
    lambda_entry(ws_event("connect", token=access_token_for(alice)), lambda_context)
    mine = push_to_user(user_id=alice.pk, message={"type": "n", "i": 1}, notify=True)
    push_to_user(user_id=bob.pk, message={"type": "n", "i": 2}, notify=True)
    assert lambda_entry(ws_event("message"), lambda_context) == {"statusCode": 200}
    frames = aws.posted_frames(CONNECTION)
    assert [f["type"] for f in frames] == ["n", "catch_up.done"]
    assert frames[0]["notification"]["id"] == mine.pk
    assert frames[1] == {"type": "catch_up.done", "last_id": mine.pk, "more": False}


@pytest.mark.parametrize(
    ("body", "code"),
    [("not json", "unknown_type"), ({"type": "catch_up", "after": -3}, "invalid_input")],
)
def test_bad_client_frames_get_an_error_frame(
    lambda_entry, lambda_context, aws_push, alice, body, code
):
    lambda_entry(ws_event("connect", token=access_token_for(alice)), lambda_context)
    event = ws_event("message")
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    assert lambda_entry(event, lambda_context)["statusCode"] == 200
    assert aws.posted_frames(CONNECTION)[-1]["code"] == code


def test_gone_connection_is_removed_and_the_others_still_receive(
    aws_push, alice, django_capture_on_commit_callbacks
):
    aws_push.connection_open(connection_id="gone=", user_id=alice.pk)
    aws_push.connection_open(connection_id="live=", user_id=alice.pk)
    aws_push.management = aws.GoneConnections(aws_push.management, gone={"gone="})
    with django_capture_on_commit_callbacks(execute=True):
        push_to_user(user_id=alice.pk, message={"type": "hello"})
    assert not aws.registered("gone=")
    assert aws.registered("live=")
    assert aws.posted_frames("live=") == [{"type": "hello"}]


def test_gone_answer_from_botocore_stubber_removes_the_registry_row(aws_push, alice):
    """The same, with botocore's own Stubber producing AWS's 410 for the one call."""
    aws_push.connection_open(connection_id="stale=", user_id=alice.pk)
    with Stubber(aws_push.management) as stubber:
        stubber.add_client_error(
            "post_to_connection", service_error_code="GoneException", http_status_code=410
        )
        assert aws_push.send_to_connection(connection_id="stale=", frame={"type": "x"}) is False
        stubber.assert_no_pending_responses()
    assert not aws.registered("stale=")


def test_other_management_errors_are_logged_and_keep_the_connection(aws_push, alice, caplog):
    aws_push.connection_open(connection_id="busy=", user_id=alice.pk)
    with Stubber(aws_push.management) as stubber:
        stubber.add_client_error(
            "post_to_connection", service_error_code="LimitExceededException", http_status_code=429
        )
        assert aws_push.send_to_connection(connection_id="busy=", frame={"type": "x"}) is False
    assert aws.registered("busy=")
    assert "post_to_connection failed" in caplog.text


def test_endpoint_comes_from_settings_not_from_the_event(aws_push):
    assert aws_push.management.meta.endpoint_url == aws.ENDPOINT


def test_client_offline_during_three_notifications_gets_all_three_once_on_reconnect(
    lambda_entry, lambda_context, aws_push, alice, django_capture_on_commit_callbacks
):
    token = access_token_for(alice)
    lambda_entry(ws_event("connect", connection="first=", token=token), lambda_context)
    with django_capture_on_commit_callbacks(execute=True):
        seen = push_to_user(user_id=alice.pk, message={"type": "n", "i": 0}, notify=True)
    assert [f["i"] for f in aws.posted_frames("first=")] == [0]
    lambda_entry(ws_event("disconnect", connection="first="), lambda_context)

    with django_capture_on_commit_callbacks(execute=True):
        missed = [
            push_to_user(user_id=alice.pk, message={"type": "n", "i": i}, notify=True).pk
            for i in (1, 2, 3)
        ]

    lambda_entry(ws_event("connect", connection="second=", token=token), lambda_context)
    catch_up = ws_event(
        "message", connection="second=", body={"type": "catch_up", "after": seen.pk}
    )
    lambda_entry(catch_up, lambda_context)
    frames = aws.posted_frames("second=")
    assert [f["notification"]["id"] for f in frames[:-1]] == missed
    assert frames[-1] == {"type": "catch_up.done", "last_id": missed[-1], "more": False}
    # Asking again from the last id seen repeats nothing.
    again = ws_event(
        "message", connection="second=", body={"type": "catch_up", "after": missed[-1]}
    )
    lambda_entry(again, lambda_context)
    assert aws.posted_frames("second=")[len(frames) :] == [
        {"type": "catch_up.done", "last_id": missed[-1], "more": False}
    ]
    # The closed connection was not written to while the client was away.
    assert [f["i"] for f in aws.posted_frames("first=")] == [0]


def test_connect_with_a_ticket_from_the_signed_in_page(
    lambda_entry, lambda_context, aws_push, alice
):
    from apps.push.tickets import connect_ticket_issue

    event = ws_event("connect")
    event["queryStringParameters"] = {"ticket": connect_ticket_issue(user_id=alice.pk)}
    assert lambda_entry(event, lambda_context) == {"statusCode": 200}
    assert aws_push.connection_user(connection_id=CONNECTION) == alice.pk


def test_ticket_of_a_disabled_user_is_refused(lambda_entry, lambda_context, aws_push, alice):
    from apps.push.tickets import connect_ticket_issue

    event = ws_event("connect")
    event["queryStringParameters"] = {"ticket": connect_ticket_issue(user_id=alice.pk)}
    alice.is_active = False
    alice.save()
    assert lambda_entry(event, lambda_context)["statusCode"] == 401


def test_a_ticket_opens_one_connection_only(lambda_entry, lambda_context, aws_push, alice):
    from apps.push.tickets import connect_ticket_issue

    ticket = connect_ticket_issue(user_id=alice.pk)
    first = ws_event("connect")
    first["queryStringParameters"] = {"ticket": ticket}
    assert lambda_entry(first, lambda_context) == {"statusCode": 200}
    again = ws_event("connect", connection="again=")
    again["queryStringParameters"] = {"ticket": ticket}
    assert lambda_entry(again, lambda_context) == {"statusCode": 401, "body": "not_authenticated"}
    assert not aws.registered("again=")
    assert aws_push.connections_of(user_id=alice.pk) == [CONNECTION]


# -- sessions end: every connection of the account is closed ---------------------------


def _record_management_calls(backend) -> list[tuple[str, str, bytes | None]]:
    """(operation, connection id, data) of every management API call the backend makes."""
    calls: list[tuple[str, str, bytes | None]] = []

    def record(params, model, **kwargs):
        calls.append((model.name, params["ConnectionId"], params.get("Data")))

    backend.management.meta.events.register(
        "provide-client-params.apigatewaymanagementapi.*", record
    )
    return calls


def _connect(lambda_entry, lambda_context, user, connection: str) -> None:
    event = ws_event("connect", connection=connection, token=access_token_for(user))
    assert lambda_entry(event, lambda_context) == {"statusCode": 200}


def test_signing_out_closes_and_forgets_every_connection_of_the_account(
    lambda_entry, lambda_context, aws_push, alice, bob, django_capture_on_commit_callbacks
):
    from apps.users.services import account_sign_out

    _connect(lambda_entry, lambda_context, alice, "phone=")
    _connect(lambda_entry, lambda_context, alice, "laptop=")
    _connect(lambda_entry, lambda_context, bob, "bobs=")
    calls = _record_management_calls(aws_push)
    with django_capture_on_commit_callbacks(execute=True):
        account_sign_out(user=alice)

    ended = json.dumps({"type": "session.ended"}, separators=(",", ":")).encode()
    assert sorted(calls) == sorted(
        [
            ("PostToConnection", "phone=", ended),
            ("DeleteConnection", "phone=", None),
            ("PostToConnection", "laptop=", ended),
            ("DeleteConnection", "laptop=", None),
        ]
    )
    # Each connection heard the last frame before it was closed.
    assert [c[0] for c in calls if c[1] == "phone="] == ["PostToConnection", "DeleteConnection"]
    assert aws_push.connections_of(user_id=alice.pk) == []
    assert aws_push.connections_of(user_id=bob.pk) == ["bobs="]
    message = ws_event("message", connection="phone=", body={"type": "ping"})
    assert lambda_entry(message, lambda_context) == {
        "statusCode": 403,
        "body": "unknown_connection",
    }


def test_a_connection_that_cannot_be_closed_still_leaves_the_registry(aws_push, alice, caplog):
    aws_push.connection_open(connection_id="stuck=", user_id=alice.pk)
    aws_push.connection_open(connection_id="gone=", user_id=alice.pk)
    with Stubber(aws_push.management) as stubber:
        for connection_id in aws_push.connections_of(user_id=alice.pk):
            if connection_id == "gone=":
                stubber.add_client_error(
                    "post_to_connection", service_error_code="GoneException", http_status_code=410
                )
                stubber.add_client_error(
                    "delete_connection", service_error_code="GoneException", http_status_code=410
                )
            else:
                stubber.add_response("post_to_connection", {})
                stubber.add_client_error(
                    "delete_connection",
                    service_error_code="ForbiddenException",
                    http_status_code=403,
                )
        aws_push.close(user_ids=[alice.pk])
        stubber.assert_no_pending_responses()
    assert aws_push.connections_of(user_id=alice.pk) == []
    assert "delete_connection failed" in caplog.text


def test_a_ticket_issued_before_a_sign_out_opens_nothing(
    lambda_entry, lambda_context, aws_push, alice
):
    from apps.push.tickets import connect_ticket_issue
    from apps.users.services import account_sign_out

    event = ws_event("connect")
    event["queryStringParameters"] = {"ticket": connect_ticket_issue(user_id=alice.pk)}
    account_sign_out(user=alice)
    assert lambda_entry(event, lambda_context) == {"statusCode": 401, "body": "not_authenticated"}
    assert not aws.registered(CONNECTION)


def test_a_sign_out_between_the_check_and_the_registration_refuses_the_connection(
    lambda_entry, lambda_context, aws_push, alice, monkeypatch
):
    """$connect checks the token, then registers; a sign-out committing in between found
    nothing to close, so the connection is dropped and refused."""
    from apps.users.services import account_sign_out

    token = access_token_for(alice)
    register = aws_push.connection_open

    def signed_out_meanwhile(**kwargs):
        account_sign_out(user=alice)
        register(**kwargs)

    monkeypatch.setattr(aws_push, "connection_open", signed_out_meanwhile)
    response = lambda_entry(ws_event("connect", token=token), lambda_context)
    assert response == {"statusCode": 401, "body": "not_authenticated"}
    assert not aws.registered(CONNECTION)
