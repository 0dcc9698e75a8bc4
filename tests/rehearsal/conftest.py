"""The rehearsal's fixtures: the package, emulated AWS with the stack in it, the Lambda boxes.

All module-scoped and built once: ``make rehearsal`` runs this package alone (about 2 to 4
minutes, most of it `make package`). ``NIMBUS_PACKAGE_ZIP=build/nimbus-dev.zip`` reuses a
package built by ``make package`` while iterating; CI builds it fresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests import support
from tests.rehearsal.http import Browser
from tests.rehearsal.lambda_service import LambdaService, XRayDaemon, patch_moto
from tests.rehearsal.world import FUNCTION, REGION, World, stand_up

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow]
#: What the boxes print (the function's logs, as CloudWatch would hold them).
LOGS = REPO / "build" / "rehearsal"


@pytest.fixture(scope="session")
def package_zip(tmp_path_factory) -> Path:
    """`make package` for the dev stage (infra.package.build), built once."""
    from infra.package import build

    if prebuilt := os.environ.get("NIMBUS_PACKAGE_ZIP"):
        return Path(prebuilt).resolve()
    return build("dev", tmp_path_factory.mktemp("package") / "nimbus-dev.zip").path


@pytest.fixture(scope="session")
def lambda_root(package_zip, tmp_path_factory) -> Path:
    """``task/`` (the unzipped package, /var/task) and ``runtime/`` (/var/runtime)."""
    from infra.package import provide_runtime

    root = tmp_path_factory.mktemp("lambda")
    with zipfile.ZipFile(package_zip) as archive:
        archive.extractall(root / "task")
    provide_runtime(root / "runtime")
    return root


def _base_python() -> str:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    candidate = Path(sys.base_prefix) / "bin" / f"python{version}"
    return str(candidate if candidate.exists() else Path(sys.base_prefix) / "bin" / "python3")


@pytest.fixture(scope="session")
def database(tmp_path_factory) -> dict[str, str]:
    """The database secret's content: a fresh PostgreSQL database when ``DATABASE_URL``
    names a server (CI), a new SQLite file otherwise."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        path = tmp_path_factory.mktemp("db") / "rehearsal.sqlite3"
        return {"DATABASE_URL": f"sqlite:///{path}"}
    import psycopg

    parts = urlsplit(url)
    name = "nimbus_rehearsal"
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    return {
        "engine": "postgres",
        "username": parts.username or "postgres",
        "password": parts.password or "",
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "dbname": name,
    }


def query(database: dict[str, str], sql: str) -> list[tuple[Any, ...]]:
    """Rows of the function's database (to check what no API shows, e.g. execution rows)."""
    if "DATABASE_URL" in database:
        import sqlite3

        with contextlib.closing(
            sqlite3.connect(database["DATABASE_URL"].removeprefix("sqlite:///"))
        ) as db:
            return list(db.execute(sql))
    import psycopg

    with psycopg.connect(
        host=database["host"], port=database["port"], user=database["username"],
        password=database["password"], dbname=database["dbname"],
    ) as db:  # fmt: skip
        return list(db.execute(sql))


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    with support.moto_server() as url:
        # moto's Step Functions runs ASL only when asked before machines are created, and
        # reaches moto's Lambda through MOTO_PORT.
        requests.post(
            f"{url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        ).raise_for_status()
        previous = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = url.rsplit(":", 1)[1]
        try:
            yield url
        finally:
            if previous is None:
                os.environ.pop("MOTO_PORT", None)
            else:
                os.environ["MOTO_PORT"] = previous


@pytest.fixture(scope="session")
def aws_session(aws_endpoint):
    import boto3

    return boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
    ), aws_endpoint


def rendered_template() -> tuple[dict[str, Any], dict[str, str]]:
    """The dev template ``infra deploy`` submits once the function exists, and its
    parameters (a second deploy: ``FunctionReady=true``, Zappa's REST API as the origin)."""
    from infra.inputs import collect
    from infra.template import build

    template = json.loads(build(collect("dev")).template.to_json())
    parameters = {
        "FunctionReady": "true",
        "ApiOriginDomain": f"rehearsal.execute-api.{REGION}.amazonaws.com",
        "ApiOriginPath": "/dev",
    }
    return template, parameters


