"""Signals of the workflows app: how an app hears what its workflows are doing.

``execution_transition(sender, *, execution, events)`` is sent

* after every persisted transition of a local execution (the :class:`Execution` row and
  its new history events), once the transaction commits;
* on AWS, after each status change Step Functions reports (one ``Execution*`` event:
  ``ExecutionSucceeded``, ``ExecutionFailed``, ...; see
  :func:`apps.workflows.services.execution_status_record`);
* on AWS, after each step a Step Functions Task ran through the Lambda entry
  (:func:`apps.workflows.entry.handle_step`): one ``TaskStateEntered`` event for the
  state that names the step, ``execution`` an :class:`ExecutionRef` (the row may not be
  this database's).

So the app that owns a workflow hears the same transitions on either engine (the files
app turns file_review's into ``files.ReviewProgressed`` events). ``execution`` has
``pk``, ``workflow``, ``input`` and ``status``; each event has ``type``, ``state`` and
``timestamp``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.dispatch import Signal

execution_transition = Signal()


@dataclass(frozen=True)
class ExecutionRef:
    """An execution known by its ARN: a Step Functions Task running one of its steps."""

    pk: str
    workflow: str
    input: dict[str, Any] = field(default_factory=dict)
    status: str = "RUNNING"


def notify_transitions(execution: Any, events: list[dict[str, Any]]) -> None:
    """Send ``execution_transition`` once the current transaction commits."""
    if not events:
        return

    def send() -> None:
        execution_transition.send(sender=type(execution), execution=execution, events=events)

    transaction.on_commit(send, robust=True)
