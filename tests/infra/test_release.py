"""`manage.py infra release <stage>`: package → collectstatic → zappa update/deploy →
migrate, against a stack and a static bucket held by moto (in-process).

The upload to the static bucket and the checks around it run for real. The Zappa calls
(``zappa update|deploy`` and ``zappa manage``, which moto cannot serve: see
PLATFORM-FACTS.md) go through ``Command._zappa``, replaced by a recorder that notes what
the bucket held when the code switched.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from moto import mock_aws

from infra.inputs import collect
from infra.package import static_manifest
from infra.release import bucket_keys
from infra.template import build
from project.management.commands.infra import Command
from tests.infra.test_deploy_moto import moto_subset

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev_template() -> dict[str, Any]:
    return moto_subset(json.loads(build(collect("dev")).template.to_json()))


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """The real static manifest of this checkout, as `make package` computes it."""
    return static_manifest(tmp_path_factory.mktemp("collected"))


def _zip(path: Path, manifest: dict[str, Any] | None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project/__init__.py", "")
        if manifest is not None:
            archive.writestr("staticfiles.json", json.dumps(manifest))
    return path


class Zappa:
    """Stands in for the Zappa CLI: records each call and the static bucket's keys then.

    ``deploy``/``update`` do to moto's Lambda what Zappa does with ``snap_start``: the
    function's code from the ``-z`` zip, a published version, the alias moved to it
    (``moves_alias=False`` plays a Zappa that leaves the alias behind).
    """

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.keys_at_switch: set[str] | None = None
        self.exit_codes: dict[str, int] = {}
        self.bucket = ""
        self.moves_alias = True

    def __call__(self, argv: list[str]) -> int:
        self.calls.append(argv)
        step = argv[2] if argv[0] == "manage" else argv[0]
        if argv[0] in ("update", "deploy"):
            session = boto3.Session(region_name="us-east-1")
            self.keys_at_switch = bucket_keys(session, self.bucket, "static")
            if not self.exit_codes.get(step):
                self._switch(session, argv[0], Path(argv[argv.index("-z") + 1]))
        return self.exit_codes.get(step, 0)

    def _switch(self, session: Any, verb: str, package: Path) -> None:
        client = session.client("lambda")
        if verb == "deploy":
            role = session.client("iam").get_role(RoleName="nimbus-dev-function")["Role"]["Arn"]
            version = client.create_function(
                FunctionName="nimbus-dev",
                Runtime="python3.13",
                Role=role,
                Handler="project.entrypoints.lambda_handler",
                Code={"ZipFile": package.read_bytes()},
                Publish=True,
            )["Version"]
            client.create_alias(
                FunctionName="nimbus-dev", Name="snapstart", FunctionVersion=version
            )
            return
        version = client.update_function_code(
            FunctionName="nimbus-dev", ZipFile=package.read_bytes(), Publish=True
        )["Version"]
        if self.moves_alias:
            client.update_alias(
                FunctionName="nimbus-dev", Name="snapstart", FunctionVersion=version
            )


@pytest.fixture
def stage(tmp_path, settings, dev_template, manifest, monkeypatch):
    """A checkout with the dev stack deployed, its overlay written and a small package."""
    settings.BASE_DIR = tmp_path
    (tmp_path / "zappa_settings.json").write_text((REPO / "zappa_settings.json").read_text())
    zappa = Zappa()
    monkeypatch.setattr(Command, "_zappa", lambda self, argv: zappa(argv))
    with mock_aws():
        cf = boto3.client("cloudformation", region_name="us-east-1")
        cf.create_stack(
            StackName="nimbus-dev-infra",
            TemplateBody=json.dumps(dev_template),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        call_command("infra", "outputs", "dev")
        outputs = cf.describe_stacks(StackName="nimbus-dev-infra")["Stacks"][0]["Outputs"]
        zappa.bucket = next(
            o["OutputValue"] for o in outputs if o["OutputKey"] == "NimbusStaticBucket"
        )
        yield {
            "zappa": zappa,
            "overlay": str(tmp_path / "build" / "infra" / "zappa_settings.json"),
            "package": _zip(tmp_path / "nimbus-dev.zip", json.loads(manifest.read_text())),
            "manifest": json.loads(manifest.read_text())["paths"],
        }


def _release(package: Path, *extra: str) -> None:
    call_command("infra", "release", "dev", "--skip-package", "-z", str(package), *extra)


def _progress(out: str) -> list[str]:
    return [line.split("  ", 1)[0] for line in out.splitlines() if line.startswith("[")]


def _uploaded(stage: dict[str, Any]) -> set[str]:
    return bucket_keys(boto3.Session(region_name="us-east-1"), stage["zappa"].bucket, "static")


def test_a_first_release_uploads_the_files_before_zappa_deploy_then_migrates(stage, capsys):
    _release(stage["package"], "--yes")

    overlay, package = stage["overlay"], str(stage["package"])
    assert stage["zappa"].calls == [
        ["deploy", "dev", "-s", overlay, "-z", package],
        ["manage", "dev", "migrate", "-s", overlay],
        ["manage", "dev", "createcachetable", "-s", overlay],
    ]
    hashed = {f"static/{name}" for name in stage["manifest"].values()}
    assert "static/" + stage["manifest"]["nimbus/site.css"] in hashed
    assert hashed <= stage["zappa"].keys_at_switch  # every file was up before the code
    out = capsys.readouterr().out
    assert _progress(out) == [
        "[1/4] package",
        "[2/4] collectstatic",
        "[3/4] zappa deploy",
        "[4/4] migrate",
    ]
    assert out.rstrip().endswith("Released dev.")


def _deployed_before(stage: dict[str, Any], tmp_path: Path) -> Path:
    """The function as a previous release left it (another package, the alias on it)."""
    previous = tmp_path / "previous.zip"
    with zipfile.ZipFile(previous, "w") as archive:
        archive.writestr("project/__init__.py", "# the previous release")
    stage["zappa"](["deploy", "dev", "-s", stage["overlay"], "-z", str(previous)])
    stage["zappa"].calls.clear()
    return previous


def test_a_later_release_updates_the_function_and_its_alias(stage, capsys, tmp_path):
    _deployed_before(stage, tmp_path)
    _release(stage["package"], "--yes")
    assert [call[0] for call in stage["zappa"].calls] == ["update", "manage", "manage"]
    out = capsys.readouterr().out
    assert "[3/4] zappa update" in _progress(out)
    # The version the triggers invoke runs the new package.
    assert "snapstart → version 2" in out


def test_a_release_the_alias_did_not_follow_stops_before_migrate(stage, tmp_path):
    _deployed_before(stage, tmp_path)
    stage["zappa"].moves_alias = False
    with pytest.raises(CommandError) as stopped:
        _release(stage["package"], "--yes")
    assert str(stopped.value) == (
        "Release of dev stopped at step 3/4 (zappa update): nimbus-dev:snapstart points at "
        "version 1, which does not run nimbus-dev.zip: the triggers would keep running the "
        "previous release"
    )
    assert [call[0] for call in stage["zappa"].calls] == ["update"]


def test_a_failed_code_switch_stops_the_release_before_migrate(stage, capsys):
    stage["zappa"].exit_codes["deploy"] = 1
    with pytest.raises(CommandError) as stopped:
        _release(stage["package"], "--yes")
    assert str(stopped.value) == (
        "Release of dev stopped at step 3/4 (zappa deploy): zappa deploy exited 1; "
        "its output is above"
    )
    assert [call[0] for call in stage["zappa"].calls] == ["deploy"]
    assert _progress(capsys.readouterr().out) == ["[1/4] package", "[2/4] collectstatic"]


def test_a_failed_migrate_is_the_last_step_reported(stage):
    stage["zappa"].exit_codes["migrate"] = 2
    with pytest.raises(
        CommandError, match=r"step 4/4 \(migrate\): zappa manage dev migrate exited 2"
    ):
        _release(stage["package"], "--yes")
    assert [call[:3] for call in stage["zappa"].calls][-1] == ["manage", "dev", "migrate"]


def test_a_package_without_a_static_manifest_stops_before_anything_is_uploaded(stage, tmp_path):
    bare = _zip(tmp_path / "bare.zip", None)
    with pytest.raises(CommandError, match=r"step 1/4 \(package\): .*carries no staticfiles.json"):
        _release(bare, "--yes")
    assert stage["zappa"].calls == []
    assert _uploaded(stage) == set()


def test_a_package_naming_files_this_checkout_does_not_have_stops_before_the_switch(
    stage, tmp_path
):
    other = {
        "version": "1.1",
        "paths": {**stage["manifest"], "nimbus/gone.css": "nimbus/gone.0123456789ab.css"},
    }
    with pytest.raises(CommandError, match=r"step 2/4 \(collectstatic\): 1 files .*nimbus/gone"):
        _release(_zip(tmp_path / "other.zip", other), "--yes")
    assert stage["zappa"].calls == []


@pytest.mark.parametrize("answer", ["n", ""])
def test_a_declined_release_does_nothing(stage, monkeypatch, answer):
    monkeypatch.setattr("builtins.input", lambda prompt="": answer)
    with pytest.raises(CommandError, match="Cancelled"):
        _release(stage["package"])
    assert stage["zappa"].calls == []
    assert _uploaded(stage) == set()


def test_release_needs_the_overlay_from_infra_outputs(stage):
    Path(stage["overlay"]).unlink()
    with pytest.raises(CommandError, match=re.escape("run `manage.py infra outputs dev` first")):
        _release(stage["package"], "--yes")
    assert _uploaded(stage) == set()


def test_skip_package_needs_an_existing_zip(stage, tmp_path):
    with pytest.raises(CommandError, match="--skip-package: no package at"):
        _release(tmp_path / "absent.zip", "--yes")
