"""The apps record the business and technical metrics operators alarm on."""

from __future__ import annotations

import pytest

from project import telemetry
from tests.apps.users.factories import PASSWORD, user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def samples():
    backend = telemetry.metrics.default
    backend.samples.clear()
    return backend.samples


def _names(samples) -> list[tuple[str, dict[str, str]]]:
    return [(name, dims) for name, _, _, dims in samples]


def test_a_bad_bearer_token_counts_as_an_auth_failure(client, samples):
    response = client.get("/api/me", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert [n for n, _ in _names(samples)] == ["AuthFailures"]


def test_a_wrong_password_counts_as_an_auth_failure(client, samples):
    user = user_create()
    response = client.post(
        "/api/auth/token",
        {"email": user.email, "password": PASSWORD + "x"},
        content_type="application/json",
    )
    assert response.status_code in (400, 401)
    (name, dims), *_ = _names(samples)
    assert name == "AuthFailures"
    assert dims["reason"]
    assert PASSWORD not in str(samples)


def test_starting_an_upload_is_counted(client, samples):
    client.force_login(user_create())
    response = client.post(
        "/api/files/uploads",
        {"name": "a.png", "content_type": "image/png", "size": 100},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert ("UploadsStarted", {"kind": "single"}) in _names(samples)