@pytest.fixture(scope="session")
def world(aws_session, database) -> World:
    session, endpoint = aws_session
    # boto3 in this process (the harness, moto's own clients) talks to the moto server.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    client_session = _EndpointSession(session, endpoint)
    template, parameters = rendered_template()
    return stand_up(endpoint, client_session, template, parameters, database=database)


class _EndpointSession:
    """A boto3 session whose clients all go to the moto server."""

    def __init__(self, session: Any, endpoint: str) -> None:
        self._session, self._endpoint = session, endpoint
        self.region_name = REGION

    def client(self, name: str, **kwargs: Any) -> Any:
        return self._session.client(name, endpoint_url=self._endpoint, **kwargs)


def function_environment(world: World, lambda_root: Path, xray: str, tmp: Path) -> dict[str, str]:
    """What the function's process gets on AWS: the stage's variables as the Zappa overlay
    sets them (``infra outputs``), and Lambda's own."""
    from infra.deploy import write_zappa_overlay

    overlay = write_zappa_overlay(
        REPO / "zappa_settings.json", "dev", world.environment, None, tmp / "overlay.json"
    )
    stage = json.loads(overlay.read_text())["dev"]
    task = str(lambda_root / "task")
    return {
        **stage["aws_environment_variables"],
        # Lambda's reserved variables.
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(stage.get("memory_size", 1024)),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/06/[$LATEST]rehearsal",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "LAMBDA_TASK_ROOT": task,
        "LAMBDA_RUNTIME_DIR": str(lambda_root / "runtime"),
        "AWS_XRAY_DAEMON_ADDRESS": xray,
        "_AWS_XRAY_DAEMON_ADDRESS": xray.split(":")[0],
        "_AWS_XRAY_DAEMON_PORT": xray.split(":")[1],
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_ACCESS_KEY_ID": "ASIAREHEARSAL",
        "AWS_SECRET_ACCESS_KEY": "rehearsal",
        "AWS_SESSION_TOKEN": "rehearsal",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "TMPDIR": str(tmp),
        # The emulated cloud: every AWS API is the moto server; no profile is read.
        "AWS_ENDPOINT_URL": world.endpoint,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@pytest.fixture(scope="session")
def xray() -> Iterator[XRayDaemon]:
    daemon = XRayDaemon()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def lam(world, lambda_root, xray, tmp_path_factory) -> Iterator[LambdaService]:
    """The Lambda service with the package deployed; migrations run first, through
    ``zappa manage`` as a release does."""
    tmp = tmp_path_factory.mktemp("function")
    env = function_environment(world, lambda_root, xray.address, tmp)
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in LOGS.glob("box-*.log"):
        old.unlink()
    service = LambdaService(
        world, _base_python(), lambda_root / "task", lambda_root / "runtime", env, LOGS
    )
    with patch_moto(service):
        try:
            for command in ("migrate --noinput", "createcachetable"):
                service.invoke({"manage": command})
            yield service
        finally:
            service.stop()


EMAIL = "ana@example.com"
PASSWORD = "Rehearsal-pass-1!"


@pytest.fixture(scope="session")
def origin_secret(world: World) -> str:
    manager = world.session.client("secretsmanager")
    return json.loads(manager.get_secret_value(SecretId="nimbus-dev/origin")["SecretString"])[
        "NIMBUS_ORIGIN_SECRET"
    ]


@pytest.fixture(scope="session")
def browser(lam, origin_secret) -> Browser:
    return Browser(lam, origin_secret)


PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(scope="session")
def uploaded(browser, lam) -> dict:
    """A PDF (it needs an operator's approval) posted straight to S3 with the policy."""
    response = browser.post(
        "/api/files/uploads",
        {"name": "report.pdf", "content_type": "application/pdf", "size": len(PDF)},
    )
    assert response.status == 201, response.body
    upload = response.json()
    assert upload["url"].startswith(lam.world.endpoint), upload["url"]  # S3, not the function
    sent = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("report.pdf", PDF, "application/pdf")},
        timeout=30,
    )
    assert sent.status_code in (200, 201, 204), sent.text
    return dict(upload)
