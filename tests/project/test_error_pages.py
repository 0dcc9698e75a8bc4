"""People get Nimbus's own pages for errors, never Django's debug page; the API keeps its
JSON error shape for the same failures."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.project.error_page_urls")]


@pytest.fixture
def quiet_client() -> Client:
    """A client that gets the 500 page Django sends instead of re-raising the exception."""
    return Client(raise_request_exception=False)


def test_an_unknown_page_is_the_sites_404_page(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is nothing at this address" in html
    assert 'href="/static/nimbus/site.css"' in html  # the site's frame, not a bare page
    assert "Go to the home page" in html


def test_a_missing_file_is_the_404_page_for_its_signed_in_owner(client, django_user_model):
    user = django_user_model.objects.create_user("ada@example.com", "pw-Correct-horse-42")
    client.force_login(user)
    response = client.get("/files/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert "There is nothing at this address" in response.content.decode()
    assert "Go to your files" in response.content.decode()


def test_permission_denied_is_the_403_page(client):
    response = client.get("/forbidden/")
    assert response.status_code == 403
    assert "You cannot open this page" in response.content.decode()


def test_a_suspicious_request_is_the_400_page(client):
    response = client.get("/suspicious/")
    assert response.status_code == 400
    assert "This request could not be understood" in response.content.decode()


def test_a_form_without_its_csrf_token_is_the_expired_form_page():
    response = Client(enforce_csrf_checks=True).post("/accounts/signin/", {"email": "a@b.c"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()


def test_an_unhandled_error_is_the_500_page_without_the_database_or_a_request(quiet_client):
    from django.db import connection

    with connection.execute_wrapper(_refuse_queries):
        response = quiet_client.get("/broken/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert "Traceback" not in html
    assert "an unhandled failure" not in html


@override_settings(DEBUG=True)
def test_the_debug_page_appears_only_with_debug(quiet_client):
    response = quiet_client.get("/broken/")
    assert response.status_code == 500
    assert "an unhandled failure" in response.content.decode()


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [("/api/no/such/endpoint", 404, "not_found"), ("/api/broken/", 500, "internal_error")],
)
def test_api_paths_keep_the_json_error_shape(quiet_client, path, status, code):
    response = quiet_client.get(path)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == code


def _refuse_queries(execute, sql, params, many, context):
    raise AssertionError(f"the 500 page queried the database: {sql}")
