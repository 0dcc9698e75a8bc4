"""Build the lean Lambda package: Zappa's zip, minus what Lambda never imports, compiled.

``python -m infra.package dev`` (``make package``) runs ``zappa package <stage>`` offline
(``use_precompiled_packages: false``), then rewrites the zip:

* keeps the project (``apps``, ``project``, ``templates``, ``static``) and the files Zappa
  generates (``zappa_settings.py``, ``handler.py``, ...), nothing else from the checkout;
* keeps only the distributions the running code needs: the closure of
  ``requirements.txt``, where Zappa contributes just the few packages its handler imports;
  boto3/botocore/s3transfer are dropped because the Lambda runtime provides them, and so
  are deploy-time and development packages (troposphere, cfn-lint, pip, setuptools, moto,
  pytest, ...), tests, docs, type stubs and translation sources, and, by path (never by a
  bare name, which would match at any depth), the parts of shipped libraries nothing on
  Lambda imports (``DROP_PATTERNS``, each with its reason);
* cuts each ``METADATA`` after its headers (the long description is the project's README);
* compiles every module with ``compileall --invalidation-mode unchecked-hash``: Zappa
  dates every zip entry 1980, so timestamp-checked ``.pyc`` files would be stale and Lambda
  (read-only ``/var/task``) would recompile every module on every cold start. Third-party
  modules ship as bytecode only (``--keep-sources`` keeps their ``.py`` files);
* adds ``staticfiles.json``, the static manifest of this release: ``collectstatic`` into a
  temporary directory, with the hashing the upload to the static bucket uses. Production
  reads it from the package, never from the bucket (``project/static_storage.py``);
* fails (exit 1, ``package_too_large``) above ``LIMIT_MB`` zipped.
"""

from __future__ import annotations

import argparse
import compileall
import fnmatch
import importlib.metadata as metadata
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
LAMBDA_TASK_ROOT = "/var/task"
# The static manifest the package carries, at its root (project/static_storage.py).
STATIC_MANIFEST = "staticfiles.json"

# `make package` fails above this many MiB (2**20 bytes, Lambda's "MB") zipped: Lambda's
# own cap is 50 for a direct upload; a smaller zip downloads and unpacks faster on a cold
# start, and the cap keeps an unnoticed new dependency from growing it.
LIMIT_MB = 18.0

