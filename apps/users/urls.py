"""Web pages of the users app."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from django.views.generic import RedirectView

from apps.users import views, views_jwks, views_standin

urlpatterns: list[URLPattern | URLResolver] = [
    path("identity/.well-known/jwks.json", views_jwks.jwks, name="identity-jwks"),
    # The local provider's stand-in for federated IdPs (404 under Cognito).
    path("identity/oauth2/authorize", views_standin.authorize, name="identity-authorize"),
    path("identity/oauth2/token", views_standin.token, name="identity-token"),
    path("accounts/", RedirectView.as_view(url="/accounts/settings/"), name="account"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/confirm/", views.confirm, name="signup-confirm"),
    path("accounts/signin/", views.signin, name="signin"),
    path("accounts/signin/link/", views.signin_link_request, name="signin-link-request"),
    path("accounts/signin/link/<str:uidb64>/<str:token>/", views.signin_link, name="signin-link"),
    path("accounts/signout/", views.signout, name="signout"),
    path("accounts/password/forgot/", views.password_forgot, name="password-forgot"),
    path("accounts/password/reset/", views.password_reset, name="password-reset"),
    path("accounts/password/change/", views.password_change, name="password-change"),
    path("accounts/settings/", views.account_settings, name="account-settings"),
    path("accounts/federated/start/", views.federated_start, name="federated-start"),
    path(
        "accounts/federated/<slug:provider>/start/",
        views.federated_start,
        name="federated-start-provider",
    ),
    path(
        "accounts/federated/<slug:provider>/link/",
        views.federated_link,
        name="federated-link",
    ),
    # The app client's registered callback URL (infra/parts/identity.py).
    path("accounts/callback/", views.federated_callback, name="federated-callback"),
]
