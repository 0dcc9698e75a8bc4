"""Metrics (memory, local, EMF), redaction of log lines, correlation ids, tracing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.test import RequestFactory

from project import telemetry, tracing
from project.logging import JsonFormatter, RequestIdFilter, bind
from project.models import MetricSample
from tests.conftest import load_aws_event
from tests.support import fresh_python

REPO = Path(__file__).resolve().parents[2]

JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwidG9rZW5fdXNlIjoiYWNjZXNzIn0."
    "c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
)


def _format(record_kwargs: dict, *, exc_info=None) -> dict:
    """One record through the same filters and formatter as settings.LOGGING's console."""
    record = logging.makeLogRecord(record_kwargs)
    record.exc_info = exc_info
    for f in (RequestIdFilter(), telemetry.RedactingFilter()):
        f.filter(record)
    return json.loads(JsonFormatter().format(record))


def test_metric_reaches_the_backend_and_a_log_line(settings, caplog):
    caplog.set_level(logging.INFO, logger="nimbus.metrics")
    backend = telemetry.metrics.default
    backend.samples.clear()
    telemetry.metric(telemetry.UPLOADS_REJECTED, reason="too_large")
    telemetry.metric(telemetry.WORKFLOW_DURATION, 12.5, "Milliseconds", outcome="succeeded")
    assert backend.samples == [
        ("UploadsRejected", 1.0, "Count", {"reason": "too_large"}),
        ("WorkflowDuration", 12.5, "Milliseconds", {"outcome": "succeeded"}),
    ]
    line = next(r for r in caplog.records if getattr(r, "metric", "") == "UploadsRejected")
    assert line.dimensions == {"reason": "too_large"}


def test_a_bad_metric_call_never_raises(caplog):
    backend = telemetry.metrics.default
    backend.samples.clear()
    telemetry.metric("X", unit="Parsecs")
    telemetry.metric("X", a=1, b=2, c=3, d=4, e=5, f=6)
    assert backend.samples == []
    assert [r.message for r in caplog.records] == ["Could not record metric X"] * 2


def test_timed_records_duration_and_outcome():
    backend = telemetry.metrics.default
    backend.samples.clear()
    with telemetry.timed(telemetry.WORKFLOW_DURATION, workflow="review"):
        pass
    with pytest.raises(RuntimeError), telemetry.timed(telemetry.WORKFLOW_DURATION):
        raise RuntimeError("boom")
    (n1, v1, u1, d1), (_, _, _, d2) = backend.samples
    assert (n1, u1, d1) == (
        "WorkflowDuration",
        "Milliseconds",
        {"workflow": "review", "outcome": "succeeded"},
    )
    assert v1 >= 0
    assert d2 == {"outcome": "failed"}


@pytest.mark.django_db(transaction=True)
def test_local_backend_keeps_rows_and_waits_for_the_commit(settings):
    settings.NIMBUS_TELEMETRY = {"default": {"BACKEND": "project.telemetry.LocalMetrics"}}
    telemetry.metric(telemetry.AUTH_FAILURES, reason="bad_password")
    assert MetricSample.objects.count() == 1
    with pytest.raises(ValueError, match="rolled back"), transaction.atomic():  # noqa: PT012
        telemetry.metric(telemetry.AUTH_FAILURES, reason="bad_password")
        raise ValueError("rolled back")
    with transaction.atomic():
        telemetry.metric(telemetry.UPLOADS_STARTED)
        assert MetricSample.objects.count() == 1
    assert MetricSample.objects.count() == 2
    summary = telemetry.metric_summary(hours=1)
    assert [(r["name"], r["dimensions"], r["count"], r["total"]) for r in summary] == [
        ("AuthFailures", {"reason": "bad_password"}, 1, 1.0),
        ("UploadsStarted", {}, 1, 1.0),
    ]


