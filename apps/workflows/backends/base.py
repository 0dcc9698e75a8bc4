"""The contract every workflow backend implements.

Executions are rows of :class:`~apps.workflows.models.Execution` for every backend (so the
admin lists them); the backend runs them. Task tokens passed to ``send_task_*`` are the raw
tokens; backends never log them. History is returned in one shape for both backends::

    {"id": 3, "type": "TaskStateEntered", "state": "Prepare", "timestamp": datetime,
     "input": ..., "output": ..., "error": ..., "cause": ...}
"""

from __future__ import annotations

from typing import Any

from apps.workflows.models import Execution
from project.backends import Backend


class WorkflowBackend(Backend):
    #: Name stored on Execution.backend.
    kind = "base"
    supports_redrive = True

    def start(self, execution: Execution) -> None:
        """Start a new execution row (same transaction as its creation)."""
        raise NotImplementedError

    def describe(self, execution: Execution) -> Execution:
        """Refresh the row's status/output/error from the engine and return it."""
        raise NotImplementedError

    def history(self, execution: Execution) -> list[dict[str, Any]]:
        raise NotImplementedError

    def stop(self, execution: Execution, *, error: str = "", cause: str = "") -> None:
        raise NotImplementedError

    def redrive(self, execution: Execution) -> None:
        raise NotImplementedError

    def send_task_success(self, *, token: str, output: Any) -> None:
        raise NotImplementedError

    def send_task_failure(self, *, token: str, error: str, cause: str) -> None:
        raise NotImplementedError

    def send_task_heartbeat(self, *, token: str) -> None:
        raise NotImplementedError
