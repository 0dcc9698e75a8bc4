"""The registries one declaration feeds: workflow steps and ASL definitions.

``@step("files.review_prepare")`` in ``apps/<app>/steps.py`` registers a function taking the
task input (JSON) and returning the task result (JSON). ``.waitForTaskToken`` steps also get
``task_token=`` and their return value is ignored (the callback supplies the result).

Definitions are ``apps/<app>/definitions/<name>.asl.json`` (plus any directory listed in
``settings.NIMBUS_WORKFLOW_DIRS``). A Task names a step with ``"Resource": "step:<name>"``
(or ``"step:<name>.waitForTaskToken"``); the infra generator turns that into a Lambda
invocation (:func:`apps.workflows.engine.aws.to_state_machine`).

Both are filled by ``WorkflowsConfig.ready()``; :func:`discover` can be re-run by tests.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.workflows.engine import DefinitionError, walk_states
from apps.workflows.engine.definition import load
from apps.workflows.engine.interpreter import TOKEN_SUFFIX

STEP_PREFIX = "step:"

StepFunc = Callable[..., Any]


@dataclass(frozen=True)
class Step:
    name: str
    func: StepFunc
    #: True when the function accepts ``task_token=`` (used by ``.waitForTaskToken`` Tasks).
    takes_token: bool


@dataclass
class Definition:
    name: str
    path: Path
    #: The parsed ASL, or None when the file is invalid (``error`` says why).
    asl: dict[str, Any] | None
    error: DefinitionError | None = None

    def step_names(self) -> Iterator[tuple[str, str]]:
        """(state name, step name) of every Task naming a step."""
        for state_name, state in walk_states(self.asl or {"States": {}}):
            resource = state.get("Resource", "")
            if state.get("Type") == "Task" and resource.startswith(STEP_PREFIX):
                yield state_name, step_of(resource)


steps: dict[str, Step] = {}
definitions: dict[str, Definition] = {}


def step(name: str) -> Callable[[StepFunc], StepFunc]:
    """Register ``func`` as the workflow step ``name`` (``"<app>.<verb>"``)."""

    def decorate(func: StepFunc) -> StepFunc:
        existing = steps.get(name)
        if existing and existing.func is not func:
            raise ValueError(f"workflow step {name!r} is registered twice")
        takes_token = "task_token" in inspect.signature(func).parameters
        steps[name] = Step(name, func, takes_token)
        return func

    return decorate


def step_of(resource: str) -> str:
    """The step name of a ``step:<name>[.waitForTaskToken]`` resource."""
    name = resource[len(STEP_PREFIX) :]
    return name.removesuffix(TOKEN_SUFFIX)


def definition_files(dirs: list[Path]) -> Iterator[Path]:
    for directory in dirs:
        yield from sorted(directory.glob("*.asl.json"))


def load_definitions(dirs: list[Path]) -> None:
    """(Re)load every ``*.asl.json`` file of ``dirs``; invalid files keep their error."""
    definitions.clear()
    for path in definition_files(dirs):
        name = path.name.removesuffix(".asl.json")
        try:
            definitions[name] = Definition(name, path, load(path))
        except DefinitionError as exc:
            definitions[name] = Definition(name, path, None, exc)


def definition_dirs() -> list[Path]:
    from django.apps import apps
    from django.conf import settings

    dirs = [Path(config.path) / "definitions" for config in apps.get_app_configs()]
    dirs += [Path(d) for d in getattr(settings, "NIMBUS_WORKFLOW_DIRS", [])]
    return [d for d in dirs if d.is_dir()]


def discover() -> None:
    """Import every app's ``steps`` module and load every definition."""
    from django.conf import settings
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("steps")
    for module in getattr(settings, "NIMBUS_WORKFLOW_STEP_MODULES", []):
        __import__(module)
    load_definitions(definition_dirs())
