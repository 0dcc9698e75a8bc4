"""The order ``manage.py infra release <stage>`` follows, and the runner of its steps.

A release is four steps, each of which must finish before the next starts:

1. **package** — build the lean zip (``infra.package.build``), which carries the static
   manifest of this release (or, with ``--skip-package``, check that a given zip does);
2. **collectstatic** — upload the static files to the static bucket, then check that every
   hashed name in the package's manifest is there;
3. **zappa update** (``zappa deploy`` while the function does not exist) — switch the code.
   With ``snap_start``, Zappa publishes a version and moves the alias every trigger
   invokes (``infra.context.FUNCTION_ALIAS``) to it once the version is active; the step
   then checks that the alias serves this package (:func:`alias_serves`), since a trigger
   on any other version would go on running the previous release;
4. **migrate** — ``zappa manage <stage> migrate``, then ``createcachetable``.

Files go up before the code that names them, and the code names only files from its own
package's manifest (``project/static_storage.py``), so no page depends on an upload that
has not happened. Schema changes come after the code switch, as before: a migration must
keep the previous release working (add, then use; stop using, then drop).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.context import FUNCTION_ALIAS


class StepFailed(Exception):
    """A step that could not finish; ``str()`` is the one-line reason."""


class ReleaseStopped(Exception):
    """The release stopped at a step; the steps after it did not run."""

    def __init__(self, number: int, total: int, name: str, reason: str) -> None:
        self.number, self.total, self.name, self.reason = number, total, name, reason
        super().__init__(f"stopped at step {number}/{total} ({name}): {reason}")


@dataclass(frozen=True)
class Step:
    """One step: ``run`` does it and returns what its progress line says."""

    name: str
    run: Callable[[], str]


def run(steps: Sequence[Step], echo: Callable[[str], None]) -> None:
    """Run ``steps`` in order, one progress line each as it finishes; stop at the first
    that raises (:class:`ReleaseStopped`, with a one-line reason)."""
    width = max((len(step.name) for step in steps), default=0)
    for number, step in enumerate(steps, 1):
        try:
            detail = step.run()
        except StepFailed as exc:
            raise ReleaseStopped(number, len(steps), step.name, _one_line(str(exc))) from exc
        except Exception as exc:  # an operator needs the reason, not the traceback
            reason = _one_line(f"{type(exc).__name__}: {exc}")
            raise ReleaseStopped(number, len(steps), step.name, reason) from exc
        echo(f"[{number}/{len(steps)}] {step.name:<{width}}  {detail}")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500] or "no reason given"


def function_exists(session: Any, stage: str) -> bool:
    """Whether Zappa's function ``nimbus-<stage>`` exists (``update``) or not (``deploy``)."""
    client = session.client("lambda")
    try:
        client.get_function(FunctionName=f"nimbus-{stage}")
    except client.exceptions.ResourceNotFoundException:
        return False
    return True


def alias_serves(session: Any, stage: str, package: Path) -> str:
    """Check that the function's alias points at a version running ``package``; a line
    naming the version and its SnapStart state. Raises :class:`StepFailed` otherwise."""
    client = session.client("lambda")
    name = f"nimbus-{stage}"
    try:
        alias = client.get_alias(FunctionName=name, Name=FUNCTION_ALIAS)
    except client.exceptions.ResourceNotFoundException:
        raise StepFailed(
            f"{name} has no alias {FUNCTION_ALIAS!r}, which every trigger invokes "
            "(is snap_start set in zappa_settings.json?)"
        ) from None
    version = alias["FunctionVersion"]
    config = client.get_function_configuration(FunctionName=name, Qualifier=version)
    expected = base64.b64encode(hashlib.sha256(package.read_bytes()).digest()).decode()
    if config.get("CodeSha256") != expected:
        raise StepFailed(
            f"{name}:{FUNCTION_ALIAS} points at version {version}, which does not run "
            f"{package.name}: the triggers would keep running the previous release"
        )
    snap = config.get("SnapStart", {})
    return (
        f"{FUNCTION_ALIAS} → version {version} "
        f"(SnapStart {snap.get('ApplyOn', '?')}, {snap.get('OptimizationStatus', '?')})"
    )


def bucket_keys(session: Any, bucket: str, prefix: str) -> set[str]:
    """Every key under ``prefix`` in ``bucket``."""
    pages = (
        session.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    )
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def missing_static(manifest: Mapping[str, str], keys: Iterable[str], location: str) -> list[str]:
    """The hashed names of ``manifest`` that are not among ``keys`` (under ``location/``)."""
    present = set(keys)
    return sorted(
        hashed for hashed in set(manifest.values()) if f"{location}/{hashed}" not in present
    )
