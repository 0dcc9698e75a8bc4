from django.apps import AppConfig


class PushConfig(AppConfig):
    name = "apps.push"
    label = "push"
    verbose_name = "Push and notifications"

    def ready(self) -> None:
        from apps.push import tasks  # noqa: F401  (registers the worker's periodic jobs)
