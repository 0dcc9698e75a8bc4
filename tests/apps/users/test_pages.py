"""The account pages: real forms, CSRF on, sessions only after the provider said yes."""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client

from apps.users.models import Profile, User
from tests.apps.users.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW = "N3w-password!"


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def csrf_post(client: Client, path: str, data: dict[str, str], **kwargs):
    page = client.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token, f"no CSRF token on {path}"
    return client.post(path, {**data, "csrfmiddlewaretoken": token.group(1)}, **kwargs)


def signed_in_sessions() -> list[str]:
    """User ids of every stored session that is signed in."""
    decoded = (s.get_decoded() for s in Session.objects.all())
    return [d["_auth_user_id"] for d in decoded if "_auth_user_id" in d]


def last_code() -> str:
    match = re.search(r"\b(\d{6})\b", mail.outbox[-1].body)
    assert match
    return match.group(1)


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/signup/",
        "/accounts/confirm/",
        "/accounts/signin/",
        "/accounts/password/forgot/",
        "/accounts/password/reset/",
    ],
)
def test_pages_render_labelled_fields_with_csrf(browser, path):
    response = browser.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "csrfmiddlewaretoken" in html
    assert "{% extends" not in html
    assert "<main" in html
    for field_id in re.findall(r'<input[^>]+id="(id_[a-z_0-9]+)"', html):
        assert f'for="{field_id}"' in html, f"{field_id} has no label on {path}"


