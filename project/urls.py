from django.contrib import admin
from django.urls import include, path

from project import views
from project.api import api

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", views.home, name="home"),
    path("", include("apps.users.urls")),
    path("", include("apps.files.urls")),
    path("", include("apps.events.urls")),
    path("", include("apps.workflows.urls")),
    path("", include("apps.push.urls")),
]
