"""Fixtures of the workflows tests: test-only workflows and steps, a clock to move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apps.workflows import registry

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def test_workflows():
    """Register the workflows under tests/apps/workflows/definitions and their steps."""
    from tests.apps.workflows import steps

    saved = dict(registry.definitions)
    registry.load_definitions([*registry.definition_dirs(), HERE / "definitions"])
    steps.issued.clear()
    steps.calls.clear()
    yield steps
    registry.definitions.clear()
    registry.definitions.update(saved)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("apps.workflows.clock.now", fake)
    return fake
