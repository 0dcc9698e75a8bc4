"""Production configuration from Parameter Store and Secrets Manager (moto)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from secrets import token_urlsafe

import boto3
import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from moto import mock_aws
from moto.server import ThreadedMotoServer

from project import secrets
from tests.project.production_env import production_env
from tests.project.test_settings import REPO

DB_SECRET = {
    "engine": "postgres",
    "host": "nimbus.proxy-abc.us-east-1.rds.amazonaws.com",
    "port": 5432,
    "username": "nimbus",
    "password": "p@ss/word:with?chars",
    "dbname": "nimbus",
}
APP_SECRET = {"SECRET_KEY": token_urlsafe(48), "SIGNING_KEY": token_urlsafe(32)}


@pytest.fixture(autouse=True)
def _fresh_cache():
    secrets.clear_cache()
    yield
    secrets.clear_cache()


def _seed(ssm, sm) -> tuple[str, str]:
    ssm.put_parameter(
        Name="/nimbus/prod/ALLOWED_HOSTS",
        Value="abc123.execute-api.us-east-1.amazonaws.com,nimbus.example.com",
        Type="String",
    )
    ssm.put_parameter(
        Name="/nimbus/prod/site/url", Value="https://nimbus.example.com", Type="String"
    )
    ssm.put_parameter(
        Name="/nimbus/prod/NIMBUS_SITE_URL", Value="https://nimbus.example.com", Type="String"
    )
    ssm.put_parameter(Name="/nimbus/other/SECRET_KEY", Value="not-ours", Type="SecureString")
    db = sm.create_secret(Name="nimbus/prod/db", SecretString=json.dumps(DB_SECRET))["ARN"]
    app = sm.create_secret(Name="nimbus/prod/app", SecretString=json.dumps(APP_SECRET))["ARN"]
    return db, app


def test_variable_names_follow_the_parameter_path():
    assert secrets.variable_name("ALLOWED_HOSTS") == "ALLOWED_HOSTS"
    assert secrets.variable_name("/cognito/pool-id") == "COGNITO_POOL_ID"


def test_database_secret_becomes_a_quoted_database_url():
    url = secrets.database_url(DB_SECRET)
    assert url == (
        "postgres://nimbus:p%40ss%2Fword%3Awith%3Fchars"
        "@nimbus.proxy-abc.us-east-1.rds.amazonaws.com:5432/nimbus"
    )


def test_unknown_database_engine_is_refused():
    with pytest.raises(ImproperlyConfigured, match="engine"):
        secrets.database_url({**DB_SECRET, "engine": "oracle"})


@mock_aws
def test_missing_values_are_filled_and_the_environment_wins():
    db, app = _seed(boto3.client("ssm"), boto3.client("secretsmanager"))
    environ = {
        "NIMBUS_PARAMETERS_PATH": "/nimbus/prod/",
        "NIMBUS_SECRETS_ARN": f"{db}, {app}",
        "NIMBUS_SITE_URL": "https://override.example.com",
    }
    filled = secrets.load_aws_configuration(environ)
    assert filled == ["ALLOWED_HOSTS", "DATABASE_URL", "SECRET_KEY", "SIGNING_KEY", "SITE_URL"]
    assert environ["NIMBUS_SITE_URL"] == "https://override.example.com"
    assert environ["SECRET_KEY"] == APP_SECRET["SECRET_KEY"]
    assert environ["DATABASE_URL"] == secrets.database_url(DB_SECRET)


@mock_aws
def test_auroras_master_user_secret_takes_the_host_the_stack_names():
    """A cluster the stack creates keeps only the user name and password in its secret;
    the function reaches it through the RDS Proxy named by NIMBUS_DATABASE_HOST."""
    managed = {"username": "nimbus", "password": "gen/erated:pw"}
    arn = boto3.client("secretsmanager").create_secret(
        Name="rds!cluster-abc", SecretString=json.dumps(managed)
    )["ARN"]
    proxy = "nimbus-dev.proxy-abc.us-east-1.rds.amazonaws.com"
    environ = {"NIMBUS_SECRETS_ARN": arn, "NIMBUS_DATABASE_HOST": proxy}
    assert secrets.load_aws_configuration(environ) == ["DATABASE_URL"]
    assert environ["DATABASE_URL"] == f"postgres://nimbus:gen%2Ferated%3Apw@{proxy}:5432/nimbus"


@mock_aws
def test_the_stacks_database_host_wins_over_the_secrets():
    arn = boto3.client("secretsmanager").create_secret(
        Name="nimbus/prod/db", SecretString=json.dumps(DB_SECRET)
    )["ARN"]
    environ = {"NIMBUS_SECRETS_ARN": arn, "NIMBUS_DATABASE_HOST": "proxy.internal"}
    secrets.load_aws_configuration(environ)
    assert "@proxy.internal:5432/nimbus" in environ["DATABASE_URL"]


@mock_aws
def test_a_database_secret_without_any_host_is_refused():
    arn = boto3.client("secretsmanager").create_secret(
        Name="rds!cluster-abc", SecretString=json.dumps({"username": "u", "password": "p"})
    )["ARN"]
    with pytest.raises(ImproperlyConfigured, match="NIMBUS_DATABASE_HOST"):
        secrets.load_aws_configuration({"NIMBUS_SECRETS_ARN": arn})


def test_nothing_is_loaded_without_pointers():
    environ: dict[str, str] = {"SECRET_KEY": "x"}
    assert secrets.load_aws_configuration(environ) == []
    assert environ == {"SECRET_KEY": "x"}


@mock_aws
def test_secret_that_is_not_a_json_object_is_refused():
    arn = boto3.client("secretsmanager").create_secret(Name="plain", SecretString='["a"]')["ARN"]
    with pytest.raises(ImproperlyConfigured, match="JSON object"):
        secrets.load_aws_configuration({"NIMBUS_SECRETS_ARN": arn})


@mock_aws
def test_rotating_values_are_cached_for_max_age(monkeypatch):
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/nimbus/prod/SIGNING_KEY", Value="old", Type="SecureString")
    monkeypatch.setenv("NIMBUS_PARAMETERS_PATH", "/nimbus/prod/")
    monkeypatch.delenv("SIGNING_KEY", raising=False)
    monkeypatch.setenv("NIMBUS_CONFIG_MAX_AGE", "1")
    assert secrets.config_value("SIGNING_KEY") == "old"
    ssm.put_parameter(
        Name="/nimbus/prod/SIGNING_KEY", Value="new", Type="SecureString", Overwrite=True
    )
    assert secrets.config_value("SIGNING_KEY") == "old"  # served from the cache
    time.sleep(1.1)
    assert secrets.config_value("SIGNING_KEY") == "new"
    with pytest.raises(ImproperlyConfigured, match="MISSING"):
        secrets.config_value("MISSING")
    assert secrets.config_value("MISSING", default="d") == "d"


@pytest.fixture
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        yield url
    finally:
        # Backends are process-wide in moto: leave nothing for the next test.
        requests.post(f"{url}/moto-api/reset", timeout=10)
        server.stop()


PRINT_SETTINGS = textwrap.dedent(
    """
    import json, django
    django.setup()
    from django.conf import settings
    print(json.dumps({
        "secret_key": settings.SECRET_KEY,
        "allowed_hosts": settings.ALLOWED_HOSTS,
        "db_host": settings.DATABASES["default"]["HOST"],
        "db_password": settings.DATABASES["default"]["PASSWORD"],
    }))
    """
)


@pytest.mark.slow
def test_production_settings_start_from_parameters_and_secrets(moto_server):
    """A fresh process gets SECRET_KEY, DATABASE_URL, ALLOWED_HOSTS only from moto."""
    ssm = boto3.client("ssm", endpoint_url=moto_server)
    sm = boto3.client("secretsmanager", endpoint_url=moto_server)
    db, app = _seed(ssm, sm)
    from_store = {"SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS", "NIMBUS_SITE_URL"}
    env = production_env(
        without=from_store,
        AWS_ENDPOINT_URL=moto_server,
        NIMBUS_PARAMETERS_PATH="/nimbus/prod/",
        NIMBUS_SECRETS_ARN=f"{db},{app}",
    )
    shown = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    values = json.loads(shown.stdout.strip().splitlines()[-1])
    assert values == {
        "secret_key": APP_SECRET["SECRET_KEY"],
        "allowed_hosts": ["abc123.execute-api.us-east-1.amazonaws.com", "nimbus.example.com"],
        "db_host": DB_SECRET["host"],
        "db_password": DB_SECRET["password"],
    }
    # Start-up checks too; the database itself is not reached by `check --deploy`.
    checked = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert APP_SECRET["SECRET_KEY"] not in checked.stdout + checked.stderr


@pytest.mark.slow
def test_production_settings_fail_when_the_store_lacks_a_value(moto_server):
    ssm = boto3.client("ssm", endpoint_url=moto_server)
    ssm.put_parameter(Name="/nimbus/prod/ALLOWED_HOSTS", Value="nimbus.example.com", Type="String")
    env = production_env(
        without={"SECRET_KEY", "ALLOWED_HOSTS"},
        AWS_ENDPOINT_URL=moto_server,
        NIMBUS_PARAMETERS_PATH="/nimbus/prod/",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0, result.stdout
    assert "missing or empty: SECRET_KEY" in result.stderr, result.stderr[-2000:]
