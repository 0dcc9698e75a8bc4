from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project itself: system checks, management commands, telemetry, operations."""

    name = "project"
    label = "nimbus"

    def ready(self) -> None:
        from project import (
            checks,  # noqa: F401  (registers the system checks)
            operations,  # noqa: F401  (metrics pruning, admin audit signals)
        )
