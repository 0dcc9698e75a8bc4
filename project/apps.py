from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ProjectConfig(AppConfig):
    """The project itself: system checks, management commands, telemetry, operations."""

    name = "project"
    label = "nimbus"

    def ready(self) -> None:
        from project import (
            checks,  # noqa: F401  (registers the system checks)
            operations,  # noqa: F401  (metrics pruning, admin audit signals)
        )

        post_migrate.connect(create_cache_tables, sender=self, dispatch_uid="nimbus_cache_tables")


def create_cache_tables(sender: AppConfig, using: str, **kwargs: Any) -> None:
    """Every ``migrate`` also makes the tables of database caches (``createcachetable``).

    Production's rate limits and throttles count in a ``DatabaseCache`` every Lambda
    container shares; without its table each sign-in would fail. Making it part of
    ``migrate`` (run once per deploy) leaves no separate step to forget. Idempotent:
    existing tables are left alone.
    """
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)
