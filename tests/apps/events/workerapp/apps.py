from django.apps import AppConfig


class KillTestConfig(AppConfig):
    """A receiver for the worker-crash test, installed only by its settings module."""

    name = "tests.apps.events.workerapp"
    label = "events_killtest"
