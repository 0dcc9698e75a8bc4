"""System checks: every ASL definition valid, every Task naming a known step."""

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
    return messages


def _tasks(asl: dict[str, Any]) -> Any:
    from apps.workflows.engine import walk_states

    return ((n, s) for n, s in walk_states(asl) if s.get("Type") == "Task")