# Provided by the Lambda python3.13 runtime. snapshot-restore-py must come from there: the
# runtime calls the SnapStart hooks registered in its own copy (project/snapshot.py).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "snapshot-restore-py"})
# Of Zappa's own requirements, the ones its handler imports at run time; the rest
# (troposphere, pip, setuptools, wheel, tqdm, hjson, ...) only serve its CLI.
ZAPPA_RUNTIME_REQUIREMENTS = frozenset(
    {"werkzeug", "durationpy", "requests", "python-dateutil", "jmespath"}
)
# Local-development pieces listed in requirements.txt that production never loads:
# daphne is the ASGI dev server (production settings drop it from INSTALLED_APPS; Lambda
# serves HTTP through project.entrypoints) and channels-redis the optional local channel
# layer (on AWS, push goes through API Gateway WebSocket).
LOCAL_ONLY = frozenset({"daphne", "channels-redis"})
# Translations shipped: production runs in LANGUAGE_CODE "en-us" without LocaleMiddleware.
KEEP_LOCALES = frozenset({"en"})
# What the Lambda needs from the checkout, plus what `zappa package` generates.
PROJECT_TOPS = frozenset(
    {
        "apps",
        "project",
        "templates",
        "static",
        "manage.py",
        "zappa_settings.py",
        "handler.py",
        "django_zappa_app.py",
        "package_info.json",
        "__init__.py",
    }
)
# Never read at run time, wherever they appear.
DROP_PATTERNS = (
    "*/tests/*",
    "*/test_*.py",
    "*/docs/*",
    "*.pyi",
    "*/py.typed",
    "*.po",
    "*.pyc",
    "*/__pycache__/*",
    "*.c",
    "*.h",
    "*.pyx",
    "*.dist-info/RECORD",
    # Unused contrib apps and assets: static files are served from the static bucket
    # (collectstatic runs from the checkout, ninja's Swagger UI included: STATICFILES_DIRS).
    "django/contrib/gis/*",
    "django/contrib/admin/static/*",
    "django/db/backends/mysql/*",
    "django/db/backends/oracle/*",
    "ninja/static/*",
    # The contrib apps Nimbus does not install and nothing shipped imports
    # (django-stubs-ext, which django-tasks-db loads, imports sitemaps and syndication, and
    # django.test stays too: ninja's and X-Ray's settings import its signals).
    *(
        f"django/contrib/{name}/*"
        for name in (
            "admindocs",
            "flatpages",
            "humanize",
            "postgres",
            "redirects",
        )
    ),
    # pydantic's copy of its 1.x API and its mypy plugin (pydantic.v1 is never imported:
    # django-ninja and Nimbus use pydantic 2).
    "pydantic/v1/*",
    "pydantic/mypy.py",
    # cffi's Python package and its C parser only build bindings; cryptography's compiled
    # bindings need only the `_cffi_backend` extension, which is kept (a top-level file).
    "cffi/*",
    "pycparser/*",
    # charset_normalizer's mypyc builds of md/cd: the same modules ship as bytecode, which
    # requests uses only to guess the encoding of an answer that names none.
    "charset_normalizer/*.so",
    # Zappa's CLI, deployer and certificate code (they import troposphere, not shipped):
    # the function imports only zappa.handler and what it imports.
    "zappa/cli.py",
    "zappa/core.py",
    "zappa/letsencrypt.py",
    "zappa/policies/*",
    # Werkzeug: zappa.handler uses its Response and wsgi helpers, never the router, the
    # debugger, the reloader or the middlewares of its development server.
    "werkzeug/debug/*",
    "werkzeug/middleware/*",
    "werkzeug/routing/*",
    "werkzeug/testapp.py",
    "werkzeug/_reloader.py",
    # Authlib: sign-in uses its requests client (apps/users/federation.py) and joserfc; not
    # the other frameworks' integrations nor the legacy authlib.jose (which joserfc replaced).
    "authlib/jose/*",
    *(
        f"authlib/integrations/{name}/*"
        for name in (
            "django_client",
            "django_oauth1",
            "django_oauth2",
            "flask_client",
            "flask_oauth1",
            "flask_oauth2",
            "httpx_client",
            "sqla_oauth2",
            "starlette_client",
        )
    ),
    # ... and the server-side OAuth specs nothing else in Authlib imports (device flow,
    # JWT access tokens, token introspection, drafts).
    *(f"authlib/oauth2/{name}/*" for name in ("drafts", "rfc7662", "rfc8628", "rfc9068")),
    # urllib3 in the browser (Pyodide) only.
    "urllib3/contrib/emscripten/*",
    # Powertools: Nimbus uses its logger, metrics, tracer and parameters, not these.
    "aws_lambda_powertools/event_handler/*",
    *(
        f"aws_lambda_powertools/utilities/{name}/*"
        for name in (
            "auth_alpha",
            "batch",
            "circuit_breaker",
            "data_classes",
            "data_masking",
            "feature_flags",
            "idempotency",
            "kafka",
            "parser",
            "streaming",
            "validation",
        )
    ),
)


@dataclass
class PackageReport:
    """What :func:`build` produced, for printing and for tests."""

    path: Path
    zipped_bytes: int
    unzipped_bytes: int
    kept_distributions: list[str] = field(default_factory=list)
    dropped_tops: list[str] = field(default_factory=list)
    static_names: int = 0

    @classmethod
    def of(cls, path: Path) -> PackageReport:
        """The report of an already built package."""
        with zipfile.ZipFile(path) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
        return cls(path=path, zipped_bytes=path.stat().st_size, unzipped_bytes=unzipped)

    def summary(self) -> str:
        return (
            f"{self.path}: {self.zipped_bytes / 2**20:.1f} MiB zipped, "
            f"{self.unzipped_bytes / 2**20:.1f} MiB unzipped "
            f"({len(self.kept_distributions)} distributions, "
            f"{self.static_names} static files in its manifest)"
        )


def _requirement_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def runtime_distributions(requirements: Path = REPO / "requirements.txt") -> set[str]:
    """Canonical names of the distributions the running code needs (the shipped closure)."""
    environment = {key: str(value) for key, value in default_environment().items()}
    seen: dict[str, set[str]] = {}
    pending = [Requirement(line) for line in _requirement_lines(requirements)]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in RUNTIME_PROVIDED or name in LOCAL_ONLY:
            continue
        extras = set(requirement.extras)
        if name in seen and extras <= seen[name]:
            continue
        seen.setdefault(name, set()).update(extras)
        for spec in metadata.distribution(name).requires or []:
            dependency = Requirement(spec)
            if name == "zappa" and canonicalize_name(dependency.name) not in (
                ZAPPA_RUNTIME_REQUIREMENTS
            ):
                continue
            if dependency.marker and not any(
                dependency.marker.evaluate({**environment, "extra": extra})
                for extra in (seen[name] or {""})
            ):
                continue
            pending.append(dependency)
    return set(seen)


def _distribution_tops() -> dict[str, str]:
    """Map each top-level name in site-packages to the distribution that installed it."""
    owners: dict[str, str] = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        for file in dist.files or []:
            parts = PurePosixPath(str(file)).parts
            if parts and parts[0] != "..":
                owners.setdefault(parts[0], name)
    return owners


