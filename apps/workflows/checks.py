"""System checks: every ASL definition valid, every Task naming a known step, and every
Task that invokes the Lambda on AWS retrying the Lambda service's own errors."""

from __future__ import annotations

from typing import Any

from django.core import checks

from apps.workflows import registry


@checks.register("workflows")
def check_definitions(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for definition in registry.definitions.values():
        if definition.error is not None:
            messages.append(
                checks.Error(
                    f"Invalid workflow definition {definition.path}: {definition.error}",
                    obj=definition.name,
                    id="workflows.E001",
                )
            )
            continue
        assert definition.asl is not None
        for state_name, state in _tasks(definition.asl):
            resource = state["Resource"]
            if not resource.startswith(registry.STEP_PREFIX):
                continue
            step = registry.steps.get(registry.step_of(resource))
            if step is None:
                messages.append(
                    checks.Error(
                        f"{definition.path}: state {state_name!r} names the unknown workflow step "
                        f"{registry.step_of(resource)!r}.",
                        hint="Declare it with @step(...) in apps/<app>/steps.py.",
                        obj=definition.name,
                        id="workflows.E002",
                    )
                )
            elif resource.endswith(".waitForTaskToken") and not step.takes_token:
                messages.append(
                    checks.Error(
                        f"{definition.path}: state {state_name!r} waits for a task token but step "
                        f"{step.name!r} takes no task_token argument.",
                        obj=definition.name,
                        id="workflows.E003",
                    )
                )
        messages.extend(_unretried_lambda_errors(definition))
    return messages


def _unretried_lambda_errors(definition: registry.Definition) -> list[checks.CheckMessage]:
    """``workflows.W001``: a Lambda Task whose Retry leaves a Lambda service error unretried.

    An error counts as retried when the first retrier matching it (the one Step Functions
    applies) has ``MaxAttempts`` above 0; ``States.ALL`` and ``States.TaskFailed`` match
    all four errors (they are Task failures, not ``States.Timeout``), so they count too.
    """
    from apps.workflows.engine.aws import LAMBDA_SERVICE_ERRORS, invokes_lambda

    assert definition.asl is not None
    messages: list[checks.CheckMessage] = []
    for state_name, state in _tasks(definition.asl):
        if not invokes_lambda(state["Resource"]):
            continue
        missing = [e for e in LAMBDA_SERVICE_ERRORS if not _retried(state, e)]
        if missing:
            messages.append(
                checks.Warning(
                    f"{definition.path}: Task state {state_name!r} invokes the Lambda on AWS "
                    f"but does not retry {', '.join(missing)}: one throttled invoke fails it.",
                    hint=(
                        "Put first in its Retry: "
                        f'{{"ErrorEquals": {list(LAMBDA_SERVICE_ERRORS)}, "IntervalSeconds": 1, '
                        '"BackoffRate": 2, "MaxAttempts": 6, "JitterStrategy": "FULL"}.'
                    ).replace("'", '"'),
                    obj=definition.name,
                    id="workflows.W001",
                )
            )
    return messages


def _retried(state: dict[str, Any], error: str) -> bool:
    from apps.workflows.engine.errors import error_matches

    for retrier in state.get("Retry", []):
        if error_matches(retrier["ErrorEquals"], error, state_type="Task"):
            return bool(retrier.get("MaxAttempts", 3) > 0)
    return False


def _tasks(asl: dict[str, Any]) -> Any:
    from apps.workflows.engine import walk_states

    return ((n, s) for n, s in walk_states(asl) if s.get("Type") == "Task")
