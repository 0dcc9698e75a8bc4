"""Web pages of the users app."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from apps.users import views_jwks

urlpatterns: list[URLPattern | URLResolver] = [
    path("identity/.well-known/jwks.json", views_jwks.jwks, name="identity-jwks"),
]