def _keep(entry: str, top: str, owners: dict[str, str], runtime: set[str]) -> bool:
    if any(fnmatch.fnmatch(entry, pattern) for pattern in DROP_PATTERNS):
        return False
    parts = entry.split("/")
    if parts[:3] == ["django", "conf", "locale"] and len(parts) > 4:
        # Each language's date and number formats, loaded only for an active language.
        return parts[3].split("_")[0] in KEEP_LOCALES
    if "locale" in parts[:-1] and entry.endswith(".mo"):
        language = parts[parts.index("locale") + 1].split("_")[0]
        return language in KEEP_LOCALES
    owner = owners.get(top)
    if owner is not None:
        return owner in runtime
    return top in PROJECT_TOPS


def zappa_package(stage: str, output: Path) -> None:
    """Run ``zappa package <stage>`` offline into ``output`` (no AWS credentials needed)."""
    venv = Path(sys.prefix)
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "packaging"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "packaging"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed argv, our own venv's zappa
        [str(venv / "bin" / "zappa"), "package", stage, "-o", str(output)],
        cwd=REPO,
        env=env,
        check=True,
    )


def static_manifest(dest: Path) -> Path:
    """``collectstatic`` into ``dest`` with Django's ``ManifestStaticFilesStorage`` (the same
    hashing as the upload to the static bucket, over the same finders); its manifest.

    Runs on ``project.settings.base`` in a child process: the finders and apps are the
    ones every settings module shares, and nothing is written into the checkout.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings.base",
        "STATIC_ROOT": str(dest),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=REPO,
        env=env,
        check=True,
    )
    manifest = dest / STATIC_MANIFEST
    if not manifest.is_file():
        raise RuntimeError(f"collectstatic wrote no {STATIC_MANIFEST} into {dest}.")
    return manifest


def manifest_of(package: Path) -> dict[str, str]:
    """``{name: hashed name}`` from the static manifest a built package carries."""
    with zipfile.ZipFile(package) as archive:
        try:
            raw = archive.read(STATIC_MANIFEST)
        except KeyError:
            raise ValueError(
                f"{package} carries no {STATIC_MANIFEST}; build it with `make package`."
            ) from None
    return dict(json.loads(raw)["paths"])


def slim(
    source: Path,
    output: Path,
    *,
    keep_sources: bool = False,
    static_manifest: Path | None = None,
) -> PackageReport:
    """Rewrite Zappa's zip at ``source`` as the lean, compiled package at ``output``,
    with ``static_manifest`` at its root as ``staticfiles.json``."""
    runtime = runtime_distributions()
    owners = _distribution_tops()
    kept: set[str] = set()
    seen: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="nimbus-package-") as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                top = info.filename.split("/", 1)[0]
                if info.is_dir():
                    continue
                seen.add(top)
                if not _keep(info.filename, top, owners, runtime):
                    continue
                kept.add(top)
                archive.extract(info, root)
                mode = info.external_attr >> 16
                if mode:
                    (root / info.filename).chmod(mode & 0o777 or 0o644)
        _compile(root, keep_sources=keep_sources)
        _strip_shared_objects(root)
        _trim_metadata(root)
        static_names = 0
        if static_manifest is not None:
            shutil.copyfile(static_manifest, root / STATIC_MANIFEST)
            static_names = len(json.loads(static_manifest.read_text())["paths"])
        unzipped = _write_zip(root, output)
    return PackageReport(
        path=output,
        zipped_bytes=output.stat().st_size,
        unzipped_bytes=unzipped,
        kept_distributions=sorted(runtime),
        dropped_tops=sorted(seen - kept),
        static_names=static_names,
    )


def _compile(root: Path, *, keep_sources: bool) -> None:
    """Compile every module; third-party modules ship as bytecode only unless keep_sources.

    The project's own modules keep their sources (tracebacks show our lines) with
    ``__pycache__/*.pyc`` in unchecked-hash mode: each .pyc carries a hash of its source and
    is trusted without checking it, so the zip's 1980 timestamps no longer make every module
    look stale on the read-only /var/task. Third-party modules become sourceless ``.pyc``
    files beside where the ``.py`` was (tracebacks keep file and line, lose the text),
    which takes about a fifth off the zipped size.
    """
    for top in sorted(root.iterdir()):
        project = top.name in PROJECT_TOPS
        if top.is_dir():
            ok = compileall.compile_dir(
                str(top),
                ddir=f"{LAMBDA_TASK_ROOT}/{top.name}",  # the path tracebacks show on Lambda
                quiet=1,
                workers=0,
                legacy=not (project or keep_sources),
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        elif top.suffix == ".py":
            ok = compileall.compile_file(
                str(top),
                ddir=LAMBDA_TASK_ROOT,
                quiet=1,
                legacy=not (project or keep_sources),
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        else:
            continue
        if not ok:
            raise RuntimeError(f"compileall failed on {top.name}; see the errors above.")
        if not (project or keep_sources):
            _drop_compiled_sources(top)


def _strip_shared_objects(root: Path) -> None:
    """Drop symbol tables from native extensions (``strip --strip-unneeded``) when binutils is
    installed; dynamic linking needs none of it. Without ``strip`` the package is larger."""
    strip = shutil.which("strip")
    if strip is None:
        return
    for library in root.rglob("*.so*"):
        if library.is_file() and not library.is_symlink():
            subprocess.run(  # noqa: S603 - binutils' strip on files we just extracted
                [strip, "--strip-unneeded", str(library)], check=False, capture_output=True
            )


def _trim_metadata(root: Path) -> None:
    """Cut each distribution's ``METADATA`` after its headers: the body is the project's
    README (its long description), which nothing reads at run time; name, version,
    requirements and entry points (``importlib.metadata``) stay as they were."""
    for metadata_file in root.glob("*.dist-info/METADATA"):
        text = metadata_file.read_text(encoding="utf-8")
        headers, blank, _description = text.partition("\n\n")
        if blank:
            metadata_file.write_text(headers + "\n", encoding="utf-8")


def _drop_compiled_sources(top: Path) -> None:
    sources = [top] if top.is_file() else list(top.rglob("*.py"))
    for source in sources:
        if source.with_suffix(".pyc").exists():
            source.unlink()


def _write_zip(root: Path, output: Path) -> int:
    total = 0
    tmp_output = output.with_suffix(".tmp")
    with zipfile.ZipFile(tmp_output, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                total += path.stat().st_size
                archive.write(path, path.relative_to(root).as_posix())
    tmp_output.replace(output)
    return total


def provide_runtime(dest: Path) -> Path:
    """Copy what the Lambda runtime provides (boto3, botocore, s3transfer) into ``dest``.

    Stands in for ``/var/runtime`` when the package is run outside Lambda (tests, bench):
    put the unzipped package first on ``sys.path`` and ``dest`` after it, as Lambda does.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for name in sorted(RUNTIME_PROVIDED):
        dist = metadata.distribution(name)
        for file in dist.files or []:
            parts = PurePosixPath(str(file)).parts
            if not parts or parts[0] == ".." or parts[0].endswith(".dist-info"):
                continue
            if "__pycache__" in parts:
                continue
            source = Path(str(dist.locate_file(file)))
            target = dest / Path(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return dest


def build(stage: str, output: Path, *, keep_sources: bool = False) -> PackageReport:
    """``zappa package``, :func:`static_manifest`, then :func:`slim`; the raw Zappa zip is
    kept beside the output."""
    raw = output.with_name(output.stem + ".zappa.zip")
    zappa_package(stage, raw)
    with tempfile.TemporaryDirectory(prefix="nimbus-static-") as collected:
        manifest = static_manifest(Path(collected))
        return slim(raw, output, keep_sources=keep_sources, static_manifest=manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("stage", nargs="?", default="dev")
    parser.add_argument("-o", "--output", type=Path)
    parser.add_argument(
        "--limit-mb",
        type=float,
        default=LIMIT_MB,
        help=f"fail above this many MiB zipped (default {LIMIT_MB:g})",
    )
    parser.add_argument(
        "--keep-sources", action="store_true", help="ship third-party .py files too"
    )
    parser.add_argument(
        "--check-only",
        action="store_true",
        help="only check the size of the package already built at the output path",
    )
    args = parser.parse_args(argv)
    output = args.output or REPO / "build" / f"nimbus-{args.stage}.zip"
    if args.check_only:
        report = PackageReport.of(output)
    else:
        report = build(args.stage, output, keep_sources=args.keep_sources)
    print(report.summary())
    if not args.check_only:
        print(
            f"left out {len(report.dropped_tops)} top-level entries "
            "(deploy-time, dev-only, runtime-provided)"
        )
    problem = over_limit(report, args.limit_mb)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


def over_limit(report: PackageReport, limit_mb: float = LIMIT_MB) -> str | None:
    """Why ``report``'s zip is too large (``package_too_large: ...``), or None when it
    is within ``limit_mb`` MiB zipped."""
    if report.zipped_bytes <= limit_mb * 2**20:
        return None
    return (
        f"package_too_large: {report.path} is {report.zipped_bytes / 2**20:.2f} MiB zipped, "
        f"over the {limit_mb:g} MiB cap; see what it carries with `unzip -l` and add what "
        "Lambda never imports to DROP_PATTERNS in infra/package.py."
    )


if __name__ == "__main__":
    raise SystemExit(main())
