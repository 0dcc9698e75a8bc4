"""What a person meets around the main job: deleting files, what downloads when, e-mail
and the unread badge, long names, and every page at a phone's and a laptop's width."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import ARTIFACTS, LiveNimbus
from tests.browser.people import new_email, sign_up, snapshot
from tests.browser.test_main_job import (
    LIVE_TIMEOUT,
    MINIMAL_PDF,
    SMALL_TEXT,
    choose_file,
    file_id_of,
    file_row,
    status_of,
)

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

WIDTHS = (1280, 375)
# One word, no spaces: the hardest name to fit on a phone.
LONG_NAME = "QuarterlyFinancialStatementsAndBoardPack" * 4 + "Final.txt"

_START_UPLOAD_JS = """
async (name) => {
  const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
  const response = await fetch("/api/files/uploads", {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
    body: JSON.stringify({name, content_type: "text/plain", size: 12}),
  });
  return response.status;
}
"""


def assert_fits(page: Any, name: str) -> None:
    """No sideways scrolling at either width; a screenshot of each; the a11y checks."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(50)  # one layout pass at the new width
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        page.screenshot(path=str(ARTIFACTS / f"page-{name}-{width}.png"), full_page=True)
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
    page.set_viewport_size({"width": 1280, "height": 900})
    assert_accessible(page)


def test_a_person_deletes_files_after_confirming_and_other_tabs_drop_the_row(
    browser: Any, new_page: Any, live_nimbus: LiveNimbus
) -> None:
    page = new_page("person")
    sign_up(page, live_nimbus, new_email("del"))
    choose_file(page, "old-notes.txt", "text/plain", SMALL_TEXT)
    expect(status_of(page, "old-notes.txt")).to_have_text("Approved", timeout=LIVE_TIMEOUT)

    # A second tab of the same person, on the list.
    other = page.context.new_page()
    other.goto("/files/")
    expect(file_row(other, "old-notes.txt")).to_have_count(1)

    file_row(page, "old-notes.txt").get_by_role("link", name="Delete old-notes.txt").click()
    page.wait_for_url(re.compile(r".*/files/[0-9a-f-]{36}/delete/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Delete old-notes.txt?")
    assert_fits(page, "delete-confirm")
    # "Keep it" keeps it.
    page.get_by_role("link", name="Keep it").click()
    page.wait_for_url("**/files/")
    expect(file_row(page, "old-notes.txt")).to_have_count(1)

    file_row(page, "old-notes.txt").get_by_role("link", name="Delete old-notes.txt").click()
    page.get_by_role("button", name="Delete file").click()
    page.wait_for_url("**/files/")
    expect(page.get_by_role("status").first).to_contain_text("Deleted old-notes.txt.")
    expect(file_row(page, "old-notes.txt")).to_have_count(0)
    # The other tab was not reloaded: the row went live, and the empty state is back.
    expect(file_row(other, "old-notes.txt")).to_have_count(0, timeout=LIVE_TIMEOUT)
    expect(other.get_by_text("You have no files yet")).to_be_visible()

    # A reload mid-upload leaves a "Waiting for upload" row; its owner can remove it.
    assert page.evaluate(_START_UPLOAD_JS, "half-sent.txt") == 201
    page.reload()
    expect(status_of(page, "half-sent.txt")).to_have_text("Waiting for upload")
    # It says what it is and what becomes of it.
    expect(file_row(page, "half-sent.txt").locator("[data-file-reason]")).to_contain_text(
        "If this upload stopped, delete it"
    )
    file_row(page, "half-sent.txt").get_by_role("link", name="Delete half-sent.txt").click()
    page.get_by_role("button", name="Delete file").click()
    page.wait_for_url("**/files/")
    expect(file_row(page, "half-sent.txt")).to_have_count(0)
    other.close()


def test_a_file_awaiting_approval_does_not_download_and_seen_notifications_clear_the_badge(
    page: Any, live_nimbus: LiveNimbus
) -> None:
    sign_up(page, live_nimbus, new_email("wait"))
    choose_file(page, "contract.pdf", "application/pdf", MINIMAL_PDF)
    expect(status_of(page, "contract.pdf")).to_have_text("Awaiting approval", timeout=LIVE_TIMEOUT)
    pdf_id = file_id_of(page, "contract.pdf")

    page.goto(f"/files/{pdf_id}/")
    expect(page.get_by_role("link", name="Download")).to_be_hidden()
    expect(page.get_by_role("link", name="Delete")).to_be_visible()
    refused = page.request.get(f"/api/files/{pdf_id}/download", max_redirects=0)
    assert refused.status == 409
    assert refused.json()["error"]["code"] == "file_not_downloadable"

    # An ordinary file: accepted, then approved at once — one notification, not two.
    page.goto("/files/")
    choose_file(page, "notes.txt", "text/plain", SMALL_TEXT)
    expect(status_of(page, "notes.txt")).to_have_text("Approved", timeout=LIVE_TIMEOUT)
    badge = page.get_by_role("navigation", name="Main").locator("[data-unread-count]")
    expect(badge).to_have_text("1", timeout=LIVE_TIMEOUT)

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile("^Notifications")
    ).click()
    items = page.locator("[data-notifications] li")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("notes.txt was approved")
    expect(badge).to_have_text("")  # seen
    page.goto("/files/")
    expect(badge).to_have_text("")  # and stays cleared


