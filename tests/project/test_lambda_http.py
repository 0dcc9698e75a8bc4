"""Nimbus's API Gateway adapter answers exactly as Zappa's handler would, without boto3.

Every event below goes through Nimbus's Lambda entry and, as the reference, through
Zappa 0.63's real ``LambdaHandler``; the two answers must be equal, key for key. The
views (``tests/project/http_echo_urls.py``) echo what Django received, so a difference in
the WSGI environ shows up as a difference in the body.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_aws_event
from tests.support import fresh_python

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
EXECUTE_API = "abc123.execute-api.us-east-1.amazonaws.com"


def v1(
    method: str = "GET",
    path: str = "/echo/",
    *,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    multi: dict[str, list[str]] | None = None,
    body: str | None = None,
    b64: bool = False,
    host: str | None = EXECUTE_API,
    authorizer: dict[str, Any] | None = None,
    user_arn: str | None = None,
) -> dict[str, Any]:
    event = load_aws_event("apigw_rest_v1_healthz")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = path
    event["requestContext"]["path"] = f"/dev{path}"
    single = dict(event["headers"])
    del single["Host"]
    if host:
        single["Host"] = host
    single.update(headers or {})
    event["headers"] = single
    event["multiValueHeaders"] = {k: [v] for k, v in single.items()} | (multi or {})
    if query:
        event["multiValueQueryStringParameters"] = query
        event["queryStringParameters"] = {k: v[-1] for k, v in query.items()}
    event["body"] = body
    event["isBase64Encoded"] = b64
    if authorizer:
        event["requestContext"]["authorizer"] = authorizer
    event["requestContext"]["identity"]["userArn"] = user_arn
    return event


def v2(
    method: str = "GET",
    raw_path: str = "/echo/",
    *,
    stage: str = "$default",
    raw_query: str = "",
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    body: str | None = None,
    b64: bool = False,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event = load_aws_event("apigw_http_v2_healthz")
    event["rawPath"] = raw_path
    event["rawQueryString"] = raw_query
    event["queryStringParameters"] = None
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = raw_path
    event["requestContext"]["stage"] = stage
    event["headers"] = {**event["headers"], **(headers or {})}
    if cookies is None:
        event.pop("cookies")
    else:
        event["cookies"] = cookies
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = b64
    if authorizer:
        event["requestContext"]["authorizer"] = authorizer
    return event


def alb(path: str = "/echo/", query: dict[str, str] | None = None) -> dict[str, Any]:
    """An Application Load Balancer target event (single-value headers, lower-case)."""
    return {
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
                "targetgroup/lambda-279XGJDqGZ5rsrHC2Fjr/49e9d65c45c6791a"
            }
        },
        "httpMethod": "GET",
        "path": path,
        "queryStringParameters": query or {},
        "headers": {
            "accept": "text/html",
            "host": "lambda-alb-123578498.us-east-1.elb.amazonaws.com",
            "user-agent": "curl/7.79.1",
            "x-forwarded-for": "72.12.164.125",
            "x-forwarded-port": "80",
            "x-forwarded-proto": "http",
            # ALB has no request id of its own; the caller's keeps the answers comparable
            "x-request-id": "alb-request-1",
        },
        "body": "",
        "isBase64Encoded": False,
    }


FORM = "name=Ada+Lovelace&tag=a&tag=b"
BINARY = base64.b64encode(bytes(range(256))).decode()

CASES: dict[str, dict[str, Any]] = {
    # the fixtures as API Gateway sends them
    "fixture-rest-v1": load_aws_event("apigw_rest_v1_healthz"),
    "fixture-http-v2": load_aws_event("apigw_http_v2_healthz"),
    "fixture-http-v2-404": load_aws_event("apigw_http_v2_api_missing"),
    # REST v1: the stage prefix, hosts, query strings, client address
    "v1-execute-api-host": v1(query={"a": ["1", "2"], "b": ["ü & x"]}),
    "v1-custom-domain": v1(host="files.example.com"),
    "v1-console-test-no-headers": v1(host=None, headers={}),
    "v1-cloudfront-forwarded-for": v1(
        headers={"X-Forwarded-For": "10.9.9.9, 198.51.100.7, 130.176.1.1"}
    ),
    "v1-quoted-path": v1(path="/echo/", query={"q": ["a/b?c"]}),
    "v1-cookies-as-several-lines": v1(multi={"Cookie": ["a=1", "b=2"]}),
    # REST v1: bodies
    "v1-post-form": v1(
        "POST",
        body=FORM,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    "v1-post-json": v1("POST", body='{"x": 1}', headers={"Content-Type": "application/json"}),
    "v1-post-binary-base64": v1(
        "PUT", body=BINARY, b64=True, headers={"Content-Type": "application/octet-stream"}
    ),
    "v1-delete-no-body": v1("DELETE"),
    "v1-authorizer": v1(authorizer={"principalId": "user-42", "claims": {"sub": "42"}}),
    "v1-iam-caller": v1(user_arn="arn:aws:iam::123456789012:user/ops"),
    # REST v1: responses
    "v1-binary-response": v1(path="/binary/"),
    "v1-gzip-response": v1(path="/gzip/"),
    "v1-svg-response": v1(path="/svg/"),
    "v1-utf8-response": v1(path="/text/"),
    "v1-two-cookies": v1(path="/cookies/"),
    "v1-redirect-under-stage": v1(path="/moved/"),
    "v1-redirect-custom-domain": v1(path="/moved/", host="files.example.com"),
    "v1-no-content": v1(path="/empty/"),
    "v1-django-404": v1(path="/nowhere/"),
    "v1-api-405": v1("DELETE", path="/api/status"),
    # HTTP API v2
    "v2-default-stage": v2(raw_query="a=1&a=2&b=%C3%BC"),
    "v2-named-stage-in-path": v2(raw_path="/dev/echo/", stage="dev"),
    "v2-stage-only-a-prefix": v2(raw_path="/devices/echo/", stage="dev"),
    "v2-cookies": v2(cookies=["a=1", "b=two"]),
    "v2-post-form": v2(
        "POST", body=FORM, headers={"content-type": "application/x-www-form-urlencoded"}
    ),
    "v2-post-binary-base64": v2(
        "POST", body=BINARY, b64=True, headers={"content-type": "application/octet-stream"}
    ),
    "v2-lambda-authorizer": v2(authorizer={"lambda": {"principalId": "user-7"}}),
    "v2-iam-authorizer": v2(authorizer={"iam": {"userArn": "arn:aws:iam::1:user/x"}}),
    "v2-binary-response": v2(raw_path="/binary/"),
    "v2-gzip-response": v2(raw_path="/gzip/"),
    "v2-two-cookies": v2(raw_path="/cookies/"),
    "v2-redirect": v2(raw_path="/dev/moved/", stage="dev"),
    "v2-no-content": v2(raw_path="/empty/"),
    # Application Load Balancer
    "alb-echo": alb(query={"q": "1234ABCD"}),
    "alb-binary": alb("/binary/"),
}


@pytest.fixture
def echo_site(settings):
    settings.ROOT_URLCONF = "tests.project.http_echo_urls"
    settings.ALLOWED_HOSTS = [
        *settings.ALLOWED_HOSTS,
        "files.example.com",
        ".elb.amazonaws.com",
        ".execute-api.us-east-1.amazonaws.com",
        "zappa",
    ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_nimbus_answers_http_events_as_zappa_does(name, lambda_entry, lambda_context, echo_site):
    from django.urls import set_script_prefix
    from zappa.handler import LambdaHandler

    event = CASES[name]
    ours = lambda_entry(copy.deepcopy(event), lambda_context)
    theirs = LambdaHandler.lambda_handler(copy.deepcopy(event), lambda_context)
    set_script_prefix("/")
    assert ours == _without_zappas_repeated_cookies(theirs, ours)
    assert ours["statusCode"] < 500


def _without_zappas_repeated_cookies(theirs: dict[str, Any], ours: dict[str, Any]) -> dict:
    """Zappa 0.63's answer with the one thing Nimbus deliberately does not copy.

    ``ZappaWSGIMiddleware`` means to rename ``Set-Cookie`` to ``set-cookie`` but keeps the
    original too (its filter's ``isinstance(name, str) or ...`` is true for every header),
    so each cookie goes out twice, and ``multiValueHeaders`` lists each four times under
    both spellings. Nimbus sends each once, as ``set-cookie``.
    """
    theirs = copy.deepcopy(theirs)
    if theirs.get("cookies"):
        assert theirs["cookies"] == ours["cookies"] * 2
        theirs["cookies"] = ours["cookies"]
    multi = theirs.get("multiValueHeaders") or {}
    if "Set-Cookie" in multi:
        assert (
            multi.pop("Set-Cookie")
            == multi["set-cookie"]
            == ours["multiValueHeaders"]["set-cookie"] * 2
        )
        multi["set-cookie"] = ours["multiValueHeaders"]["set-cookie"]
        theirs["headers"].pop("Set-Cookie")
    return theirs


def _echo(response: dict[str, Any]) -> dict[str, Any]:
    assert response["statusCode"] == 200
    assert not response.get("isBase64Encoded")
    return json.loads(response["body"])


def test_what_django_sees_behind_api_gateway(lambda_entry, lambda_context, echo_site):
    """The parity above could hide a shared mistake; these are the facts on their own."""
    seen = _echo(lambda_entry(CASES["v1-execute-api-host"], lambda_context))
    assert seen["script_name"] == "/dev"
    assert seen["path"] == "/dev/echo/"
    assert seen["reverse"] == "/dev/echo/"
    assert seen["absolute"] == f"https://{EXECUTE_API}/dev/echo/?a=1&a=2&b=%C3%BC+%26+x"
    assert seen["query"] == {"a": ["1", "2"], "b": ["ü & x"]}
    assert seen["secure"] is True

    seen = _echo(lambda_entry(CASES["v1-cloudfront-forwarded-for"], lambda_context))
    assert seen["remote_addr"] == "198.51.100.7"  # the client, before CloudFront's address

    seen = _echo(lambda_entry(CASES["v1-post-form"], lambda_context))
    assert seen["post"] == {"name": ["Ada Lovelace"], "tag": ["a", "b"]}
    assert seen["content_length"] == str(len(FORM))

    seen = _echo(lambda_entry(CASES["v2-post-binary-base64"], lambda_context))
    assert seen["content_length"] == "256"

    seen = _echo(lambda_entry(CASES["v2-cookies"], lambda_context))
    assert seen["cookies"] == {"a": "1", "b": "two"}

    seen = _echo(lambda_entry(CASES["v2-stage-only-a-prefix"], lambda_context))
    assert (seen["script_name"], seen["path"]) == ("", "/devices/echo/")


def test_responses_in_the_shapes_api_gateway_expects(lambda_entry, lambda_context, echo_site):
    response = lambda_entry(CASES["v1-binary-response"], lambda_context)
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == bytes(range(256))

    response = lambda_entry(CASES["v1-two-cookies"], lambda_context)
    cookies = response["multiValueHeaders"]["set-cookie"]
    assert [c.split("=")[0] for c in cookies] == ["first", "second"]

    response = lambda_entry(CASES["v2-two-cookies"], lambda_context)
    assert [c.split("=")[0] for c in response["cookies"]] == ["first", "second"]
    assert "set-cookie" not in {k.lower() for k in response["headers"]}

    response = lambda_entry(CASES["v1-no-content"], lambda_context)
    assert response["statusCode"] == 204
    assert "body" not in response

    response = lambda_entry(CASES["alb-echo"], lambda_context)
    assert response["statusDescription"] == "200 OK"
    assert response["isBase64Encoded"] is False


ORIGIN_SECRET = "origin-proof-" + "z" * 36
FORGED = "6.6.6.6"  # what a caller writes into X-Forwarded-For to pass for someone else


@pytest.mark.parametrize(
    ("case", "proof", "seen_as"),
    [
        # through CloudFront: the client's address, the one CloudFront appended
        ("v1", ORIGIN_SECRET, "198.51.100.7"),
        ("v2", ORIGIN_SECRET, "198.51.100.7"),
        # straight at API Gateway, forging the header: API Gateway's view of the caller
        ("v1", None, "203.0.113.10"),
        ("v1", "a guess", "203.0.113.10"),
        ("v2", None, "205.255.255.176"),
    ],
)
def test_forwarded_for_is_trusted_only_from_cloudfront(
    lambda_entry, lambda_context, echo_site, settings, case, proof, seen_as
):
    settings.NIMBUS_ORIGIN_SECRET = ORIGIN_SECRET
    forwarded = f"{FORGED}, 198.51.100.7, 130.176.1.1"
    headers = {"X-Forwarded-For": forwarded}
    if proof is not None:
        headers["X-Nimbus-Origin"] = proof
    if case == "v1":
        event = v1(headers=headers)
    else:
        event = v2(headers={k.lower(): v for k, v in headers.items()})
    seen = _echo(lambda_entry(event, lambda_context))
    assert seen["remote_addr"] == seen_as
    assert "X-Nimbus-Origin" not in seen["headers"]  # the proof never reaches Django


def test_without_an_origin_secret_the_proof_header_is_still_dropped(
    lambda_entry, lambda_context, echo_site
):
    seen = _echo(lambda_entry(v1(headers={"X-Nimbus-Origin": "anything"}), lambda_context))
    assert "X-Nimbus-Origin" not in seen["headers"]


def test_a_failure_outside_the_view_is_a_logged_500_in_the_error_shape(
    lambda_entry, lambda_context, echo_site, caplog
):
    from django.core.signals import request_started

    def broken_receiver(**kwargs: Any) -> None:
        raise RuntimeError("a broken signal receiver")

    request_started.connect(broken_receiver)
    try:
        response = lambda_entry(CASES["v2-default-stage"], lambda_context)
    finally:
        request_started.disconnect(broken_receiver)
    assert response["statusCode"] == 500
    assert json.loads(response["body"])["error"]["code"] == "internal_error"
    assert "Unhandled error serving /echo/" in caplog.text


def test_zappa_settings_use_only_what_the_adapter_implements():
    from project.checks import check_zappa_settings

    assert check_zappa_settings() == []


def test_a_zappa_setting_the_adapter_does_not_implement_fails_the_check(settings, tmp_path):
    from project.checks import check_zappa_settings

    stages = json.loads((REPO / "zappa_settings.json").read_text())
    stages["prod"]["base_path"] = "v1"
    stages["dev"]["binary_support"] = False
    (tmp_path / "zappa_settings.json").write_text(json.dumps(stages))
    settings.BASE_DIR = tmp_path
    errors = check_zappa_settings()
    assert [e.id for e in errors] == ["nimbus.E004", "nimbus.E004"]
    assert {e.msg.split("'")[1] + ":" + e.msg.split("'")[3] for e in errors} == {
        "prod:base_path",
        "dev:binary_support",
    }


_PROBE = """
import json, sys
from project.entrypoints import lambda_handler
events = json.loads(sys.argv[1])
statuses = [lambda_handler(e, None)["statusCode"] for e in events]
print(json.dumps({"statuses": statuses, "aws": sorted(
    m for m in ("boto3", "botocore", "s3transfer") if m in sys.modules)}))
"""


def test_http_events_do_not_import_boto3():
    events = [load_aws_event("apigw_rest_v1_healthz"), load_aws_event("apigw_http_v2_healthz")]
    for event in events:  # the test settings' host, so nothing is refused for its name
        event["headers"] = {k: v for k, v in event["headers"].items() if k.lower() != "host"}
        event["headers"]["host" if "version" in event else "Host"] = "localhost"
        event.pop("multiValueHeaders", None)
    events.append(v2(raw_path="/api/status", headers={"host": "localhost"}))
    result = fresh_python(_PROBE, json.dumps(events))
    assert result == {"statuses": [200, 200, 200], "aws": []}
