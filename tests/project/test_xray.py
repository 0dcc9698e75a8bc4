"""project.xray: the recorder's app and the request middleware production installs on
Lambda in place of the SDK's (which import all of django.test)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from project.xray import XRayMiddleware
from tests.support import REPO

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


class _Capture:
    """An emitter that keeps what the recorder would send to the daemon."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send_entity(self, entity) -> None:
        self.sent.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address) -> None:
        pass


@pytest.fixture
def captured(monkeypatch):
    from aws_xray_sdk.core import xray_recorder

    capture = _Capture()
    monkeypatch.setattr(xray_recorder, "_emitter", capture)
    monkeypatch.setattr(xray_recorder, "service", "nimbus-test")  # TracingConfig's, on Lambda
    yield capture
    xray_recorder.clear_trace_entities()


def _request():
    return RequestFactory().get(
        "/healthz", HTTP_X_AMZN_TRACE_ID=TRACE, HTTP_USER_AGENT="probe/1", REMOTE_ADDR="203.0.113.9"
    )


def test_a_request_is_a_segment_with_its_http_facts(captured):
    middleware = XRayMiddleware(lambda request: HttpResponse("ok", status=203))
    middleware.in_lambda = False  # a server, not Lambda: the request is its own segment
    response = middleware(_request())
    assert response.status_code == 203
    assert response["X-Amzn-Trace-Id"].startswith("Root=1-5759e988-bd862e3fe1be46a994272793")
    (segment,) = captured.sent
    assert segment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert segment["parent_id"] == "53995c3f42cd8ad8"
    request, answer = segment["http"]["request"], segment["http"]["response"]
    assert request["url"] == "http://testserver/healthz"
    assert request["method"] == "GET"
    assert request["user_agent"] == "probe/1"
    assert request["client_ip"] == "203.0.113.9"
    assert answer["status"] == 203


def test_on_lambda_a_request_is_an_annotated_subsegment_of_the_invocation(captured):
    from aws_xray_sdk.core import xray_recorder

    middleware = XRayMiddleware(lambda request: HttpResponse("ok"))
    middleware.in_lambda = True  # Lambda's context: the invocation's segment is the parent
    parent = xray_recorder.begin_segment("invocation", sampling=1)
    middleware(_request())
    (sub,) = parent.subsegments
    assert sub.http["request"]["url"] == "http://testserver/healthz"
    assert sub.annotations["url"] == "http://testserver/healthz"
    assert sub.annotations["status"] == 200
    assert sub.annotations["method"] == "GET"


def test_an_exception_marks_the_segment_as_a_fault(captured):
    from aws_xray_sdk.core import xray_recorder

    middleware = XRayMiddleware(lambda request: HttpResponse("ok"))
    middleware.in_lambda = True
    parent = xray_recorder.begin_segment("invocation", sampling=1)
    sub = xray_recorder.begin_subsegment("request")
    middleware.process_exception(_request(), ValueError("boom"))
    assert sub.http["response"]["status"] == 500
    assert sub.fault
    assert sub.cause["exceptions"][0].type == "ValueError"
    xray_recorder.end_subsegment()
    assert parent.subsegments == [sub]


@pytest.mark.slow
def test_tracing_on_lambda_loads_neither_django_test_nor_the_sdks_django_settings():
    """The SDK's Django app and middleware import django.test (tens of ms a cold start);
    nor does start-up load cryptography (encrypted fields) or filetype (uploads)."""
    from tests.project.production_env import production_env

    env = production_env(
        AWS_LAMBDA_FUNCTION_NAME="nimbus-prod",
        LAMBDA_TASK_ROOT=str(REPO),
        _X_AMZN_TRACE_ID=TRACE,
    )
    code = (
        "import json, sys, django; django.setup(); "
        "from django.core.handlers.wsgi import WSGIHandler; WSGIHandler(); "
        "from aws_xray_sdk.core import xray_recorder; "
        "print(json.dumps([sorted(m for m in ('django.test', 'aws_xray_sdk.ext.django.conf', "
        "'cryptography', 'filetype') "
        "if m in sys.modules), xray_recorder.service, xray_recorder.stream_sql, "
        "'aws_xray_sdk.ext.django.db' in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded, service, stream_sql, db_patched = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == []
    assert service == "nimbus-prod" or service.startswith("nimbus-")
    assert stream_sql is False
    assert db_patched
