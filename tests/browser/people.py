"""What a person does in Nimbus's pages, step by step, for the browser tests."""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import ARTIFACTS, OPERATOR_EMAIL, OPERATOR_PASSWORD, LiveNimbus

PASSWORD = "Correct-horse-42-battery"
_people = itertools.count(1)


def snapshot(page: Any, name: str) -> None:
    """A screenshot of a step on the way (test-artifacts/step-<name>.png)."""
    page.screenshot(path=str(ARTIFACTS / f"step-{name}.png"), full_page=True)


def new_email(prefix: str = "person") -> str:
    return f"{prefix}{next(_people)}@example.com"


def sign_up(page: Any, live: LiveNimbus, email: str, password: str = PASSWORD) -> None:
    """Create an account, confirm it with the emailed code, and sign in: lands on the files page."""
    page.goto("/")
    page.get_by_role("main").get_by_role("link", name="Create an account").click()
    page.wait_for_url("**/accounts/signup/")
    assert_accessible(page)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("Password", exact=True).fill(password)
    snapshot(page, "signup")
    page.get_by_role("button", name="Create account").click()

    page.wait_for_url(re.compile(r".*/accounts/confirm/.*"))
    assert_accessible(page)
    code = live.mailbox.code_for(email)
    email_field = page.get_by_label("Email address")
    if not email_field.input_value():
        email_field.fill(email)
    page.get_by_label("Code from the email").fill(code)
    snapshot(page, "confirm")
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url(re.compile(r".*/(accounts/signin|files)/.*"))
    if "/accounts/signin/" in page.url:
        sign_in(page, email, password)


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    if "/accounts/signin/" not in page.url:
        page.goto("/accounts/signin/")
    assert_accessible(page)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    snapshot(page, "signin")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/files/")


def sign_in_to_admin(page: Any) -> None:
    """The demo operator signs in to the admin."""
    page.goto("/admin/")
    page.get_by_label(re.compile("Email", re.I)).fill(OPERATOR_EMAIL)
    page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name=re.compile("Log in|Sign in")).click()
    page.wait_for_url("**/admin/")
