"""Background tasks the SQS Tasks backend tests enqueue (importable by dotted path)."""

from __future__ import annotations

from project.tasks import background

CALLS: list[str] = []


@background()
def remember(text: str, *, times: int = 1) -> None:
    CALLS.extend([text] * times)


@background()
def flaky() -> None:
    CALLS.append(f"flaky-{sum(1 for c in CALLS if c.startswith('flaky')) + 1}")
    raise ConnectionError("downstream unavailable")
