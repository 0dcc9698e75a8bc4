"""Sign-in attempts are limited per account and per client IP (project.ratelimit)."""

from __future__ import annotations

import pytest

from tests.apps.users.factories import PASSWORD

pytestmark = pytest.mark.django_db


def token(client, email: str, password: str, ip: str = "203.0.113.7"):
    return client.post(
        "/api/auth/token",
        {"email": email, "password": password},
        content_type="application/json",
        REMOTE_ADDR=ip,
    )


def test_failures_from_one_ip_lock_that_ip_out_across_accounts(client, make_user, settings):
    settings.NIMBUS_SIGNIN_RATE_LIMITS = {"per_account": (100, 300), "per_ip": (3, 300)}
    victims = [make_user() for _ in range(4)]
    for victim in victims[:3]:
        assert token(client, victim.email, "Wr0ng-pass!").status_code == 401
    refused = token(client, victims[3].email, PASSWORD)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["detail"]["scope"] == "signin-ip"
    assert 0 < int(refused["Retry-After"]) <= 300  # when to come back, as the throttles say
    # Another IP is unaffected.
    assert token(client, victims[3].email, PASSWORD, ip="198.51.100.9").status_code == 200


def test_failures_on_one_account_lock_it_from_every_ip(client, user, settings):
    settings.NIMBUS_SIGNIN_RATE_LIMITS = {"per_account": (2, 300), "per_ip": (100, 300)}
    for ip in ("203.0.113.1", "203.0.113.2"):
        assert token(client, user.email, "Wr0ng-pass!", ip=ip).status_code == 401
    refused = token(client, user.email, PASSWORD, ip="203.0.113.3")
    assert refused.status_code == 429
    assert refused.json()["error"]["detail"]["scope"] == "signin-account"


def test_successful_sign_ins_do_not_count(client, user, settings):
    settings.NIMBUS_SIGNIN_RATE_LIMITS = {"per_account": (2, 300), "per_ip": (2, 300)}
    for _ in range(5):
        assert token(client, user.email, PASSWORD).status_code == 200
