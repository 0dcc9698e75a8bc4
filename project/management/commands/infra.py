"""``manage.py infra render|lint|diff|deploy|outputs|collectstatic|release <stage>``.

The CloudFormation stack (``nimbus-<stage>-infra``) is generated from the apps' registries
by :mod:`infra.template`; troposphere and cfn-lint are development dependencies, imported
only here, never by the running application. See DEPLOY.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

STAGES = ("dev", "prod")
PACKAGE_LIMIT_MIB = 25.0  # as `make package`


class Command(BaseCommand):
    help = "Render, lint, diff and deploy the Nimbus CloudFormation stack; read its outputs."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        render = actions.add_parser("render", help="write build/infra/<stage>.json")
        render.add_argument("stage")
        lint = actions.add_parser("lint", help="cfn-lint and Nimbus's policy checks")
        lint.add_argument("stages", nargs="*", default=list(STAGES))
        for name, text in (
            ("diff", "summarise the change set against the deployed stack"),
            ("deploy", "create or update the stack and wait"),
            ("outputs", "print the outputs; write build/infra/zappa_settings.json"),
            ("collectstatic", "upload static files (hashed names) to the static bucket"),
        ):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("stage")
            if name in ("diff", "deploy"):
                sub.add_argument(
                    "--parameter",
                    "-p",
                    action="append",
                    default=[],
                    metavar="KEY=VALUE",
                    help="stack parameter (DomainName, HostedZoneId, AlarmEmail, ...)",
                )
            if name == "deploy":
                sub.add_argument("--yes", action="store_true", help="do not ask to confirm")
        release = actions.add_parser(
            "release",
            help="package, collectstatic, zappa update (or deploy), migrate — in that order",
        )
        release.add_argument("stage")
        release.add_argument(
            "--skip-package",
            action="store_true",
            help="release an already built zip (-z) instead of building one",
        )
        release.add_argument(
            "-z",
            "--zip",
            type=Path,
            help="the package to build or release (default: build/nimbus-<stage>.zip)",
        )
        release.add_argument("--yes", action="store_true", help="do not ask to confirm")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        getattr(self, f"do_{action}")(**options)

    # -- helpers -----------------------------------------------------------------------

    def _build_dir(self) -> Path:
        return Path(settings.BASE_DIR) / "build" / "infra"

    def _zappa_settings(self) -> dict[str, Any]:
        return json.loads((Path(settings.BASE_DIR) / "zappa_settings.json").read_text())

    def _stack(self, stage: str) -> Any:
        from infra.inputs import collect
        from infra.template import build

        zappa = self._zappa_settings()
        if stage not in zappa:
            raise CommandError(f"Unknown stage {stage!r}; zappa_settings.json has {sorted(zappa)}.")
        stage_settings = {**zappa.get(zappa[stage].get("extends", ""), {}), **zappa[stage]}
        try:
            return build(collect(stage, stage_settings))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

    def _session(self) -> Any:
        import boto3

        region = self._zappa_settings().get("base", {}).get("aws_region")
        return boto3.Session(region_name=region) if region else boto3.Session()

    def _parameters(self, stage: str, pairs: list[str]) -> dict[str, str]:
        from infra.deploy import automatic_parameters

        found = automatic_parameters(self._session(), stage)
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise CommandError(f"--parameter takes KEY=VALUE, not {pair!r}.")
            found[key] = value
        return found

    def _confirmed(self, prompt: str) -> bool:
        """Whether the operator answered yes; Ctrl-C or the end of input mean no."""
        try:
            return input(prompt).strip().lower() == "y"
        except (EOFError, KeyboardInterrupt):
            self.stdout.write("")
            return False

    def _template(self, stage: str) -> dict[str, Any]:
        return json.loads(self._stack(stage).template.to_json())

    # -- actions -----------------------------------------------------------------------

    def do_render(self, *, stage: str, **_: Any) -> None:
        path = self._build_dir() / f"{stage}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        template = self._template(stage)
        path.write_text(json.dumps(template, indent=2, sort_keys=True) + "\n")
        self.stdout.write(f"{path} ({len(template['Resources'])} resources)")

    def do_lint(self, *, stages: list[str], **_: Any) -> None:
        from infra.checks import lint, lint_scenarios, lint_variants, problems

        failed = False
        scenarios = {"defaults": {}, **lint_scenarios()}
        for stage in stages:
            stack = self._stack(stage)
            template = json.loads(stack.template.to_json())
            # The template as written, then as each combination of the switching
            # parameters (create or bring the network and database, NAT or endpoints, ...)
            # leaves it: a reference to a resource the combination removes fails there.
            found = lint_variants(template) + problems(
                template,
                function_timeout=stack.inputs.function_timeout,
                event_types=stack.inputs.declared_types,
            )
            for scenario, parameters in scenarios.items():
                found += [f"[{scenario}] {line}" for line in lint(template, parameters=parameters)]
            for line in found:
                self.stderr.write(f"{stage}: {line}")
            failed = failed or bool(found)
            if not found:
                self.stdout.write(self.style.SUCCESS(f"{stage}: clean ({', '.join(scenarios)})"))
        if failed:
            raise CommandError("The template has problems (listed above).")

    def do_diff(self, *, stage: str, parameter: list[str], **_: Any) -> None:
        from infra.deploy import DeployError, change_set, discard_change_set, summarize

        session = self._session()
        try:
            arn, changes = change_set(
                session, stage, self._template(stage), self._parameters(stage, parameter)
            )
        except DeployError as exc:
            raise CommandError(str(exc)) from exc
        for line in summarize(changes) or ["no changes"]:
            self.stdout.write(line)
        if arn is not None:
            discard_change_set(session, stage, arn)

    def do_deploy(self, *, stage: str, parameter: list[str], yes: bool, **_: Any) -> None:
        from infra.deploy import (
            DeployError,
            change_set,
            discard_change_set,
            execute,
            stack_name,
            summarize,
        )

        session = self._session()
        parameters = self._parameters(stage, parameter)
        self.stdout.write(
            f"{stack_name(stage)}: " + ", ".join(f"{k}={v}" for k, v in parameters.items())
        )
        try:
            arn, changes = change_set(session, stage, self._template(stage), parameters)
        except DeployError as exc:
            raise CommandError(str(exc)) from exc
        if arn is None:
            self.stdout.write("No changes.")
            return
        for line in summarize(changes):
            self.stdout.write(line)
        if not yes and not self._confirmed("Apply these changes? [y/N] "):
            # Left behind, the change set would linger (and a first deploy's empty stack
            # would sit in REVIEW_IN_PROGRESS) until someone deleted it by hand.
            discard_change_set(session, stage, arn)
            raise CommandError("Cancelled.")
        try:
            status = execute(session, stage, arn, self.stdout.write)
        except DeployError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{stack_name(stage)}: {status}"))
        self.do_outputs(stage=stage)

    def do_outputs(self, *, stage: str, **_: Any) -> None:
        from infra.deploy import environment, outputs, vpc_config, write_zappa_overlay

        stack_outputs = outputs(self._session(), stage)
        mapping = {var: key for var, (key, _value) in self._stack(stage).environment.items()}
        env = environment(stack_outputs, mapping)
        for var, value in sorted(env.items()):
            self.stdout.write(f"{var}={value}")
        overlay = write_zappa_overlay(
            Path(settings.BASE_DIR) / "zappa_settings.json",
            stage,
            env,
            stack_outputs.get("FunctionRoleArn"),
            self._build_dir() / "zappa_settings.json",
            vpc=vpc_config(stack_outputs),
        )
        self.stdout.write(f"Wrote {overlay} (zappa <command> {stage} -s {overlay})")

    def do_collectstatic(self, *, stage: str, **_: Any) -> None:
        self._collectstatic(stage)

    def _collectstatic(self, stage: str) -> tuple[str, str]:
        """Upload the static files (hashed names and the manifest) to the stage's static
        bucket; returns the bucket and the key prefix."""
        from django.core.management import call_command
        from django.test import override_settings

        from infra.deploy import outputs

        stack_outputs = outputs(self._session(), stage)
        site = stack_outputs["NimbusSiteUrl"].split("://", 1)[-1]
        bucket, location = stack_outputs["NimbusStaticBucket"], "static"
        storage = {
            "BACKEND": "storages.backends.s3.S3ManifestStaticStorage",
            "OPTIONS": {
                "bucket_name": bucket,
                "location": location,
                "custom_domain": site,
                "querystring_auth": False,
                "default_acl": None,
                "file_overwrite": True,
            },
        }
        with override_settings(STORAGES={**settings.STORAGES, "staticfiles": storage}):
            call_command("collectstatic", interactive=False, verbosity=1)
        return bucket, location

    # -- release -----------------------------------------------------------------------

    def do_release(
        self, *, stage: str, skip_package: bool, zip: Path | None, yes: bool, **_: Any
    ) -> None:
        from infra import release

        if stage not in self._zappa_settings():
            raise CommandError(
                f"Unknown stage {stage!r}; zappa_settings.json has {sorted(self._zappa_settings())}."
            )
        package = (zip or Path(settings.BASE_DIR) / "build" / f"nimbus-{stage}.zip").resolve()
        overlay = self._build_dir() / "zappa_settings.json"
        if not overlay.is_file():
            raise CommandError(
                f"No {overlay}: run `manage.py infra outputs {stage}` first (it holds the "
                "function's environment and role)."
            )
        if skip_package and not package.is_file():
            raise CommandError(f"--skip-package: no package at {package} (pass -z ZIP).")
        verb = "update" if release.function_exists(self._session(), stage) else "deploy"
        self.stdout.write(
            f"Release {stage}: {'use' if skip_package else 'build'} {package} → collectstatic "
            f"→ zappa {verb} → migrate"
        )
        if not yes and not self._confirmed("Go ahead? [y/N] "):
            raise CommandError("Cancelled.")
        steps = [
            release.Step("package", lambda: self._release_package(stage, package, skip_package)),
            release.Step("collectstatic", lambda: self._release_static(stage, package)),
            release.Step(
                f"zappa {verb}", lambda: self._release_code(stage, verb, overlay, package)
            ),
            release.Step("migrate", lambda: self._release_migrate(stage, overlay)),
        ]
        try:
            release.run(steps, self.stdout.write)
        except release.ReleaseStopped as exc:
            raise CommandError(f"Release of {stage} {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"Released {stage}."))

    def _release_package(self, stage: str, package: Path, skip: bool) -> str:
        from infra.package import PackageReport, build, manifest_of
        from infra.release import StepFailed

        if not skip:
            report = build(stage, package)
            if report.zipped_bytes > PACKAGE_LIMIT_MIB * 2**20:
                raise StepFailed(f"{report.summary()}: over {PACKAGE_LIMIT_MIB} MiB zipped")
        try:
            names = len(manifest_of(package))
        except ValueError as exc:
            raise StepFailed(str(exc)) from exc
        summary = PackageReport.of(package).summary().split(" (", 1)[0]
        return f"{summary}, {names} static names in its manifest" + (
            " (not rebuilt)" if skip else ""
        )

    def _release_static(self, stage: str, package: Path) -> str:
        from infra.package import manifest_of
        from infra.release import StepFailed, bucket_keys, missing_static

        bucket, location = self._collectstatic(stage)
        manifest = manifest_of(package)
        missing = missing_static(manifest, bucket_keys(self._session(), bucket, location), location)
        if missing:
            raise StepFailed(
                f"{len(missing)} files the package's manifest names are not in s3://{bucket}/"
                f"{location}/ (e.g. {', '.join(missing[:3])}): the package was built from "
                "other static files than this checkout's; rebuild it"
            )
        return f"s3://{bucket}/{location}/ holds all {len(set(manifest.values()))} files the package names"

    def _release_code(self, stage: str, verb: str, overlay: Path, package: Path) -> str:
        from infra.release import StepFailed, alias_serves

        if code := self._zappa([verb, stage, "-s", str(overlay), "-z", str(package)]):
            raise StepFailed(f"zappa {verb} exited {code}; its output is above")
        return f"nimbus-{stage} runs {package.name}; " + alias_serves(
            self._session(), stage, package
        )

    def _release_migrate(self, stage: str, overlay: Path) -> str:
        from infra.release import StepFailed

        for command in ("migrate", "createcachetable"):
            if code := self._zappa(["manage", stage, command, "-s", str(overlay)]):
                raise StepFailed(
                    f"zappa manage {stage} {command} exited {code}; its output is above"
                )
        return "migrate and createcachetable ran in the function"

    def _zappa(self, argv: list[str]) -> int:
        """Run the Zappa CLI of this virtualenv from the checkout; its exit status."""
        zappa = Path(sys.prefix) / "bin" / "zappa"
        # Our venv's zappa, argv built above (S603); a child process, as an operator runs it.
        completed = subprocess.run([str(zappa), *argv], cwd=settings.BASE_DIR, check=False)  # noqa: S603
        return completed.returncode
