"""Production settings: required values, and `check --deploy` clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "project.settings.production",
    "SECRET_KEY": "p" * 20 + "-production-secret-key-" + "q" * 30,
    "DATABASE_URL": "sqlite:////tmp/nimbus-check-deploy.sqlite3",
    "ALLOWED_HOSTS": "abc123.execute-api.us-east-1.amazonaws.com,nimbus.example.com",
    "NIMBUS_STAGE": "prod",
    "NIMBUS_SITE_URL": "https://nimbus.example.com",
    "AWS_REGION": "us-east-1",
    "NIMBUS_KMS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "EVENT_BUS_NAME": "nimbus-prod",
    "EVENTS_QUEUE_URL_PREFIX": "https://sqs.us-east-1.amazonaws.com/123456789012/nimbus-prod-",
    "TASKS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/nimbus-prod-tasks",
    "NIMBUS_STATE_MACHINE_PREFIX": "arn:aws:states:us-east-1:123456789012:stateMachine:nimbus-prod-",
    "NIMBUS_UPLOADS_BUCKET": "nimbus-prod-uploads",
    "NIMBUS_STATIC_BUCKET": "nimbus-prod-static",
    "PUSH_CONNECTIONS_TABLE": "nimbus-prod-push-connections",
    "WEBSOCKET_API_ENDPOINT": "https://ws123.execute-api.us-east-1.amazonaws.com/prod",
    "COGNITO_USER_POOL_ID": "us-east-1_Abc123XyZ",
    "COGNITO_CLIENT_ID": "4example1clientid2abcdefgh",
    "COGNITO_REGION": "us-east-1",
    "COGNITO_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc123XyZ",
    "COGNITO_JWKS_URL": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc123XyZ/.well-known/jwks.json",
    "NIMBUS_ORIGIN_SECRET": "o" * 48,
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={
            **clean,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_production_settings_name_every_missing_variable():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k not in {"SECRET_KEY", "DATABASE_URL"}}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "missing or empty: SECRET_KEY, DATABASE_URL" in result.stderr


@pytest.mark.slow
def test_check_deploy_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_the_multipart_ceiling_is_a_setting_of_the_stage():
    """DEPLOY.md's advice for inspections that outrun the function's timeout."""
    code = (
        "from django.conf import settings; "
        "print(settings.NIMBUS_UPLOADS['default']['OPTIONS']['multipart_max_bytes'])"
    )
    env = {**PRODUCTION_ENV, "NIMBUS_UPLOAD_MULTIPART_MAX_BYTES": str(2 * 1024**3)}
    result = _manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(2 * 1024**3)


@pytest.mark.slow
def test_check_deploy_warns_when_requests_cannot_be_proven_to_come_through_cloudfront():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "NIMBUS_ORIGIN_SECRET"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "nimbus.W005" in result.stdout + result.stderr


@pytest.mark.slow
def test_the_stacks_websocket_domain_and_identity_providers_reach_the_pages():
    script = (
        "from django.conf import settings\n"
        "from apps.push.backends import push_backend\n"
        "from apps.users.federation import federation_providers\n"
        "print(push_backend().websocket_url)\n"
        "print(','.join(federation_providers()))\n"
        "print(' '.join(settings.SECURE_CSP['connect-src']))\n"
    )
    env = {
        **PRODUCTION_ENV,
        "NIMBUS_WEBSOCKET_URL": "wss://ws.nimbus.example.com",
        "COGNITO_HOSTED_UI_DOMAIN": "nimbus-prod-123456789012.auth.us-east-1.amazoncognito.com",
        # What the stack's output says with Google and SAML on and OIDC off.
        "COGNITO_IDENTITY_PROVIDERS": "Google,,Corporate",
    }
    done = _manage("shell", "--no-imports", "-c", script, env=env)
    assert done.returncode == 0, done.stderr
    url, providers, connect = done.stdout.strip().splitlines()[-3:]
    assert url == "wss://ws.nimbus.example.com"
    assert providers == "Google,Corporate"
    assert "wss://ws.nimbus.example.com" in connect.split()
    assert "wss://ws123.execute-api.us-east-1.amazonaws.com" in connect.split()
