"""The embedded workflow backend: the local ASL engine, durable in the database."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.workflows import clock, driver
from apps.workflows.backends.base import WorkflowBackend
from apps.workflows.engine.interpreter import token_hash
from apps.workflows.exceptions import (
    ExecutionNotRedrivable,
    ExecutionNotRunning,
    TaskTokenInvalid,
)
from apps.workflows.models import Execution, TaskToken


class LocalWorkflowBackend(WorkflowBackend):
    kind = "local"
    is_local = True

    def start(self, execution: Execution) -> None:
        execution.backend = self.kind
        execution.arn = f"arn:nimbus:states:local:execution:{execution.workflow}:{execution.name}"
        driver.execution_begin(execution)  # saves backend and arn with the run

    def describe(self, execution: Execution) -> Execution:
        execution.refresh_from_db()
        return execution

    def history(self, execution: Execution) -> list[dict[str, Any]]:
        return [event.as_dict() for event in execution.events.order_by("seq")]

    def stop(self, execution: Execution, *, error: str = "", cause: str = "") -> None:
        with transaction.atomic():
            locked = Execution.objects.select_for_update().get(pk=execution.pk)
            if not locked.is_running:
                raise ExecutionNotRunning(f"Execution {locked} is {locked.status}.")
            driver.execution_abort(locked, error=error, cause=cause)
        execution.refresh_from_db()

    def redrive(self, execution: Execution) -> None:
        with transaction.atomic():
            locked = Execution.objects.select_for_update().get(pk=execution.pk)
            if locked.status not in ("FAILED", "TIMED_OUT", "ABORTED"):
                raise ExecutionNotRedrivable(f"Execution {locked} is {locked.status}.")
            driver.execution_redrive_run(locked)
        execution.refresh_from_db()

    def _resolve(self, token: str, outcome: dict[str, Any]) -> None:
        now = clock.now()
        with transaction.atomic():
            row = (
                TaskToken.objects.select_for_update(of=("self",))
                .select_related("execution")
                .filter(token_hash=token_hash(token))
                .first()
            )
            if (
                row is None
                or row.consumed_at is not None
                or (row.expires_at is not None and row.expires_at <= now)
                or row.execution is None
                or not row.execution.is_running
            ):
                raise TaskTokenInvalid("No task is waiting on this token.")
            row.consumed_at, row.outcome = now, outcome
            row.save(update_fields=["consumed_at", "outcome"])
            driver.schedule(row.execution, now=True)

    def send_task_success(self, *, token: str, output: Any) -> None:
        self._resolve(token, {"output": output})

    def send_task_failure(self, *, token: str, error: str, cause: str) -> None:
        self._resolve(token, {"error": error, "cause": cause})

    def send_task_heartbeat(self, *, token: str) -> None:
        updated = TaskToken.objects.filter(
            token_hash=token_hash(token), consumed_at__isnull=True, execution__status="RUNNING"
        ).update(heartbeat_at=clock.now())
        if not updated:
            raise TaskTokenInvalid("No task is waiting on this token.")
