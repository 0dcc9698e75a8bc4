"""`make package`: the lean zip, unzipped, serves /healthz from a fresh process.

The process runs the base interpreter isolated (``-I -S``: no site-packages, no user
paths, no PYTHON* variables) with only the unzipped package and a stand-in for Lambda's
``/var/runtime`` (boto3, botocore, s3transfer) on ``sys.path``, production settings, the
environment the stack outputs provide and a temporary SQLite database.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra.inputs import collect
from infra.package import LIMIT_MB, manifest_of, over_limit, provide_runtime, static_manifest
from infra.template import build as build_stack

# Database-independent: run once, in the SQLite pass.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def unzipped(package, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lambda")
    with zipfile.ZipFile(package.path) as archive:
        archive.extractall(root / "task")
    provide_runtime(root / "runtime")
    return root


def _base_python() -> str:
    candidate = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return str(candidate if candidate.exists() else Path(sys.base_prefix) / "bin" / "python3")


def _function_environment(tmp_path: Path) -> dict[str, str]:
    """What the function gets on AWS: the stack's outputs (placeholders) plus secrets."""
    env = {
        variable: f"test-{variable.lower()}" for variable in build_stack(collect("dev")).environment
    }
    env.pop("NIMBUS_PARAMETERS_PATH")  # nothing to fetch: every value is in the environment
    env.pop("NIMBUS_SECRETS_ARN")
    env.update(
        NIMBUS_STAGE="dev",
        NIMBUS_SITE_URL="https://nimbus.example.com",
        ALLOWED_HOSTS="nimbus.example.com,.execute-api.us-east-1.amazonaws.com",
        SECRET_KEY="package-test-" + "k" * 40,
        DATABASE_URL=f"sqlite:///{tmp_path / 'lambda.sqlite3'}",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        DJANGO_SETTINGS_MODULE="project.settings.production",
        PYTHONDONTWRITEBYTECODE="1",
        # Lambda's own variables, Active tracing included: production code that only runs
        # "on Lambda" (X-Ray patching) is tested only when they are set.
        AWS_LAMBDA_FUNCTION_NAME="nimbus-dev",
        LAMBDA_TASK_ROOT=str(tmp_path),
        AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
        AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000",
        _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        PATH="/usr/bin:/bin",
        LANG="C.UTF-8",
    )
    return env


def test_package_is_within_its_18_mib_cap_and_reports_its_sizes(package):
    assert LIMIT_MB == 18
    assert package.zipped_bytes <= LIMIT_MB * 2**20
    assert over_limit(package) is None
    assert package.unzipped_bytes > package.zipped_bytes
    assert "MiB zipped" in package.summary()


def test_make_package_fails_above_the_cap(package, capsys):
    """`make package` exits 1 with a coded message once the zip outgrows the cap."""
    from infra.package import main

    just_under = package.zipped_bytes / 2**20 - 0.01
    problem = over_limit(package, just_under)
    assert problem is not None
    assert problem.startswith("package_too_large: ")
    assert f"over the {just_under:g} MiB cap" in problem
    assert over_limit(package, package.zipped_bytes / 2**20) is None  # the cap is inclusive
    assert main(["dev", "--output", str(package.path), "--check-only", "--limit-mb", "1"]) == 1
    assert "package_too_large" in capsys.readouterr().err
    assert main(["dev", "--output", str(package.path), "--check-only"]) == 0


def test_trimmed_metadata_keeps_what_importlib_metadata_reads(unzipped):
    """Each shipped METADATA lost its long description, not its name, version or
    requirements."""
    import importlib.metadata as metadata

    shipped = list(metadata.distributions(path=[str(unzipped / "task")]))
    assert len(shipped) > 20
    for dist in shipped:
        installed = metadata.distribution(dist.metadata["Name"])
        assert dist.version == installed.version
        assert (dist.requires or []) == (installed.requires or [])
        text = dist.read_text("METADATA") or ""
        assert "\n\n" not in text.strip(), dist.metadata["Name"]  # headers only, no body


def test_package_leaves_out_what_lambda_provides_or_never_imports(package):
    with zipfile.ZipFile(package.path) as archive:
        names = set(archive.namelist())
    tops = {name.split("/", 1)[0] for name in names}
    for absent in (
        "boto3", "botocore", "s3transfer", "troposphere", "cfnlint", "pip", "setuptools",
        "moto", "pytest", "_pytest", "mypy", "infra", "tests", "daphne", "twisted",
    ):  # fmt: skip
        assert absent not in tops, absent
    assert {"project", "apps", "django", "zappa", "zappa_settings.py"} <= tops
    for dropped in (  # by path (infra/package.py DROP_PATTERNS), each with its reason there
        "pydantic/v1/__init__.pyc", "cffi/__init__.pyc", "pycparser/__init__.pyc",
        "zappa/cli.pyc", "zappa/core.pyc", "werkzeug/debug/__init__.pyc",
        "authlib/jose/__init__.pyc", "django/contrib/postgres/__init__.pyc",
        "django/conf/locale/fr/formats.pyc",
    ):  # fmt: skip
        assert dropped not in names, dropped
    for kept in (  # what the function imports from the same distributions
        "pydantic/main.pyc", "_cffi_backend.cpython-313-x86_64-linux-gnu.so",
        "zappa/handler.pyc", "werkzeug/wrappers/response.pyc", "charset_normalizer/md.pyc",
        "authlib/integrations/requests_client/__init__.pyc", "django/test/signals.pyc",
        "django/conf/locale/en/formats.pyc", "aws_xray_sdk/ext/botocore/patch.pyc",
    ):  # fmt: skip
        assert kept in names, kept


