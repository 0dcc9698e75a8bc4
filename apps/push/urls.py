"""Web pages of the push app."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from apps.push.views import notification_list_page

app_name = "push"

urlpatterns: list[URLPattern | URLResolver] = [
    path("notifications/", notification_list_page, name="notifications"),
]
