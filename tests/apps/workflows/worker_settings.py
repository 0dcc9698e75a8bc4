"""Settings for the worker-restart test: a file database, the database task queue, and
the test-only workflows and steps."""

from __future__ import annotations

from pathlib import Path

from project.settings.test import *  # noqa: F403

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "events", "workflows"],
    }
}
NIMBUS_WORKFLOW_DIRS = [Path(__file__).parent / "definitions"]
NIMBUS_WORKFLOW_STEP_MODULES = ["tests.apps.workflows.steps"]
