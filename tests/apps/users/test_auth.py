"""``api_auth``: Bearer access tokens or the CSRF-checked session, nothing else."""

from __future__ import annotations

import json

import pytest
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.urls import path
from ninja import NinjaAPI

from apps.users.auth import api_auth
from project import urls as project_urls
from project.errors import NimbusError, error_response
from tests.apps.users.factories import access_token_for

pytestmark = pytest.mark.django_db


def test_me_with_bearer_token(bearer_client, user):
    response = bearer_client.get("/api/me")
    assert response.status_code == 200
    assert response.json()["email"] == user.email


def test_me_with_session(user_client, user):
    response = user_client.get("/api/me")
    assert response.status_code == 200
    assert response.json()["email"] == user.email


def test_me_without_credentials_is_401_in_the_error_shape(client):
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_bad_bearer_token_is_401_and_does_not_fall_back_to_the_session(user_client):
    response = user_client.get("/api/me", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_malformed"


def test_disabled_user_token_is_refused(user):
    token = access_token_for(user)
    user.is_active = False
    user.save()
    response = Client().get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "user_disabled"


# An unsafe endpoint on an API of its own checks CSRF on the session path.
_api = NinjaAPI(urls_namespace="test_users_auth")
_api.exception_handler(NimbusError)(
    lambda request, exc: error_response(exc.code, exc.message, exc.status)
)


@_api.post("/echo", auth=api_auth)
def _echo(request):
    return {"email": request.auth.email}


urlpatterns = [path("test-users-auth/", _api.urls), *project_urls.urlpatterns]


@pytest.mark.urls(__name__)
def test_session_post_without_csrf_token_is_403(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/test-users-auth/echo", "{}", content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


@pytest.mark.urls(__name__)
def test_session_post_with_csrf_token_passes(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    response = client.post(
        "/test-users-auth/echo",
        json.dumps({}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200
    assert response.json() == {"email": user.email}


@pytest.mark.urls(__name__)
def test_bearer_post_needs_no_csrf_token(user):
    client = Client(
        enforce_csrf_checks=True, headers={"Authorization": f"Bearer {access_token_for(user)}"}
    )
    response = client.post("/test-users-auth/echo", "{}", content_type="application/json")
    assert response.status_code == 200


def test_change_password_through_the_api(bearer_client, user):
    weak = bearer_client.post(
        "/api/auth/password/change",
        {"old_password": "Corr3ct-Horse!", "new_password": "weak"},
        content_type="application/json",
    )
    assert weak.status_code == 422
    assert weak.json()["error"]["code"] == "password_too_weak"
    response = bearer_client.post(
        "/api/auth/password/change",
        {"old_password": "Corr3ct-Horse!", "new_password": "N3w-password!"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.check_password("N3w-password!")
    # The change signs the account out everywhere, the token that asked for it included.
    after = bearer_client.get("/api/me")
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "token_revoked"


def _apigw_me(aws_event, authorization: str) -> dict:
    event = aws_event("apigw_rest_v1_healthz")
    event["path"] = "/api/me"
    event["pathParameters"] = {"proxy": "api/me"}
    event["headers"]["Authorization"] = authorization
    event["multiValueHeaders"]["Authorization"] = [authorization]
    return event


def test_bearer_token_through_api_gateway_and_zappa(lambda_entry, aws_event, lambda_context, user):
    ok = lambda_entry(_apigw_me(aws_event, f"Bearer {access_token_for(user)}"), lambda_context)
    assert ok["statusCode"] == 200
    assert json.loads(ok["body"])["email"] == user.email
    bad = lambda_entry(_apigw_me(aws_event, "Bearer x.y.z"), lambda_context)
    assert bad["statusCode"] == 401
    assert json.loads(bad["body"])["error"]["code"] == "token_malformed"
