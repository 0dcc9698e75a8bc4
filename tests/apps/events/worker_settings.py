"""Settings for the worker-crash test: a file database, the database task queue, short leases."""

from __future__ import annotations

from project.settings.test import *  # noqa: F403
from project.settings.test import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.apps.events.workerapp"]
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "events", "workflows"],
    }
}
NIMBUS_EVENTS = {
    "default": {
        "BACKEND": "apps.events.backends.local.LocalBus",
        "OPTIONS": {
            "lease_seconds": 2.0,
            "requeue_seconds": 0.5,
            "base_delay": 0.1,
            "max_delay": 0.5,
        },
    }
}
NIMBUS_TASK_LEASE = {"lease_seconds": 2.0, "recover_seconds": 0.5}
