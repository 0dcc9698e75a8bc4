from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"
    verbose_name = "Events"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # Event types first (receivers may name them), then receivers and schedules.
        autodiscover_modules("events")
        autodiscover_modules("handlers")
        from apps.events import checks, tasks  # noqa: F401  (registers jobs and checks)
