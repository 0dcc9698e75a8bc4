"""Security headers, the Content Security Policy, production hardening and tracing switches."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.project.production_env import production_env
from tests.project.test_settings import REPO


def test_pages_carry_a_content_security_policy(client):
    response = client.get("/healthz")
    policy = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ):
        assert directive in policy
    assert "'unsafe-eval'" not in policy
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0]


def test_a_template_using_the_nonce_gets_it_in_the_policy(rf):
    from django.middleware.csp import ContentSecurityPolicyMiddleware
    from django.template import engines
    from django.template.response import TemplateResponse

    template = engines["django"].from_string("<script nonce='{{ csp_nonce }}'>1</script>")
    request = rf.get("/")
    middleware = ContentSecurityPolicyMiddleware(lambda r: TemplateResponse(r, template).render())
    response = middleware(request)
    nonce = response.content.decode().split("nonce='", 1)[1].split("'", 1)[0]
    assert len(nonce) >= 16
    assert f"'nonce-{nonce}'" in response["Content-Security-Policy"]


def _production_settings(**extra: str) -> dict:
    env = production_env(
        NIMBUS_UPLOADS_BUCKET="nimbus-prod-uploads",
        WEBSOCKET_API_ENDPOINT="https://ws123.execute-api.us-east-1.amazonaws.com/prod",
        **extra,
    )
    code = textwrap.dedent(
        """
        import json
        from django.conf import settings
        names = ["SECURE_CSP", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE",
                 "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER", "MIDDLEWARE",
                 "INSTALLED_APPS", "NIMBUS_TELEMETRY", "SECURE_SSL_REDIRECT"]
        print(json.dumps({n: getattr(settings, n, None) for n in names}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_production_is_hardened_and_lets_the_browser_reach_bucket_and_websocket():
    values = _production_settings()
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    csp = values["SECURE_CSP"]
    assert "https://nimbus-prod-uploads.s3.us-east-1.amazonaws.com" in csp["connect-src"]
    assert "wss://ws123.execute-api.us-east-1.amazonaws.com" in csp["connect-src"]
    assert csp["form-action"] == [
        "'self'",
        "https://nimbus-prod-uploads.s3.us-east-1.amazonaws.com",
    ]
    assert values["NIMBUS_TELEMETRY"]["default"]["BACKEND"] == "project.telemetry.EmfMetrics"
    # Off Lambda nothing is patched for X-Ray.
    assert "project.xray.TracingConfig" not in values["INSTALLED_APPS"]


@pytest.mark.slow
def test_on_lambda_requests_are_traced_with_xray():
    values = _production_settings(AWS_LAMBDA_FUNCTION_NAME="nimbus-prod")
    assert "project.xray.TracingConfig" in values["INSTALLED_APPS"]
    assert values["MIDDLEWARE"][0] == "project.xray.XRayMiddleware"
    values = _production_settings(AWS_LAMBDA_FUNCTION_NAME="nimbus-prod", NIMBUS_TRACING="false")
    assert "project.xray.TracingConfig" not in values["INSTALLED_APPS"]


@pytest.mark.slow
def test_tracing_on_lambda_loads_no_boto3_at_start_up():
    """X-Ray's app (project.xray) patches Django's database and templates at start-up; boto3 waits for
    the first AWS session (project.backends.aws_session) instead."""
    env = production_env(
        AWS_LAMBDA_FUNCTION_NAME="nimbus-prod",
        LAMBDA_TASK_ROOT=str(REPO),
        _X_AMZN_TRACE_ID="Root=1-5e66d96f-7491f09xmpl79d18acf3d050;Parent=3c6b3d1a2f9e4a5b;Sampled=0",
    )
    code = (
        "import json, sys, django; django.setup(); "
        "print(json.dumps(['aws_xray_sdk.ext.django.db' in sys.modules, "
        "sorted(m for m in ('boto3', 'botocore') if m in sys.modules)]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True, []]
