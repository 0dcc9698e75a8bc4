from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    """Workflows: ASL definitions run by Step Functions on AWS and a local durable engine."""

    name = "apps.workflows"
    label = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from apps.workflows import checks, driver, registry  # noqa: F401  (checks, reconciler)

        registry.discover()
