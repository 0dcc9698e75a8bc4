"""Limits that explain themselves and errors in the site's own pages, in a real browser.

Every 429 a person meets says when to try again, in words and in ``Retry-After``: the
sign-in form's wait, the confirmation page's limit, the uploader's. A code guessed wrong
too often says so (not "expired"), and a new code works. A form that outlived its CSRF
cookie is the site's own "form expired" page. Each page is screenshotted at both widths,
must fit them, and has no serious axe-core violation (tests/browser/test_every_page.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveNimbus
from tests.browser.people import PASSWORD, new_email, sign_up
from tests.browser.test_every_page import assert_screen_ok
from tests.browser.test_main_job import choose_file

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

WAIT_IN_WORDS = re.compile(r"try again in \d+ (seconds?|minutes|hours)")


def test_wrong_passwords_make_sign_in_say_how_long_to_wait(
    page: Any, live_nimbus: LiveNimbus, console: Any
) -> None:
    console.allow("status of (400|401|429)")
    sign_up(page, live_nimbus, email := new_email("slow"))
    page.get_by_role("button", name="Sign out").click()
    refused = None
    for _ in range(12):  # 5 failures are free, then each one doubles the wait from 1 s
        page.goto("/accounts/signin/")
        page.get_by_label("Email address").fill(email)
        page.get_by_label("Password").fill("not-the-password-1")
        with page.expect_response(re.compile(r"/accounts/signin/$")) as answer:
            page.get_by_role("button", name="Sign in").click()
        if answer.value.status == 429:
            refused = answer.value
            break
    assert refused is not None, "sign-in never asked to wait"
    wait = int(refused.headers["retry-after"])
    alert = page.locator(".errorlist, [role=alert]").first
    expect(alert).to_contain_text(WAIT_IN_WORDS)
    expect(alert).to_contain_text(re.compile(rf"\b{wait} seconds?\b"))
    assert_screen_ok(page, "visitor-signin-wait")

    # After the wait the right password works.
    page.wait_for_timeout(wait * 1000 + 200)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/files/")


def test_too_many_confirmation_attempts_is_a_page_that_says_when(page: Any, console: Any) -> None:
    console.allow("status of (400|429)")
    email = new_email("nobody")  # the limit counts per address, account or not
    page.goto(f"/accounts/confirm/?email={email}")
    for attempt in range(11):  # 10 in 15 minutes per address (project.throttling)
        page.get_by_label("Code from the email").fill(f"{100000 + attempt}")
        with page.expect_response(re.compile(r"/accounts/confirm/$")) as answer:
            page.get_by_role("button", name="Confirm").click()
        if answer.value.status == 429:
            break
        page.get_by_label("Email address").fill(email)
    assert answer.value.status == 429
    wait = int(answer.value.headers["retry-after"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Too many attempts")
    expect(page.get_by_role("main")).to_contain_text(WAIT_IN_WORDS)
    # A sliding window: hits made early in one window still count in the next one.
    assert 0 < wait <= 2 * 900
    assert_screen_ok(page, "visitor-confirm-limited")
    page.get_by_role("link", name="Back").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your account")


def test_after_too_many_wrong_codes_the_right_one_asks_for_a_new_code(
    page: Any, live_nimbus: LiveNimbus, console: Any
) -> None:
    console.allow("status of 400")
    email = new_email("codes")
    page.goto("/accounts/signup/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r".*/accounts/confirm/.*"))
    code = live_nimbus.mailbox.code_for(email)
    wrong = "999999" if code != "999999" else "111111"
    for _ in range(5):  # the local provider's code_max_attempts
        page.get_by_label("Code from the email").fill(wrong)
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("main")).to_contain_text("The code is not correct.")
    page.get_by_label("Code from the email").fill(code)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("main")).to_contain_text("Too many wrong codes — ask for a new one.")
    expect(page.get_by_role("main")).not_to_contain_text("expired")
    assert_screen_ok(page, "visitor-confirm-too-many-wrong-codes")

    mails = len(live_nimbus.mailbox.to(email))
    page.get_by_role("button", name="Send a new code").click()
    expect(page.get_by_role("status")).to_contain_text("We sent you a new code.")
    fresh = live_nimbus.mailbox.code_for(email, after=mails)
    page.get_by_label("Code from the email").fill(fresh)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(r".*/accounts/signin/.*"))
    expect(page.get_by_role("status")).to_contain_text("Your account is confirmed.")


_SPEND_UPLOAD_STARTS_JS = """
async (count) => {
  const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
  const statuses = [];
  for (let i = 0; i < count; i++) {
    // An empty file: refused (422), but every request counts against the limit.
    const response = await fetch("/api/files/uploads", {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({name: `n${i}.txt`, content_type: "text/plain", size: 0}),
    });
    statuses.push(response.status);
  }
  return statuses;
}
"""


def test_the_uploader_says_when_uploads_may_start_again(
    page: Any, live_nimbus: LiveNimbus, console: Any
) -> None:
    console.allow("status of (422|429)")
    sign_up(page, live_nimbus, new_email("busy"))
    statuses = page.evaluate(_SPEND_UPLOAD_STARTS_JS, 60)  # 60 a minute per person
    assert set(statuses) == {422}, statuses
    choose_file(page, "one-too-many.txt", "text/plain", b"hello")
    state = page.locator("[data-uploads] li .upload__state")
    expect(state).to_contain_text(
        re.compile(r"Too many uploads at once; try again in \d+ seconds?\.")
    )
    expect(page.locator("[data-uploads] li").get_by_role("button", name="Retry")).to_be_visible()
    assert_screen_ok(page, "person-upload-limited")


def test_a_form_that_outlived_its_session_is_the_sites_expired_form_page(
    page: Any, console: Any
) -> None:
    console.allow("status of 403")
    page.goto("/accounts/signin/")
    page.context.clear_cookies()  # the CSRF cookie is gone, as after a long while
    page.get_by_label("Email address").fill("someone@example.com")
    page.get_by_label("Password").fill("whatever-it-is-1")
    with page.expect_response(re.compile(r"/accounts/signin/$")) as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")
    expect(page.get_by_role("contentinfo")).to_be_visible()  # the site's frame
    assert_screen_ok(page, "visitor-form-expired")
