"""Tasks used by the task-retry tests (importable by the worker by dotted path)."""

from __future__ import annotations

from project.tasks import background

calls: list[str] = []
_failures: dict[str, int] = {}


@background()
def flaky(name: str, *, fail_times: int) -> str:
    calls.append(name)
    seen = _failures.get(name, 0)
    if seen < fail_times:
        _failures[name] = seen + 1
        raise RuntimeError(f"{name} failed ({seen + 1})")
    return name
