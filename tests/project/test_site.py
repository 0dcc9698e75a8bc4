"""The site's own address: absolute URLs follow the request unless NIMBUS_SITE_URL pins them."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.test import Client, RequestFactory

from apps.users.backends import identity
from apps.users.backends.local import LOCAL_ISSUER
from apps.users.models import User
from apps.users.services import account_sign_in
from project.management.commands.devserver import serving_origin
from project.site import FALLBACK, serving, site_url
from tests.apps.users.factories import PASSWORD


def test_a_pinned_site_url_wins_over_the_request(settings):
    settings.NIMBUS_SITE_URL = "https://files.example.com/"
    request = RequestFactory().get("/", HTTP_HOST="localhost:9000")
    assert site_url(request) == "https://files.example.com"


def test_unpinned_urls_follow_the_request_being_served(settings):
    settings.NIMBUS_SITE_URL = ""
    request = RequestFactory().get("/", HTTP_HOST="localhost:9000")
    with serving(request):
        assert site_url() == "http://localhost:9000"
    assert site_url() == FALLBACK  # outside a request (the worker, with nothing pinned)


@pytest.mark.django_db
def test_upload_and_download_urls_use_the_port_the_browser_is_on(settings, user):
    settings.NIMBUS_SITE_URL = ""
    client = Client(HTTP_HOST="localhost:8123")
    client.force_login(user)
    started = client.post(
        "/api/files/uploads",
        {"name": "a.txt", "content_type": "text/plain", "size": 5},
        content_type="application/json",
    )
    assert started.status_code == 201, started.content
    assert started.json()["url"].startswith("http://localhost:8123/files/storage/upload/")


@pytest.mark.django_db
def test_the_local_jwks_url_follows_the_request(settings, client):
    settings.NIMBUS_SITE_URL = ""
    with serving(RequestFactory().get("/", HTTP_HOST="127.0.0.1:9001")):
        assert identity().jwks_url == "http://127.0.0.1:9001/identity/.well-known/jwks.json"


@pytest.mark.django_db
def test_moving_the_site_keeps_local_accounts_signing_in(settings, user):
    """The local issuer is a constant: it used to be <site>/identity, so a new address
    minted tokens that matched no account ("Another account already uses this email")."""
    settings.NIMBUS_SITE_URL = "http://127.0.0.1:8000"
    assert account_sign_in(email=user.email, password=PASSWORD)[0] == user
    settings.NIMBUS_SITE_URL = "http://localhost:9000"
    signed_in, tokens = account_sign_in(email=user.email, password=PASSWORD)
    assert signed_in == user
    assert identity().verifier().verify(tokens.access_token, token_use="access")["iss"] == (
        LOCAL_ISSUER
    )


@pytest.mark.django_db
def test_accounts_keyed_by_an_old_site_address_are_rekeyed_to_the_local_issuer(user):
    User.objects.filter(pk=user.pk).update(issuer="http://127.0.0.1:8000/identity")
    cognito = User.objects.create_user(
        "c@example.com", issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X"
    )
    migration = importlib.import_module("apps.users.migrations.0005_local_issuer_constant")
    migration.rekey(django_apps, None)
    assert User.objects.get(pk=user.pk).issuer == LOCAL_ISSUER
    assert account_sign_in(email=user.email, password=PASSWORD)[0] == user
    assert User.objects.get(pk=cognito.pk).issuer.startswith("https://cognito-idp.")


@pytest.mark.parametrize(
    ("addrport", "origin"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("9000", "http://127.0.0.1:9000"),
        ("0.0.0.0:8123", "http://127.0.0.1:8123"),
        ("localhost:8002", "http://localhost:8002"),
        ("[::1]:8001", "http://[::1]:8001"),
    ],
)
def test_make_run_tells_its_worker_the_address_it_serves_on(addrport, origin):
    assert serving_origin(addrport) == origin