def test_every_page_fits_a_phone_and_a_laptop_with_a_long_file_name(
    new_page: Any, live_nimbus: LiveNimbus
) -> None:
    visitor = new_page("visitor")
    for name, path in [
        ("home", "/"),
        ("signin", "/accounts/signin/"),
        ("signup", "/accounts/signup/"),
        ("password-forgot", "/accounts/password/forgot/"),
    ]:
        visitor.goto(path)
        assert_fits(visitor, name)

    page = new_page("person")
    email = new_email("long")
    sign_up(page, live_nimbus, email)
    mails_before = len(live_nimbus.mailbox.to(email))
    choose_file(page, LONG_NAME, "text/plain", SMALL_TEXT)
    expect(status_of(page, LONG_NAME)).to_have_text("Approved", timeout=LIVE_TIMEOUT)
    link = file_row(page, LONG_NAME).get_by_role("link", name=LONG_NAME, exact=True)
    assert link.get_attribute("title") == LONG_NAME  # the full name on hover
    assert_fits(page, "files")
    page.reload()  # the server-rendered row, too
    assert_fits(page, "files-reloaded")

    link = file_row(page, LONG_NAME).get_by_role("link", name=LONG_NAME, exact=True)
    link.click()
    page.wait_for_url(re.compile(r".*/files/[0-9a-f-]{36}/$"))
    expect(page.get_by_role("link", name="Download")).to_be_visible()
    assert_fits(page, "file-detail")

    page.goto("/notifications/")
    notice = page.locator("[data-notifications] li").first
    expect(notice).to_contain_text(f"{LONG_NAME} was approved")  # the wording survives
    assert_fits(page, "notifications")

    page.goto("/accounts/settings/")
    expect(page.get_by_label("Email me about my files")).to_be_checked()
    assert_fits(page, "account")

    # The approval was e-mailed; its unsubscribe link asks, then turns e-mails off.
    message = live_nimbus.mailbox.wait_for(email, after=mails_before)
    assert message["Subject"] == f"{LONG_NAME} was approved"
    unsubscribe = str(message["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith(live_nimbus.url + "/notifications/unsubscribe/")
    page.goto(unsubscribe)
    assert_fits(page, "unsubscribe")
    page.get_by_role("button", name="Stop these e-mails").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("No more e-mails about your files")
    page.goto("/accounts/settings/")
    expect(page.get_by_label("Email me about my files")).not_to_be_checked()

    page.goto("/api/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    assert_fits(page, "api-docs")
    snapshot(page, "product-pages-done")
