"""The other pages a person uses, by keyboard too: sign-in, the uploader, notifications,
account settings, a refused upload's message, and the files page on a phone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import assert_accessible, assert_focus_visible, tab_to
from tests.browser.conftest import ConsoleWatch, LiveNimbus
from tests.browser.people import PASSWORD, new_email, sign_up, snapshot
from tests.browser.test_main_job import SMALL_TEXT, choose_file, file_row, status_of

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


@pytest.fixture
def account(browser: Any, live_nimbus: LiveNimbus) -> str:
    """A confirmed account (made in a browser of its own), signed out."""
    email = new_email("kim")
    context = browser.new_context(base_url=live_nimbus.url)
    try:
        sign_up(context.new_page(), live_nimbus, email)
    finally:
        context.close()
    return email


def test_sign_in_and_upload_with_the_keyboard_alone(page: Any, account: str) -> None:
    page.goto("/accounts/signin/")
    # The email field has focus on arrival; Tab moves to the password; Enter submits.
    expect(page.get_by_label("Email address")).to_be_focused()
    page.keyboard.type(account)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/files/")
    page.wait_for_load_state("networkidle")  # the uploader module is loaded

    tab_to(page, "el.matches('[data-dropzone]')")
    assert_focus_visible(page)
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(
        files=[{"name": "typed.txt", "mimeType": "text/plain", "buffer": SMALL_TEXT}]
    )
    expect(status_of(page, "typed.txt")).to_have_text(
        re.compile("^(Accepted|Approved)$"), timeout=20_000
    )
    # The new row's link is reachable by Tab and opens the file's page with Enter.
    tab_to(page, "el.matches('a[href^=\"/files/\"]') && el.textContent.trim() === 'typed.txt'")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/files/[0-9a-f-]{36}/$"))
    assert_accessible(page)


def test_a_type_that_is_not_allowed_is_refused_before_upload_with_a_clear_message(
    page: Any, live_nimbus: LiveNimbus, console: ConsoleWatch
) -> None:
    console.allow(r"/api/files/uploads\): Failed to load resource: .* 415")
    sign_up(page, live_nimbus, new_email("zed"))
    # A click anywhere on the drop zone opens the picker, not only on its "choose files".
    with page.expect_file_chooser() as chooser:
        page.get_by_text("Drop files here").click()
    chooser.value.set_files(
        files=[
            {
                "name": "backup.zip",
                "mimeType": "application/zip",
                "buffer": b"PK\x03\x04" + b"\x00" * 60,
            }
        ]
    )
    upload = page.locator("[data-uploads] li").filter(has_text="backup.zip")
    expect(upload.get_by_role("status")).to_contain_text("cannot be uploaded")
    # Sending the same file again could only be refused again: no Retry, only Dismiss.
    expect(upload.get_by_role("button", name="Retry")).to_be_hidden()
    snapshot(page, "upload-refused-type")
    upload.get_by_role("button", name="Dismiss").click()
    expect(upload).to_have_count(0)
    expect(page.get_by_text("You have no files yet")).to_be_visible()


def test_notifications_and_account_pages_are_labelled_and_reachable(
    page: Any, live_nimbus: LiveNimbus
) -> None:
    sign_up(page, live_nimbus, new_email("lee"))
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name=re.compile("^Notifications")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    assert_accessible(page)
    snapshot(page, "notifications")

    nav.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account settings")
    assert_accessible(page)
    page.get_by_label("Your name").fill("Lee Chen")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text(re.compile("saved", re.I))
    snapshot(page, "account")

    nav.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/$"))
    expect(nav.get_by_role("link", name="Sign in")).to_be_visible()


def test_the_files_page_works_on_a_phone(page: Any, live_nimbus: LiveNimbus) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    sign_up(page, live_nimbus, new_email("pat"))
    choose_file(page, "phone.txt", "text/plain", SMALL_TEXT)
    expect(status_of(page, "phone.txt")).to_have_text(
        re.compile("^(Accepted|Approved)$"), timeout=20_000
    )
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    assert_accessible(page)


def test_forgot_password_with_the_emailed_code_then_sign_in_with_the_new_one(
    page: Any, live_nimbus: LiveNimbus, account: str
) -> None:
    seen = len(live_nimbus.mailbox.to(account))
    page.goto("/accounts/signin/")
    page.get_by_role("link", name="Forgot your password?").click()
    assert_accessible(page)
    page.get_by_label("Email address").fill(account)
    page.get_by_role("button", name="Send me a code").click()

    page.wait_for_url(re.compile(r".*/accounts/password/reset/.*"))
    assert_accessible(page)
    code = live_nimbus.mailbox.code_for(account, after=seen)
    if not page.get_by_label("Email address").input_value():
        page.get_by_label("Email address").fill(account)
    page.get_by_label("Code from the email").fill(code)
    new_password = "Another-42-staple-horse"
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    snapshot(page, "password-reset")
    page.get_by_role("button", name="Set new password").click()

    page.wait_for_url(re.compile(r".*/(accounts/signin|files)/.*"))
    if "/accounts/signin/" in page.url:
        page.get_by_label("Email address").fill(account)
        page.get_by_label("Password").fill(new_password)
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/files/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your files")


def test_times_read_the_same_in_the_readers_zone_live_and_after_a_reload(
    new_page: Any, live_nimbus: LiveNimbus
) -> None:
    """The server writes UTC; a reader in Tokyo sees Tokyo time, on new and reloaded rows."""
    page = new_page("tokyo", timezone_id="Asia/Tokyo")
    sign_up(page, live_nimbus, new_email("aiko"))
    choose_file(page, "notes.txt", "text/plain", SMALL_TEXT)
    expect(status_of(page, "notes.txt")).to_have_text(
        re.compile("^(Accepted|Awaiting approval|Approved)$"), timeout=20_000
    )
    added = file_row(page, "notes.txt").locator("time")
    instant = datetime.fromisoformat(added.get_attribute("datetime"))
    expected = instant.astimezone(timezone(timedelta(hours=9))).strftime("%Y-%m-%d %H:%M")
    expect(added).to_have_text(expected)  # the row the uploader added

    page.reload()
    reloaded = file_row(page, "notes.txt").locator("time")
    expect(reloaded).to_have_text(expected)  # the row the server rendered, in UTC
    assert reloaded.get_attribute("title").endswith("(shown in Asia/Tokyo)")


def test_signing_out_everywhere_ends_the_live_connection_of_the_other_device(
    new_page: Any, account: str
) -> None:
    from tests.browser.people import sign_in

    phone, laptop = new_page("phone"), new_page("laptop")
    for device in (phone, laptop):
        device.goto("/accounts/signin/")
        sign_in(device, account)
        expect(device.locator("html")).to_have_attribute("data-live", "open")

    laptop.goto("/accounts/settings/")
    laptop.get_by_role("button", name="Sign out everywhere").click()
    # The phone's socket gets its last frame and closes; live.js stops reconnecting.
    expect(phone.locator("html")).to_have_attribute("data-live", "ended", timeout=10_000)
    phone.wait_for_timeout(1_500)  # longer than the first reconnect delay
    expect(phone.locator("html")).to_have_attribute("data-live", "ended")
    phone.reload()
    phone.wait_for_url("**/accounts/signin/**")
