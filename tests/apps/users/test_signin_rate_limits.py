"""Wrong passwords slow the attacker down and never lock the owner out
(apps.users.signin_guard on project.ratelimit's Backoff)."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from project import ratelimit
from tests.apps.users.factories import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = "Wr0ng-pass!"


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    cache.clear()
    fake = _Clock()
    monkeypatch.setattr(ratelimit, "time", fake)
    yield fake
    cache.clear()


def token(client, email: str, password: str, ip: str = "203.0.113.7"):
    return client.post(
        "/api/auth/token",
        {"email": email, "password": password},
        content_type="application/json",
        REMOTE_ADDR=ip,
    )


def _limits(settings, **parts):
    free = {"free": 1000, "base": 1, "cap": 900, "window": 900}
    settings.NIMBUS_SIGNIN_LIMITS = {
        "per_account_address": free,
        "per_address": free,
        "per_account": free,
        **parts,
    }


def test_wrong_passwords_from_one_address_make_it_wait_longer_each_time(
    client, user, settings, clock
):
    _limits(settings, per_account_address={"free": 2, "base": 1, "cap": 4, "window": 900})
    assert [token(client, user.email, WRONG).status_code for _ in range(3)] == [401, 401, 401]
    waits = []
    for _ in range(4):
        refused = token(client, user.email, PASSWORD)  # even the right one waits its turn
        assert refused.status_code == 429
        assert refused.json()["error"]["detail"]["scope"] == "signin-account-address"
        waits.append(int(refused["Retry-After"]))
        assert f"try again in {waits[-1]} second" in refused.json()["error"]["message"]
        clock.now += waits[-1]
        assert token(client, user.email, WRONG).status_code == 401
    assert waits == [1, 2, 4, 4]  # doubling, capped
    clock.now += 4
    assert token(client, user.email, PASSWORD).status_code == 200
    # The success cleared the failures: the next mistake is free again.
    assert token(client, user.email, WRONG).status_code == 401
    assert token(client, user.email, WRONG).status_code == 401


def test_the_owner_signs_in_from_their_usual_address_while_others_guess(client, user, settings):
    """Fixed per-account limits let anyone lock an owner out with ten wrong passwords."""
    _limits(settings, per_account={"free": 3, "base": 60, "cap": 300, "window": 900})
    assert token(client, user.email, PASSWORD, ip="198.51.100.10").status_code == 200
    for i in range(12):
        assert token(client, user.email, WRONG, ip=f"203.0.113.{i}").status_code in (401, 429)
    stranger = token(client, user.email, PASSWORD, ip="192.0.2.99")
    assert stranger.status_code == 429
    assert stranger.json()["error"]["detail"]["scope"] == "signin-account"
    assert 0 < int(stranger["Retry-After"]) <= 300
    assert token(client, user.email, PASSWORD, ip="198.51.100.10").status_code == 200


def test_an_owner_s_own_mistakes_only_slow_their_own_address(client, user, settings):
    _limits(settings, per_account_address={"free": 1, "base": 60, "cap": 60, "window": 900})
    assert token(client, user.email, WRONG, ip="198.51.100.1").status_code == 401
    assert token(client, user.email, WRONG, ip="198.51.100.1").status_code == 401
    assert token(client, user.email, PASSWORD, ip="198.51.100.1").status_code == 429
    assert token(client, user.email, PASSWORD, ip="198.51.100.2").status_code == 200


def test_one_address_guessing_many_accounts_is_slowed_down(client, make_user, settings):
    _limits(settings, per_address={"free": 3, "base": 30, "cap": 900, "window": 900})
    victims = [make_user() for _ in range(5)]
    statuses = [token(client, v.email, WRONG).status_code for v in victims[:4]]
    assert statuses == [401, 401, 401, 401]
    refused = token(client, victims[4].email, PASSWORD)
    assert refused.status_code == 429
    assert refused.json()["error"]["detail"] == {"scope": "signin-address", "retry_after": 30}
    # Another address is unaffected.
    assert token(client, victims[4].email, PASSWORD, ip="198.51.100.9").status_code == 200


def test_successful_sign_ins_do_not_count(client, user, settings):
    _limits(settings, per_account_address={"free": 0, "base": 60, "cap": 60, "window": 900})
    for _ in range(5):
        assert token(client, user.email, PASSWORD).status_code == 200


def test_the_default_policy_is_the_documented_one():
    from apps.users.signin_guard import DEFAULTS

    assert DEFAULTS == {
        "per_account_address": {"free": 5, "base": 1, "cap": 900, "window": 900},
        "per_address": {"free": 20, "base": 1, "cap": 900, "window": 900},
        "per_account": {"free": 50, "base": 1, "cap": 300, "window": 900},
        "known_address_days": 90,
    }


def test_sign_in_costs_the_same_for_unknown_and_known_addresses(client, make_user, settings):
    """The local provider skipped hashing for unknown e-mails: ~25 ms against ~1.1 s."""
    settings.PASSWORD_HASHERS = ["tests.apps.users.hashers.MeasurablePBKDF2Hasher"]
    user = make_user()

    def cost(email: str) -> float:
        started = time.perf_counter()
        assert token(client, email, WRONG).status_code == 401
        return time.perf_counter() - started

    cost(user.email)  # warm up
    known = min(cost(user.email) for _ in range(3))
    unknown = min(cost(f"nobody{i}@example.com") for i in range(3))
    assert unknown > 0.6 * known, (unknown, known)


def test_an_owner_kept_waiting_by_an_attack_can_sign_in_with_a_link(settings, user):
    """From a new address, under attack: the page offers a link by mail; it works once."""
    import re

    from django.core import mail
    from django.test import Client

    _limits(settings, per_account={"free": 2, "base": 60, "cap": 300, "window": 900})
    attacker = Client()
    for i in range(4):
        attacker.post(
            "/accounts/signin/", {"email": user.email, "password": WRONG}, REMOTE_ADDR=f"10.0.0.{i}"
        )
    owner = Client(REMOTE_ADDR="192.0.2.50")
    page = owner.post("/accounts/signin/", {"email": user.email, "password": PASSWORD})
    assert page.status_code == 429
    assert "Email me a sign-in link" in page.content.decode()

    assert owner.post("/accounts/signin/link/", {"email": user.email}).status_code == 302
    assert owner.post("/accounts/signin/link/", {"email": "nobody@example.com"}).status_code == 302
    assert [m.to for m in mail.outbox] == [[user.email]]  # only the account's address
    link = re.search(r"http://\S+(/accounts/signin/link/\S+/)", mail.outbox[0].body).group(1)

    shown = owner.get(link)  # a mail scanner's GET does not spend it
    assert shown.status_code == 200
    assert "_auth_user_id" not in owner.session
    assert owner.post(link).status_code == 302
    assert owner.session["_auth_user_id"] == str(user.pk)
    # Spent; and the owner's new address now counts as theirs.
    assert Client().post(link).status_code == 400
    assert token(Client(), user.email, PASSWORD, ip="192.0.2.50").status_code == 200


def test_a_forged_or_expired_sign_in_link_is_refused(client, user, clock):
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from apps.users.signin_link import LINK_MAX_AGE, signin_link_tokens

    uid = urlsafe_base64_encode(force_bytes(user.pk))
    assert client.get(f"/accounts/signin/link/{uid}/1-abc/").status_code == 400
    assert client.get("/accounts/signin/link/x/y/").status_code == 400
    stale = signin_link_tokens._make_token_with_timestamp(
        user,
        signin_link_tokens._num_seconds(signin_link_tokens._now()) - LINK_MAX_AGE - 1,
        signin_link_tokens.secret,
    )
    assert client.get(f"/accounts/signin/link/{uid}/{stale}/").status_code == 400
    fresh = signin_link_tokens.make_token(user)
    assert client.get(f"/accounts/signin/link/{uid}/{fresh}/").status_code == 200


def test_the_admin_sign_in_is_slowed_by_the_same_waits(settings, make_user):
    from django.test import Client

    _limits(settings, per_account_address={"free": 1, "base": 60, "cap": 60, "window": 900})
    ops = make_user(groups=["operators"])
    browser = Client(REMOTE_ADDR="203.0.113.20")
    for _ in range(2):
        wrong = browser.post("/admin/login/", {"username": ops.email, "password": WRONG})
        assert wrong.status_code == 200  # the form again
    refused = browser.post("/admin/login/", {"username": ops.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert "_auth_user_id" not in browser.session
    elsewhere = Client(REMOTE_ADDR="198.51.100.20")
    assert (
        elsewhere.post("/admin/login/", {"username": ops.email, "password": PASSWORD}).status_code
        == 302
    )
