"""Web pages of the push app."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from apps.push.views import notification_list_page, unsubscribe_page

app_name = "push"

urlpatterns: list[URLPattern | URLResolver] = [
    path("notifications/", notification_list_page, name="notifications"),
    path("notifications/unsubscribe/<str:token>/", unsubscribe_page, name="unsubscribe"),
]
