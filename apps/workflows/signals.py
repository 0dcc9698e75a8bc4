"""Signals of the workflows app.

``execution_transition`` is sent after every persisted transition of a local execution
(with the execution and the new history events), once the transaction commits, and after
each status change Step Functions reports for an AWS execution (one ``Execution*`` event:
``ExecutionSucceeded``, ``ExecutionFailed``, ...; see
:func:`apps.workflows.services.execution_status_record`). Apps use it to tell people what a
workflow is doing (file_review pushes each step to the owner).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

execution_transition = Signal()


def notify_transitions(execution: Any, events: list[dict[str, Any]]) -> None:
    if not events:
        return

    def send() -> None:
        execution_transition.send(sender=type(execution), execution=execution, events=events)

    transaction.on_commit(send, robust=True)
