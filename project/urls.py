from django.contrib import admin
from django.urls import include, path

from project import views

# What ``project.api.api.urls`` names (tests/project/test_urls.py checks they agree).
API_APP_NAME = "ninja"
API_NAMESPACE = "api"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # By module name, so the API (ninja + schemas) loads on the first /api/ request.
    path("api/", ("project.api_urls", API_APP_NAME, API_NAMESPACE)),
    path("", views.home, name="home"),
    path("", include("apps.users.urls")),
    path("", include("apps.files.urls")),
    path("", include("apps.events.urls")),
    path("", include("apps.workflows.urls")),
    path("", include("apps.push.urls")),
]
