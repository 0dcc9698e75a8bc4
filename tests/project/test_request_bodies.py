"""Hostile bodies earn 4xx, never 5xx (project.requestbody.BodyGuardMiddleware)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.django_db

# Under the 64 KiB cap, and far deeper than Python's recursion limit.
DEEP = b"[" * 20_000 + b"]" * 20_000
DEEP_OBJECT = b'{"email": ' + b'{"a":' * 8_000 + b"1" + b"}" * 8_000 + b"}"


def _error(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    return response.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/auth/signup",
        "/api/auth/confirm",
        "/api/auth/password/forgot",
        "/api/auth/password/reset",
        "/api/auth/token",
        "/api/workflows/callbacks/anything",
    ],
)
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deep_json_is_refused_before_parsing(client, path, body):
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "request_malformed"
    assert error["detail"] == {"max_depth": 32}


def test_moderately_nested_json_still_reaches_the_endpoint(client):
    output = {"a": [[[{"b": [1, 2, 3]}]]], "s": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}
    response = client.post(
        "/api/workflows/callbacks/anything",
        {"outcome": "success", "output": output},
        content_type="application/json",
    )
    # Brackets inside strings do not count; the signed token is what is wrong here.
    assert response.status_code in (400, 404), response.content
    assert _error(response)["code"] != "request_malformed"


@pytest.mark.parametrize(
    "path", ["/api/auth/token", "/api/auth/refresh", "/api/workflows/callbacks/anything"]
)
def test_bodies_over_the_cap_get_413_with_the_error_shape(client, path):
    body = json.dumps({"refresh_token": "x" * 3_000_000, "email": "a@example.com"})
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "request_too_large"
    assert error["detail"]["max_bytes"] in (64 * 1024, 256 * 1024)


def test_a_body_over_django_s_memory_limit_is_413_not_500(client, settings):
    """RequestDataTooBig (DATA_UPLOAD_MAX_MEMORY_SIZE below the path's cap) is a 413."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"email": "a@example.com", "password": "p" * 2000})
    response = client.post("/api/auth/token", body, content_type="application/json")
    assert response.status_code == 413
    assert _error(response)["code"] == "request_too_large"


def test_pages_get_413_too(client):
    response = client.post(
        "/accounts/signin/", {"email": "a@example.com", "password": "p" * 200_000}
    )
    assert response.status_code == 413
    assert b"too large" in response.content or b"over" in response.content


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_with_422(client, literal):
    body = '{"outcome": "success", "output": ' + literal + "}"
    response = client.post(
        "/api/workflows/callbacks/anything", body, content_type="application/json"
    )
    assert response.status_code == 422
    assert _error(response)["code"] == "number_not_finite"


def test_huge_integers_are_refused_with_422(user_client):
    response = user_client.post(
        "/api/notifications/read", {"ids": [10**30]}, content_type="application/json"
    )
    assert response.status_code == 422
    assert _error(response)["code"] == "number_out_of_range"


def test_ids_out_of_the_database_s_range_are_refused_by_the_schema(user_client):
    response = user_client.post(
        "/api/notifications/read", {"ids": [2**63 - 1, 0]}, content_type="application/json"
    )
    assert response.status_code == 422
    assert _error(response)["code"] == "invalid_input"


@pytest.mark.parametrize(
    "body", [b"\xff\xfe{}", b"{not json", b'{"email": "a@example.com"', b"\x00"]
)
def test_bodies_that_are_not_json_are_400(client, body):
    response = client.post("/api/auth/password/forgot", body, content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "request_malformed"


def test_a_bad_content_length_is_400(client):
    response = client.generic(
        "POST", "/api/auth/token", b"{}", content_type="application/json", CONTENT_LENGTH="x"
    )
    assert response.status_code == 400
    assert _error(response)["code"] == "request_malformed"


def test_a_callback_refusal_never_logs_the_token_in_its_path(client, log_lines):
    token = "secret-callback-token-abc123"
    response = client.post(
        f"/api/workflows/callbacks/{token}", b"[" * 100, content_type="application/json"
    )
    assert response.status_code == 400
    assert not [line for line in log_lines.lines if token in line]


@pytest.mark.parametrize("size", [-1, 2**63])
def test_an_upload_size_out_of_range_is_422(user_client, size):
    response = user_client.post(
        "/api/files/uploads",
        {"name": "a.png", "content_type": "image/png", "size": size},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert _error(response)["code"] in ("invalid_input", "number_out_of_range")


def test_a_huge_id_in_a_path_or_query_is_422(user_client):
    assert user_client.get("/api/notifications/" + "9" * 30).status_code == 422
    assert user_client.get("/api/notifications/", {"after": 2**63}).status_code == 422


async def test_a_chunked_body_without_content_length_is_capped_too():
    """Under ASGI (make run) a body may come without Content-Length."""
    from channels.testing import HttpCommunicator

    from project.asgi import application

    body = b'{"email": "' + b"a" * 100_000 + b'"}'
    communicator = HttpCommunicator(
        application,
        "POST",
        "/api/auth/password/forgot",
        body=body,
        headers=[(b"content-type", b"application/json"), (b"host", b"127.0.0.1")],
    )
    response = await communicator.get_response()
    assert response["status"] == 413
    assert json.loads(response["body"])["error"]["code"] == "request_too_large"
