"""Rate limits on sign-up, code confirmation, password resets and upload start
(ThrottleMiddleware)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from project import telemetry

pytestmark = pytest.mark.django_db

RULES = [
    {
        "scope": "signup",
        "methods": ["POST"],
        "paths": ["/api/auth/signup", "/accounts/signup/"],
        "per_ip": (3, 3600),
        "per_account": (2, 3600),
    },
    {
        "scope": "confirm",
        "methods": ["POST"],
        "paths": ["/api/auth/confirm"],
        "per_account": (3, 900),
    },
    {
        "scope": "upload-start",
        "methods": ["POST"],
        "paths": ["/api/files/uploads"],
        "per_caller": (2, 60),
    },
]


@pytest.fixture(autouse=True)
def _rules(settings):
    settings.NIMBUS_THROTTLES = RULES
    cache.clear()
    telemetry.metrics.default.samples.clear()
    yield
    cache.clear()


def _signup(client, email: str, ip: str):
    return client.post(
        "/api/auth/signup",
        {"email": email, "password": "Long-enough-pass-1!"},
        content_type="application/json",
        REMOTE_ADDR=ip,
    )


def test_sign_ups_from_one_address_are_limited(client):
    statuses = [_signup(client, f"u{i}@example.com", "198.51.100.7").status_code for i in range(4)]
    assert 429 not in statuses[:3]
    assert statuses[3] == 429
    # Another address is not affected.
    assert _signup(client, "other@example.com", "198.51.100.8").status_code != 429


def test_the_429_has_the_api_error_shape_retry_after_and_a_metric(client):
    for _ in range(2):
        _signup(client, "same@example.com", "203.0.113.1")
    response = _signup(client, "Same@Example.com", "203.0.113.2")  # other address, same account
    assert response.status_code == 429
    body = response.json()["error"]
    assert body["code"] == "rate_limited"
    assert body["detail"]["scope"] == "signup-per_account"
    assert int(response["Retry-After"]) > 0
    assert ("RateLimited", 1.0, "Count", {"scope": "signup"}) in telemetry.metrics.default.samples


def test_confirmation_codes_cannot_be_guessed_past_the_limit(client):
    def confirm(code: str):
        return client.post(
            "/api/auth/confirm",
            {"email": "victim@example.com", "code": code},
            content_type="application/json",
            REMOTE_ADDR=f"192.0.2.{code[-1]}",
        )

    statuses = [confirm(f"00000{i}").status_code for i in range(5)]
    assert 429 not in statuses[:3]
    assert statuses[3:] == [429, 429]


def test_the_sign_up_page_is_limited_too(client):
    for i in range(3):
        client.post("/accounts/signup/", {"email": f"p{i}@example.com"}, REMOTE_ADDR="192.0.2.50")
    response = client.post(
        "/accounts/signup/", {"email": "p9@example.com"}, REMOTE_ADDR="192.0.2.50"
    )
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    # A page that says when: the seconds of Retry-After, in words and as a time.
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= 2 * 3600  # the refused hit counts in the sliding window too
    page = response.content.decode()
    assert "Too many attempts" in page
    assert "You can try again in <strong>" in page
    assert "<time datetime=" in page


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8", ""],
)
def test_the_account_limit_reads_the_body_the_api_parses_whatever_its_content_type(
    client, settings, content_type
):
    """A JSON body labelled text/plain was parsed by the API but not counted per account."""
    import json

    from django.core import mail

    settings.NIMBUS_THROTTLES = [
        {
            "scope": "password-forgot",
            "methods": ["POST"],
            "paths": ["/api/auth/password/forgot"],
            "per_account": (3, 300),
        }
    ]
    body = json.dumps({"email": "victim@example.com"})
    statuses = [
        client.post(
            "/api/auth/password/forgot",
            body,
            content_type=content_type,
            REMOTE_ADDR=f"203.0.113.{i}",
        ).status_code
        for i in range(6)
    ]
    assert statuses == [202, 202, 202, 429, 429, 429]
    assert len(mail.outbox) <= 3


def test_upload_start_is_limited_per_caller(client, django_user_model):
    user = django_user_model.objects.create_user("up@example.com", "Long-enough-pass-1!")
    client.force_login(user)
    start = {"name": "a.png", "content_type": "image/png", "size": 10}
    statuses = [
        client.post("/api/files/uploads", start, content_type="application/json").status_code
        for _ in range(3)
    ]
    assert 429 not in statuses[:2]
    assert statuses[2] == 429
    other = django_user_model.objects.create_user("up2@example.com", "Long-enough-pass-1!")
    client.force_login(other)
    assert (
        client.post("/api/files/uploads", start, content_type="application/json").status_code != 429
    )


def test_other_requests_are_not_counted(client):
    for _ in range(10):
        assert client.get("/api/auth/signup").status_code != 429
        assert client.get("/healthz").status_code == 200


def _default_rule(scope: str) -> dict:
    from project.throttling import DEFAULT_THROTTLES

    return next(rule for rule in DEFAULT_THROTTLES if rule["scope"] == scope)


def test_forgot_password_is_limited_per_account_by_the_default_rules(client, settings):
    from project.throttling import DEFAULT_THROTTLES

    settings.NIMBUS_THROTTLES = DEFAULT_THROTTLES
    hits, _ = _default_rule("password-forgot")["per_account"]

    def forgot(i: int):
        return client.post(
            "/api/auth/password/forgot",
            {"email": "Victim@example.com" if i % 2 else "victim@example.com"},
            content_type="application/json",
            REMOTE_ADDR=f"192.0.2.{i + 1}",
        )

    statuses = [forgot(i).status_code for i in range(hits + 1)]
    assert statuses[:hits] == [202] * hits
    assert statuses[hits] == 429
    assert forgot(0).json()["error"]["detail"]["scope"] == "password-forgot-per_account"
    other = client.post(
        "/api/auth/password/forgot",
        {"email": "other@example.com"},
        content_type="application/json",
        REMOTE_ADDR="192.0.2.1",
    )
    assert other.status_code == 202


def test_the_forgot_password_page_is_limited_per_address_by_the_default_rules(client, settings):
    from project.throttling import DEFAULT_THROTTLES

    settings.NIMBUS_THROTTLES = DEFAULT_THROTTLES
    hits, _ = _default_rule("password-forgot")["per_ip"]
    for i in range(hits):
        response = client.post(
            "/accounts/password/forgot/", {"email": f"p{i}@example.com"}, REMOTE_ADDR="192.0.2.60"
        )
        assert response.status_code == 302
    response = client.post(
        "/accounts/password/forgot/", {"email": "p-last@example.com"}, REMOTE_ADDR="192.0.2.60"
    )
    assert response.status_code == 429
