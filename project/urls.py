from typing import Any

from django.contrib import admin
from django.urls import path

from project import views

# What ``project.api.api.urls`` names (tests/project/test_urls.py checks they agree).
API_APP_NAME = "ninja"
API_NAMESPACE = "api"


def lazy(module: str, app_name: str | None = None) -> Any:
    """Mount ``module``'s URLconf by name, as ``include(module)`` does, except that it is
    imported when a request first gets past the patterns before it (or on the first
    ``reverse()``), not with this URLconf: ``/healthz`` and the home page never load the
    apps' views, forms and services (bench/README.md). ``app_name`` is the module's own,
    used as its namespace as ``include()`` does."""
    # (module name, app_name, namespace): URLResolver imports a module given by name on
    # first use; django-stubs only types the (patterns, app_name, namespace) form.
    return (module, app_name, app_name)


urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # By module name, so the API (ninja + schemas) loads on the first /api/ request.
    path("api/", ("project.api_urls", API_APP_NAME, API_NAMESPACE)),
    path("", views.home, name="home"),
    path("", lazy("apps.users.urls")),
    path("", lazy("apps.files.urls", "files")),
    path("", lazy("apps.events.urls")),
    path("", lazy("apps.workflows.urls")),
    path("", lazy("apps.push.urls", "push")),
]
