"""The registries one declaration feeds: workflow steps and ASL definitions.

``@step("files.review_prepare")`` in ``apps/<app>/steps.py`` registers a function taking the
task input (JSON) and returning the task result (JSON). ``.waitForTaskToken`` steps also get
``task_token=`` and their return value is ignored (the callback supplies the result).

Definitions are ``apps/<app>/definitions/<name>.asl.json`` (plus any directory listed in
``settings.NIMBUS_WORKFLOW_DIRS``). A Task names a step with ``"Resource": "step:<name>"``
(or ``"step:<name>.waitForTaskToken"``); the infra generator turns that into a Lambda
invocation (:func:`apps.workflows.engine.aws.to_state_machine`).

Both are filled by ``WorkflowsConfig.ready()`` (definitions on first read); :func:`discover`
can be re-run by tests.
"""

from __future__ import annotations

import inspect
import threading
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


class _Definitions(dict[str, Definition]):
    """The loaded definitions, read like a dict; :func:`discover` defers the loading to the
    first read, because validating ASL compiles every JSONPath (jsonpath-ng, ~0.2 s) and a
    cold start that runs no workflow should not pay for it. The contents are swapped in
    whole, so a concurrent reader never sees a half-loaded registry."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: Callable[[], list[Path]] | None = None
        self._lock = threading.Lock()

    def defer(self, dirs: Callable[[], list[Path]]) -> None:
        self._pending = dirs

    def replace(self, fresh: dict[str, Definition]) -> None:
        self._pending = None
        dict.clear(self)
        dict.update(self, fresh)

    def _ensure(self) -> None:
        if self._pending is None:
            return
        with self._lock:
            pending = self._pending
            if pending is not None:
                fresh = _load_all(pending())
                if self._pending is pending:  # not replaced meanwhile by load_definitions()
                    self.replace(fresh)

    def __getitem__(self, name: str) -> Definition:
        self._ensure()
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        self._ensure()
        return super().get(name, default)

    def __contains__(self, name: object) -> bool:
        self._ensure()
        return super().__contains__(name)

    def __iter__(self) -> Iterator[str]:
        self._ensure()
        return super().__iter__()

    def __len__(self) -> int:
        self._ensure()
        return super().__len__()

    def keys(self) -> Any:
        self._ensure()
        return super().keys()

    def values(self) -> Any:
        self._ensure()
        return super().values()

    def items(self) -> Any:
        self._ensure()
        return super().items()


steps: dict[str, Step] = {}
definitions = _Definitions()


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
    definitions.replace(_load_all(dirs))


def _load_all(dirs: list[Path]) -> dict[str, Definition]:
    loaded: dict[str, Definition] = {}
    for path in definition_files(dirs):
        name = path.name.removesuffix(".asl.json")
        try:
            loaded[name] = Definition(name, path, load(path))
        except DefinitionError as exc:
            loaded[name] = Definition(name, path, None, exc)
    return loaded


def definition_dirs() -> list[Path]:
    from django.apps import apps
    from django.conf import settings

    dirs = [Path(config.path) / "definitions" for config in apps.get_app_configs()]
    dirs += [Path(d) for d in getattr(settings, "NIMBUS_WORKFLOW_DIRS", [])]
    return [d for d in dirs if d.is_dir()]


def discover() -> None:
    """Import every app's ``steps`` module; every definition loads on the first read of
    :data:`definitions` (see :class:`_Definitions`)."""
    from django.conf import settings
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("steps")
    for module in getattr(settings, "NIMBUS_WORKFLOW_STEP_MODULES", []):
        __import__(module)
    definitions.defer(definition_dirs)


def task_state_of(step_name: str) -> tuple[str, str] | None:
    """(workflow, state) of the Task that names step ``step_name`` (the first, in name
    order, if several do), or None."""
    for name in sorted(definitions):
        for state_name, step in definitions[name].step_names():
            if step == step_name:
                return name, state_name
    return None


def state_label(workflow: str, state_name: str) -> str:
    """What a person reads for a state: its ASL ``Comment``, else its name."""
    definition = definitions.get(workflow)
    if definition is not None and definition.asl is not None:
        for name, state in walk_states(definition.asl):
            if name == state_name and state.get("Comment"):
                return str(state["Comment"])
    return state_name