@pytest.mark.django_db
def test_old_local_samples_are_pruned(settings):
    from datetime import timedelta

    from django.utils import timezone

    MetricSample.objects.create(
        name="Old", value=1, unit="Count", recorded_at=timezone.now() - timedelta(hours=100)
    )
    MetricSample.objects.create(name="New", value=1, unit="Count", recorded_at=timezone.now())
    assert telemetry.metric_samples_prune() == 1
    assert list(MetricSample.objects.values_list("name", flat=True)) == ["New"]


def test_emf_backend_writes_cloudwatch_embedded_metric_format(settings, capsys):
    settings.NIMBUS_TELEMETRY = {"default": {"BACKEND": "project.telemetry.EmfMetrics"}}
    settings.NIMBUS_STAGE = "prod"
    telemetry.metric(telemetry.EVENTS_DEAD_LETTERED, 2, handler="files.thumbnail")
    telemetry.metric(telemetry.UPLOADS_STARTED)
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    directive = first["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Nimbus"
    assert directive["Dimensions"] == [["Stage"], ["Stage", "handler"]]
    assert directive["Metrics"] == [{"Name": "EventsDeadLettered", "Unit": "Count"}]
    assert first["EventsDeadLettered"] == [2.0]  # EMF allows a list of values
    assert (first["Stage"], first["handler"]) == ("prod", "files.thumbnail")
    assert second["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Stage"]]


# --- redaction ---------------------------------------------------------------------------


def test_jwts_bearer_tokens_and_passwords_in_messages_are_redacted():
    line = _format(
        {
            "name": "nimbus.test",
            "msg": "auth %s with Authorization: Bearer %s password=%s",
            "args": (JWT, "opaque-token-value-123", "hunter2hunter2"),
            "levelno": logging.INFO,
            "levelname": "INFO",
        }
    )
    assert JWT not in line["message"]
    assert "opaque-token-value-123" not in line["message"]
    assert "hunter2hunter2" not in line["message"]
    assert line["message"] == (
        "auth [REDACTED] with Authorization: Bearer [REDACTED] password=[REDACTED]"
    )


def test_sensitive_extras_and_nested_values_are_redacted():
    line = _format(
        {
            "name": "nimbus.test",
            "msg": "sign-in",
            "password": "hunter2hunter2",
            "headers": {"Authorization": "Bearer abc", "Accept": "text/html"},
            "payload": {"refresh_token": "r-123", "email": "a@example.com", "nested": [JWT]},
            "file_data": b"\x89PNG...",
            "content": "the whole file",
            "content_type": "image/png",
            "status_code": 401,
        }
    )
    assert line["password"] == "[REDACTED]"
    assert line["headers"] == {"Authorization": "[REDACTED]", "Accept": "text/html"}
    assert line["payload"] == {
        "refresh_token": "[REDACTED]",
        "email": "a@example.com",
        "nested": ["[REDACTED]"],
    }
    assert line["file_data"] == "[REDACTED]"
    assert line["content"] == "[REDACTED]"
    assert line["content_type"] == "image/png"
    assert line["status_code"] == 401


def test_exception_text_is_redacted():
    try:
        raise ValueError(f"could not verify {JWT}")
    except ValueError:
        import sys

        line = _format({"name": "nimbus.test", "msg": "failed"}, exc_info=sys.exc_info())
    assert "ValueError: could not verify [REDACTED]" in line["exception"]
    assert JWT not in json.dumps(line)


def test_objects_in_extras_are_rendered_redacted():
    request = RequestFactory().get(f"/api/files/?access_token={JWT}")
    line = _format({"name": "django.request", "msg": "Not Found", "request": request})
    assert JWT not in line["request"]


def test_presigned_url_signatures_are_redacted():
    url = "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F&X-Amz-Signature=abcdef0123&X-Amz-Security-Token=IQoJ"
    text = telemetry.redact_text(url)
    assert "abcdef0123" not in text
    assert "IQoJ" not in text
    assert "AKIA" not in text


