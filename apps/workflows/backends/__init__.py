"""Workflow backends, selected by ``settings.NIMBUS_WORKFLOWS``: local engine or Step Functions."""

from __future__ import annotations

from apps.workflows.backends.base import WorkflowBackend
from project.backends import handler

workflows = handler("NIMBUS_WORKFLOWS", WorkflowBackend)


def backend() -> WorkflowBackend:
    return workflows.default