def test_bytecode_is_trusted_without_checking_timestamps(package):
    """Every .pyc is hash-based and unchecked (PEP 552 flags == 0b01)."""
    with zipfile.ZipFile(package.path) as archive:
        pycs = [n for n in archive.namelist() if n.endswith(".pyc")]
        assert "project/__pycache__/urls.cpython-313.pyc" in pycs
        assert "django/__init__.pyc" in pycs  # third-party: bytecode only
        assert "django/__init__.py" not in archive.namelist()
        sample = [*pycs[:: max(1, len(pycs) // 200)], "project/__pycache__/urls.cpython-313.pyc"]
        for name in sample:
            header = archive.read(name)[:8]
            assert int.from_bytes(header[4:8], "little") == 0b01, name


def _production_modules() -> list[str]:
    """Modules production code imports off the /healthz path: each app's AWS backends and
    entry glue, the AWS configuration and telemetry, the Powertools parts they use."""
    names = ["project.secrets", "project.telemetry"]
    for app in sorted(p.name for p in (REPO / "apps").iterdir() if (p / "apps.py").exists()):
        for module in ("backends/aws.py", "entry.py", "handlers.py", "steps.py"):
            if (REPO / "apps" / app / module).exists():
                names.append(f"apps.{app}.{module[:-3].replace('/', '.')}")
    return [
        *names,
        "aws_lambda_powertools.utilities.parameters",
        "aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch",
        "aws_xray_sdk.ext.django.db",
        "aws_xray_sdk.ext.django.templates",
        "project.xray",
        "storages.backends.s3",
        "psycopg",
    ]


def _serve(unzipped: Path, event: Path, env: dict[str, str], *modules: str) -> Any:
    completed = subprocess.run(
        [
            _base_python(),
            "-I",
            "-S",
            "-B",
            str(HERE / "run_package.py"),
            str(unzipped / "task"),
            str(unzipped / "runtime"),
            str(event),
            *modules,
        ],
        cwd=unzipped / "task",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_package_carries_the_static_manifest_of_its_own_static_files(package, tmp_path):
    carried = manifest_of(package.path)
    assert carried == json.loads(static_manifest(tmp_path).read_text())["paths"]
    assert carried["nimbus/site.css"] != "nimbus/site.css"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unzipped_package_renders_a_page_with_static_urls_and_no_bucket(
    package, unzipped, tmp_path
):
    """Production settings name the package's hashed files; S3 is unreachable, so a
    manifest read from the bucket would fail the page."""
    event = json.loads((REPO / "tests" / "aws_events" / "apigw_rest_v1_healthz.json").read_text())
    event.update(path="/", pathParameters={"proxy": ""})
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers["Accept"] = "text/html" if headers is event["headers"] else ["text/html"]
    (tmp_path / "home.json").write_text(json.dumps(event))
    env = {
        **_function_environment(tmp_path),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}",
    }
    response = _serve(unzipped, tmp_path / "home.json", env)["response"]
    assert response["statusCode"] == 200, response
    hashed = manifest_of(package.path)["nimbus/site.css"]
    assert f'href="https://nimbus.example.com/static/{hashed}"' in response["body"]


def test_unzipped_package_serves_healthz_from_a_fresh_isolated_process(unzipped, tmp_path):
    result = _serve(
        unzipped,
        REPO / "tests" / "aws_events" / "apigw_rest_v1_healthz.json",
        _function_environment(tmp_path),
        *_production_modules(),
    )
    response = result["response"]
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"]) == {
        "status": "ok",
        "stage": "dev",
        "checks": {"database": "ok"},
    }
    assert result["missing"] == {}  # production code finds everything it imports
    assert result["outside"] == []  # nothing came from the development venv


def test_zappa_excludes_name_no_folder_inside_what_ships():
    """Zappa's ``exclude`` drops every file or folder of that name at any depth: a bare
    ``botocore`` there once removed ``aws_xray_sdk/ext/botocore`` and with it every traced
    AWS call on Lambda. Top-level packages are left out by ``exclude_glob`` (a path)."""
    import fnmatch
    import importlib.metadata as metadata
    from pathlib import PurePosixPath

    from infra.package import DROP_PATTERNS, runtime_distributions

    settings = json.loads((REPO / "zappa_settings.json").read_text())["base"]
    runtime = runtime_distributions()
    hidden = []
    for dist in metadata.distributions():
        name = dist.metadata["Name"].lower().replace("_", "-")
        if name not in runtime:
            continue
        for file in dist.files or []:
            path = str(file)
            if any(fnmatch.fnmatch(path, pattern) for pattern in DROP_PATTERNS):
                continue  # the package drops it anyway
            parts = PurePosixPath(path).parts
            names = [*parts[1:-1], *(parts[-1:] if path.endswith((".py", ".so")) else [])]
            for pattern in settings["exclude"]:
                if any(fnmatch.fnmatch(part, pattern) for part in names):
                    hidden.append(f"{pattern!r} hides {path}")
    assert hidden == [], hidden[:10]
