from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "apps.files"
    label = "files"
    verbose_name = "Files"

    def ready(self) -> None:
        # The review's steps and receivers (the workflows and events apps discover only
        # ``steps`` and ``handlers`` modules).
        from apps.files import review  # noqa: F401
