"""Set-up of the unzipped Nimbus package for the bench, and the throughput figures.

Everything here runs inside fresh interpreters whose ``sys.path`` is the unzipped package
plus the Lambda runtime's own packages, on production settings with a SQLite database
file (no AWS is reached: the figures are for Nimbus's own code paths).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EVENTS = REPO / "tests" / "aws_events"


def production_env(work: Path) -> dict[str, str]:
    """What the function gets on AWS (the stack's environment outputs, as placeholders),
    with a SQLite file for the database; nothing here reaches AWS."""
    import django

    # The stack's inputs come from the apps' registries (workflow definitions, receivers):
    # without Django set up they are empty, and so is the environment they export.
    # Only for this set-up: the bench's subprocesses choose their own settings.
    chosen = "DJANGO_SETTINGS_MODULE" in os.environ
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings.test")
    try:
        django.setup()
    finally:
        if not chosen:
            del os.environ["DJANGO_SETTINGS_MODULE"]
    from infra.inputs import collect
    from infra.template import build as build_stack

    env = {name: f"bench-{name.lower()}" for name in build_stack(collect("dev")).environment}
    for pointer in ("NIMBUS_PARAMETERS_PATH", "NIMBUS_SECRETS_ARN"):
        env.pop(pointer, None)  # every value is given directly: nothing to fetch
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings.production",
        SECRET_KEY="bench-" + "k" * 50,
        DATABASE_URL=f"sqlite:///{work / 'bench.sqlite3'}",
        ALLOWED_HOSTS=".execute-api.us-east-1.amazonaws.com",
        NIMBUS_STAGE="bench",
        NIMBUS_SITE_URL="https://nimbus.example.com",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        # What the Lambda runtime sets: production then traces with X-Ray, as deployed
        # (xray_tracing). The trace is not sampled, so nothing is sent to a daemon.
        AWS_LAMBDA_FUNCTION_NAME="nimbus-bench",
        LAMBDA_TASK_ROOT="/var/task",
        _X_AMZN_TRACE_ID="Root=1-5e66d96f-7491f09xmpl79d18acf3d050;Parent=3c6b3d1a2f9e4a5b;Sampled=0",
    )
    return env


def run_in_package(
    package: Path, runtime: Path, env: dict[str, str], code: str, timeout: int = 600
) -> str:
    """Run ``code`` in a fresh interpreter inside the package; returns its stdout."""
    boot = (
        "import os, sys; pkg, rt = sys.argv[1], sys.argv[2]; os.chdir(pkg); "
        "sys.path.insert(0, pkg); sys.path.append(rt); exec(compile(sys.argv[3], '<bench>', 'exec'))"
    )
    proc = subprocess.run(
        [sys_python(), "-I", "-S", "-B", "-c", boot, str(package), str(runtime), code],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench step failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


def sys_python() -> str:
    return str(
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )


_SETUP = """
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
user, _ = get_user_model().objects.get_or_create(email="bench@example.com")
session = SessionStore()
session["_auth_user_id"] = str(user.pk)
session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
session["_auth_user_hash"] = user.get_session_auth_hash()
session.create()
print("SESSION " + session.session_key)
"""


def prepare_nimbus(package: Path, work: Path, runtime: Path) -> dict[str, str]:
    """Migrate the bench database and sign in a user; returns the environment to use."""
    env = production_env(work)
    out = run_in_package(package, runtime, env, _SETUP)
    key = next(line.split()[1] for line in out.splitlines() if line.startswith("SESSION "))
    (work / "session_key").write_text(key)
    return env


def authenticated_event(work: Path, env: dict[str, str]) -> Path:
    """A REST v1 event for ``GET /api/me`` carrying the bench user's session cookie."""
    event = json.loads((EVENTS / "apigw_rest_v1_healthz.json").read_text())
    key = (work / "session_key").read_text()
    event["path"] = "/api/me"
    event["pathParameters"] = {"proxy": "api/me"}
    event["requestContext"]["path"] = "/dev/api/me"
    event["headers"]["Cookie"] = f"sessionid={key}"
    event["multiValueHeaders"]["Cookie"] = [f"sessionid={key}"]
    path = work / "api_me_event.json"
    path.write_text(json.dumps(event))
    return path


_SQS = """
import json, time, uuid
from project.entrypoints import lambda_handler, _ensure_django
_ensure_django()
import nimbus_bench_receivers as receivers
batches = int(BATCHES)


def record(n):
    body = {"version": "0", "id": str(uuid.uuid4()), "detail-type": receivers.PING,
            "source": "nimbus.bench", "account": "123456789012", "time": "2026-11-27T09:00:00Z",
            "region": "us-east-1", "resources": [], "detail": {"n": n}}
    return {"messageId": str(uuid.uuid4()), "receiptHandle": "bench", "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "eventSource": "aws:sqs", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:nimbus-bench-bench"}


events = [{"Records": [record(b * 10 + i) for i in range(10)]} for b in range(batches)]
lambda_handler(events[0], None)  # warm: the first batch pays for imports
start = time.perf_counter()
for event in events[1:]:
    result = lambda_handler(event, None)
    assert result == {"batchItemFailures": []}, result
elapsed = time.perf_counter() - start
assert len(receivers.received) == batches * 10, len(receivers.received)
print("BENCH-RESULT " + json.dumps({"events_per_s_lambda": round((batches - 1) * 10 / elapsed, 1)}))
"""


def _result(out: str) -> dict[str, Any]:
    line = next(x for x in out.splitlines() if x.startswith("BENCH-RESULT "))
    return dict(json.loads(line.removeprefix("BENCH-RESULT ")))


def measure(
    package: Path, env: dict[str, str], runtime: Path, work: Path, *, batches: int = 51
) -> dict[str, Any]:
    """Events per second: SQS batches of ten through the Lambda entry (the unzipped package,
    production settings). The local bus and engine: :func:`local_measure`."""
    extra = work / "bench-extra"
    extra.mkdir(exist_ok=True)
    shutil.copy(HERE / "receivers.py", extra / "nimbus_bench_receivers.py")
    code = f"import sys; sys.path.append({str(extra)!r})\n" + _SQS.replace("BATCHES", str(batches))
    return _result(run_in_package(package, runtime, env, code))


def local_measure(work: Path, events: int = 1000, executions: int = 300) -> dict[str, Any]:
    """The local bus and engine on a SQLite file and, when ``DATABASE_URL`` names a
    PostgreSQL server, on a fresh database there (keys with ``_pg``)."""
    results = _local(
        work, {"NIMBUS_BENCH_DB": str(work / "local-bench.sqlite3")}, events, executions
    )
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        with _scratch_postgres(url) as bench_url:
            on_pg = _local(
                work,
                {"NIMBUS_BENCH_DB": "unused", "NIMBUS_BENCH_DATABASE_URL": bench_url},
                events,
                executions,
            )
        results.update({f"{key}_pg": value for key, value in on_pg.items()})
    return results


def _local(work: Path, db_env: dict[str, str], events: int, executions: int) -> dict[str, Any]:
    local = subprocess.run(
        [sys.executable, str(HERE / "local_throughput.py"), str(events), str(executions)],
        env={**os.environ, **db_env},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if local.returncode != 0:
        raise RuntimeError(
            f"local throughput failed:\n{local.stdout[-2000:]}\n{local.stderr[-4000:]}"
        )
    return _result(local.stdout)


@contextlib.contextmanager
def _scratch_postgres(url: str) -> Iterator[str]:
    """A database of its own on the server of ``url``, dropped afterwards."""
    import psycopg

    base = url.rsplit("/", 1)[0]
    name = f"nimbus_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: What a short load run in `make bench` copies into bench/results.json.
LOAD_KEYS = (
    "load_users",
    "load_requests",
    "load_requests_per_s",
    "load_p50_ms",
    "load_p95_ms",
    "load_p99_ms",
    "load_uploads",
    "lambda_records_per_s",
    "load_errors",
    "load_events_lost",
    "load_events_doubled",
)


def load_measure(work: Path, *, users: int = 10, run_time: int = 30) -> dict[str, Any]:
    """A short `make load` (bench/load.py); its keys for results.json."""
    out = work / "load.json"
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / "load.py"),
            "--users",
            str(users),
            "--run-time",
            str(run_time),
            "--lambda-processes",
            "2",
            "--lambda-batches",
            "50",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=run_time + 900,
    )
    if not out.exists():
        raise RuntimeError(f"the load run failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    shutil.copy(out, HERE / "load.json")
    found = json.loads(out.read_text())
    return {key: found[key] for key in LOAD_KEYS if key in found}