# --- correlation ids ---------------------------------------------------------------------


def test_lambda_correlation_ids_name_the_event_not_its_payload():
    event = load_aws_event("eventbridge_custom")
    ids = telemetry.lambda_correlation_ids("eventbridge", event)
    assert ids["event_id"] == event["id"]
    assert ids["detail_type"] == event["detail-type"]
    http = load_aws_event("apigw_rest_v1_healthz")
    assert (
        telemetry.lambda_correlation_ids("http_v1", http)["apigw_request_id"]
        == (http["requestContext"]["requestId"])
    )
    step = {"workflow_step": "files.inspect", "execution_arn": "arn:aws:states:x", "input": {}}
    assert telemetry.lambda_correlation_ids("workflow_step", step) == {
        "execution_arn": "arn:aws:states:x",
        "workflow_step": "files.inspect",
    }
    assert telemetry.lambda_correlation_ids("sqs", None) == {}


@pytest.mark.django_db
def test_signed_in_users_id_is_bound_to_log_lines(django_user_model):
    user = django_user_model.objects.create_user("ops@example.com", "pw-123456789")
    seen = {}

    def view(request):
        from project.logging import current_context

        request.user.is_authenticated  # noqa: B018  (what any view using the user does)
        seen.update(current_context())
        from django.http import HttpResponse

        return HttpResponse()

    request = RequestFactory().get("/")
    request.user = user
    with bind(request_id="r1"):
        telemetry.UserContextMiddleware(view)(request)
    assert seen == {"request_id": "r1", "user_id": user.pk}
    seen.clear()
    request.user = AnonymousUser()
    with bind(request_id="r2"):
        telemetry.UserContextMiddleware(view)(request)
    assert seen == {"request_id": "r2"}


@pytest.mark.django_db
def test_a_request_that_never_looks_at_the_user_loads_no_session_or_user(
    client, django_user_model, django_assert_num_queries
):
    user = django_user_model.objects.create_user("ops@example.com", "pw-123456789")
    client.force_login(user)
    with django_assert_num_queries(1):  # the health check's own SELECT 1
        assert client.get("/healthz").status_code == 200


def test_annotate_outside_a_bound_block_does_nothing():
    from project.logging import current_context

    telemetry.annotate(user_id=1)
    assert current_context() == {}


# --- tracing -----------------------------------------------------------------------------


def test_tracing_is_off_outside_lambda(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert not tracing.tracing_enabled()
    tracing.configure_tracing()
    assert not tracing._patched
    with tracing.traced("nothing"):
        pass


def test_traced_opens_an_xray_subsegment_on_lambda(monkeypatch):
    from aws_xray_sdk.core import xray_recorder

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "nimbus-dev")
    segment = xray_recorder.begin_segment("nimbus-test", sampling=1)  # no sampling poller
    try:
        with tracing.traced("## eventbridge", kind="eventbridge", event_id="e-1"):
            pass
        (sub,) = segment.subsegments
        assert sub.name == "## eventbridge"
        assert sub.annotations == {"kind": "eventbridge", "event_id": "e-1"}
    finally:
        xray_recorder.clear_trace_entities()


_XRAY_PROBE = """
import json, sys
from project.aws import aws_session
from project import tracing
before = tracing._patched
client = aws_session(region_name="us-east-1").client("sqs")
print(json.dumps([before, tracing._patched, "aws_xray_sdk.ext.botocore.patch" in sys.modules]))
"""


@pytest.mark.parametrize(
    ("function_name", "expected"),
    [("nimbus-dev", [False, True, True]), (None, [False, False, False])],
)
def test_the_first_aws_session_on_lambda_patches_botocore_for_xray(function_name, expected):
    """In a fresh interpreter: patching botocore is global and would outlive this test."""
    env = {"AWS_LAMBDA_FUNCTION_NAME": function_name}
    assert fresh_python(_XRAY_PROBE, env=env) == expected
