"""The Lambda entry, fed real AWS payloads, with Zappa's real handler behind it."""

from __future__ import annotations

import base64
import json

import pytest

from project.entrypoints import RefusedEventError, UnknownEventError
from project.entrypoints.shapes import EventKind, classify
from tests.conftest import load_aws_event

pytestmark = pytest.mark.django_db


def _body(response: dict) -> dict:
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body)


def test_rest_v1_event_is_served_by_django_through_zappa(lambda_entry, lambda_context):
    response = lambda_entry(load_aws_event("apigw_rest_v1_healthz"), lambda_context)
    assert response["statusCode"] == 200
    assert _body(response)["status"] == "ok"


def test_http_api_v2_event_is_served_by_django_through_zappa(lambda_entry, lambda_context):
    response = lambda_entry(load_aws_event("apigw_http_v2_healthz"), lambda_context)
    assert response["statusCode"] == 200
    assert _body(response)["checks"] == {"database": "ok"}


def test_api_error_shape_survives_the_lambda_path(lambda_entry, lambda_context):
    response = lambda_entry(load_aws_event("apigw_http_v2_api_missing"), lambda_context)
    assert response["statusCode"] == 404
    assert _body(response)["error"]["code"] == "not_found"


def test_raw_command_is_refused(lambda_entry, lambda_context, caplog):
    with pytest.raises(RefusedEventError, match="raw_command"):
        lambda_entry(load_aws_event("zappa_raw_command"), lambda_context)
    assert "Refused a raw_command invocation" in caplog.text


def test_manage_command_off_the_allow_list_is_refused(lambda_entry, lambda_context):
    with pytest.raises(RefusedEventError, match="'shell' is not on"):
        lambda_entry(load_aws_event("zappa_manage_shell"), lambda_context)


def test_dotted_command_off_the_allow_list_is_refused(lambda_entry, lambda_context):
    with pytest.raises(RefusedEventError, match=r"'os\.system'"):
        lambda_entry({"command": "os.system"}, lambda_context)


def test_allowed_manage_command_runs_through_zappa(lambda_entry, lambda_context):
    result = lambda_entry({"manage": "check"}, lambda_context)
    assert result is not None


@pytest.mark.parametrize(
    "event",
    [{}, {"hello": "world"}, {"Records": [{"eventSource": "aws:kinesis"}]}, [], "text"],
)
def test_unknown_shapes_raise_instead_of_returning_none(lambda_entry, lambda_context, event):
    with pytest.raises(UnknownEventError):
        lambda_entry(event, lambda_context)


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [
        ("apigw_rest_v1_healthz", EventKind.HTTP_V1),
        ("apigw_http_v2_healthz", EventKind.HTTP_V2),
        ("sqs_batch", EventKind.SQS),
        ("eventbridge_custom", EventKind.EVENTBRIDGE),
        ("eventbridge_s3_object_created", EventKind.EVENTBRIDGE),
        ("eventbridge_sfn_status_change", EventKind.EVENTBRIDGE),
        ("eventbridge_scheduled", EventKind.SCHEDULE),
        ("dynamodb_stream", EventKind.DYNAMODB_STREAM),
        ("stepfunctions_task", EventKind.WORKFLOW_STEP),
        ("stepfunctions_task_token", EventKind.WORKFLOW_STEP),
        ("websocket_connect", EventKind.WEBSOCKET),
        ("websocket_message", EventKind.WEBSOCKET),
        ("websocket_disconnect", EventKind.WEBSOCKET),
        ("cognito_post_confirmation", EventKind.COGNITO_TRIGGER),
        ("zappa_raw_command", EventKind.RAW_COMMAND),
        ("zappa_manage_migrate", EventKind.MANAGE),
    ],
)
def test_real_payloads_are_classified_by_shape(fixture, kind):
    assert classify(load_aws_event(fixture)) is kind


def test_kind_without_a_configured_route_fails_loudly(lambda_entry, lambda_context, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.NIMBUS_LAMBDA_ROUTES = {}
    with pytest.raises(ImproperlyConfigured, match="No handler for eventbridge"):
        lambda_entry(load_aws_event("eventbridge_custom"), lambda_context)


def test_handler_returning_none_is_an_error(lambda_entry, lambda_context, settings):
    settings.NIMBUS_LAMBDA_ROUTES = {"eventbridge": "tests.project.test_lambda_entry.returns_none"}
    with pytest.raises(RuntimeError, match="returned nothing"):
        lambda_entry(load_aws_event("eventbridge_custom"), lambda_context)


def returns_none(event, context):
    return None