def test_sign_up_confirm_sign_in_sign_out_in_the_browser(browser):
    response = csrf_post(
        browser,
        "/accounts/signup/",
        {"email": "Ana@Example.com", "name": "Ana", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/confirm/?email=ana%40example.com")
    assert not signed_in_sessions()

    response = csrf_post(
        browser, "/accounts/confirm/", {"email": "ana@example.com", "code": last_code()}
    )
    assert response.status_code == 302
    assert not signed_in_sessions()

    response = csrf_post(
        browser,
        "/accounts/signin/",
        {"email": "ana@example.com", "password": PASSWORD, "next": "/accounts/settings/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/settings/"
    assert browser.session["_auth_user_id"] == str(User.objects.get(email="ana@example.com").pk)
    assert browser.get("/api/me").json()["email"] == "ana@example.com"

    page = browser.get("/accounts/settings/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = browser.post("/accounts/signout/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert "_auth_user_id" not in browser.session


def test_sign_in_refused_creates_no_session(browser, user):
    response = csrf_post(
        browser, "/accounts/signin/", {"email": user.email, "password": "Wr0ng-pass!"}
    )
    assert response.status_code == 401
    assert "Incorrect email or password" in response.content.decode()
    assert not signed_in_sessions()


def test_sign_in_of_unconfirmed_account_goes_to_confirm(browser, make_user):
    user = make_user(confirmed=False)
    response = csrf_post(browser, "/accounts/signin/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/confirm/")
    assert "_auth_user_id" not in browser.session


def test_sign_in_ignores_an_offsite_next(browser, user):
    response = csrf_post(
        browser,
        "/accounts/signin/",
        {"email": user.email, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/files/"


def test_sign_in_without_csrf_token_is_refused(browser, user):
    response = browser.post("/accounts/signin/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 403


def test_sign_out_is_post_only(user_client):
    assert user_client.get("/accounts/signout/").status_code == 405


def test_signing_up_with_a_taken_address_looks_like_any_sign_up(browser, user):
    from django.core import mail

    taken = csrf_post(browser, "/accounts/signup/", {"email": user.email, "password": PASSWORD})
    new = csrf_post(
        browser, "/accounts/signup/", {"email": "fresh@example.com", "password": PASSWORD}
    )
    assert (taken.status_code, new.status_code) == (302, 302)
    assert taken["Location"].startswith("/accounts/confirm/?email=")
    assert [m.subject for m in mail.outbox if m.to == [user.email]] == [
        "You already have a Nimbus account"
    ]


def test_weak_password_shows_the_policy(browser):
    response = csrf_post(
        browser, "/accounts/signup/", {"email": "new@example.com", "password": "password"}
    )
    assert response.status_code == 422
    assert "a digit" in response.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()


def test_wrong_code_then_resend(browser, make_user):
    csrf_post(browser, "/accounts/signup/", {"email": "bo@example.com", "password": PASSWORD})
    response = csrf_post(
        browser, "/accounts/confirm/", {"email": "bo@example.com", "code": "000000x"}
    )
    assert response.status_code == 400
    assert "not correct" in response.content.decode()
    sent = len(mail.outbox)
    response = csrf_post(browser, "/accounts/confirm/", {"email": "bo@example.com", "resend": "1"})
    assert response.status_code == 302
    assert len(mail.outbox) == sent + 1


def test_forgot_and_reset_password_pages(browser, user):
    response = csrf_post(browser, "/accounts/password/forgot/", {"email": user.email})
    assert response.status_code == 302
    response = csrf_post(
        browser,
        "/accounts/password/reset/",
        {"email": user.email, "code": last_code(), "new_password": NEW, "new_password2": NEW},
    )
    assert response.status_code == 302
    response = csrf_post(browser, "/accounts/signin/", {"email": user.email, "password": NEW})
    assert response.status_code == 302


def test_forgot_password_for_an_unknown_address_looks_the_same(browser):
    response = csrf_post(browser, "/accounts/password/forgot/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_change_password_keeps_this_session(user, browser):
    csrf_post(browser, "/accounts/signin/", {"email": user.email, "password": PASSWORD})
    response = csrf_post(
        browser,
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password": NEW, "new_password2": NEW},
    )
    assert response.status_code == 302
    assert browser.get("/accounts/settings/").status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW)


def test_change_password_with_the_wrong_current_one(user, browser):
    csrf_post(browser, "/accounts/signin/", {"email": user.email, "password": PASSWORD})
    response = csrf_post(
        browser,
        "/accounts/password/change/",
        {"old_password": "Wr0ng-pass!", "new_password": NEW, "new_password2": NEW},
    )
    assert response.status_code == 401


def test_settings_page_saves_name_and_profile(user_client, user):
    page = user_client.get("/accounts/settings/")
    assert page.status_code == 200
    response = user_client.post(
        "/accounts/settings/",
        {"name": "Ana B.", "timezone": "Europe/Lisbon", "email_notifications": ""},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.name == "Ana B."
    profile = Profile.objects.get(user=user)
    assert (profile.timezone, profile.email_notifications) == ("Europe/Lisbon", False)


def test_settings_needs_sign_in(client):
    response = client.get("/accounts/settings/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/signin/?next=")


def test_sign_out_everywhere_ends_other_sessions(user, browser):
    other = Client()
    other.force_login(user)
    csrf_post(browser, "/accounts/signin/", {"email": user.email, "password": PASSWORD})
    page = browser.get("/accounts/settings/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    browser.post("/accounts/signout/", {"csrfmiddlewaretoken": token, "everywhere": "1"})
    assert other.get("/api/me").status_code == 401


def test_sign_in_slows_down_after_wrong_passwords(browser, user, settings):
    settings.NIMBUS_SIGNIN_LIMITS = {
        "per_account_address": {"free": 2, "base": 30, "cap": 900, "window": 900}
    }
    for _ in range(3):
        assert (
            csrf_post(
                browser, "/accounts/signin/", {"email": user.email, "password": "Wr0ng-pass!"}
            ).status_code
            == 401
        )
    response = csrf_post(browser, "/accounts/signin/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 429
    said = re.search(r"try again in (\d+) seconds", response.content.decode())  # says when
    assert said
    assert 0 < int(said.group(1)) <= 30
    assert response["Retry-After"] == said.group(1)
    assert "_auth_user_id" not in browser.session


@pytest.mark.parametrize("email", ["a@\x84.x", "someone@-bad-.example", "a@b..c"])
def test_sign_up_with_an_address_mail_cannot_reach_is_refused_with_a_code(client, email):
    # Each passes the API schema's shape check; the mail-deliverability check refuses it.
    from apps.users.models import User

    response = client.post(
        "/api/auth/signup",
        data={"email": email, "password": "Sturdy-Passw0rd!"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "email_invalid"
    assert not User.objects.filter(email__icontains=email.split("@")[1]).exists()


def test_after_five_wrong_codes_the_confirm_page_asks_for_a_new_one(browser):
    from django.core import mail

    from apps.users import services

    services.account_sign_up(email="cody@example.com", password=PASSWORD)
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    wrong = "999999" if code != "999999" else "111111"
    for _ in range(5):
        page = csrf_post(
            browser, "/accounts/confirm/", {"email": "cody@example.com", "code": wrong}
        )
        assert "The code is not correct." in page.content.decode()
    page = csrf_post(browser, "/accounts/confirm/", {"email": "cody@example.com", "code": code})
    assert page.status_code == 400
    assert "Too many wrong codes — ask for a new one." in page.content.decode()
    assert "expired" not in page.content.decode()


def test_the_confirm_page_s_limit_is_a_page_that_says_when(browser, settings):
    settings.NIMBUS_THROTTLES = [
        {
            "scope": "confirm",
            "methods": ["POST"],
            "paths": ["/accounts/confirm/"],
            "per_account": (2, 900),
        }
    ]
    for _ in range(2):
        csrf_post(browser, "/accounts/confirm/", {"email": "x@example.com", "code": "000000"})
    page = csrf_post(browser, "/accounts/confirm/", {"email": "x@example.com", "code": "000000"})
    assert page.status_code == 429
    text = page.content.decode()
    retry_after = int(page["Retry-After"])
    assert 0 < retry_after <= 2 * 900
    assert '<h1 id="page-title">Too many attempts</h1>' in text
    assert re.search(r"You can try again in <strong>\d+ (seconds|minutes)</strong>", text)
    assert '<a href="/accounts/confirm/">Back</a>' in text
