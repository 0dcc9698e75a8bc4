"""The files pages and the operators' admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.files.models import File, FileStatus
from tests.apps.files.test_api import uploaded

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(django_user_model: Any) -> Client:
    operator = django_user_model.objects.create_superuser("ops@example.com", "pw-ops-1234567")
    client = Client()
    client.force_login(operator)
    return client


def test_the_files_page_shows_the_empty_state_and_the_uploader(alice_client):
    page = alice_client.get("/files/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "You have no files yet" in html
    assert "data-uploader" in html
    assert "nimbus/uploader.js" in html


def test_the_files_page_lists_only_the_users_files_with_their_status(
    alice_client, bob_client, png, django_capture_on_commit_callbacks
):
    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    html = alice_client.get("/files/").content.decode()
    assert f'data-file-status="{file_id}"' in html
    status = File.objects.get(pk=file_id).status
    assert f"status-{status}" in html
    assert file_id not in bob_client.get("/files/").content.decode()


def test_the_detail_page_shows_status_and_a_download_link(
    alice_client, png, django_capture_on_commit_callbacks
):
    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    html = alice_client.get(f"/files/{file_id}/").content.decode()
    assert "photo.png" in html
    assert f"/api/files/{file_id}/download" in html
    assert f'data-review-steps="{file_id}"' in html
    # The review workflow ran (a small PNG needs no operator): its states are listed.
    import re

    steps = re.search(rf'data-review-list="{file_id}">(.*?)</ol>', html, re.S)
    assert steps is not None
    assert steps.group(1).count("<li>") >= 2
    # A person reads each state's ASL Comment, not the state's name.
    assert "Checking the file" in steps.group(1)
    assert "NeedsApproval" not in steps.group(1)


def test_the_pages_need_a_signed_in_user():
    response = Client().get("/files/")
    assert response.status_code == 302
    assert "/accounts/signin/" in response["Location"]


def test_the_admin_lists_and_filters_files(
    operator_client, alice_client, png, django_capture_on_commit_callbacks
):
    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    status = File.objects.get(pk=file_id).status
    page = operator_client.get(f"/admin/files/file/?status__exact={status}")
    assert page.status_code == 200
    assert "photo.png" in page.content.decode()
    assert (
        "photo.png"
        not in operator_client.get("/admin/files/file/?status__exact=rejected").content.decode()
    )
    assert operator_client.get(f"/admin/files/file/{file_id}/change/").status_code == 200


def test_the_file_admin_links_to_its_review(
    operator_client, alice_client, png, django_capture_on_commit_callbacks
):
    from apps.workflows.models import Execution

    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    execution = Execution.objects.get(workflow="file_review", name=f"file-{file_id}")
    html = operator_client.get(f"/admin/files/file/{file_id}/change/").content.decode()
    assert f"/admin/workflows/execution/{execution.pk}/change/" in html
    assert (
        operator_client.get(f"/admin/workflows/execution/{execution.pk}/change/").status_code == 200
    )


def test_a_rejected_files_object_is_deleted_so_the_admin_offers_no_download(
    operator_client, alice_client, exe, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    response = alice_client.post(
        "/api/files/uploads",
        {"name": "a.png", "content_type": "image/png", "size": len(exe)},
        content_type="application/json",
    )
    body = response.json()
    from tests.apps.files.conftest import form_post

    with django_capture_on_commit_callbacks(execute=True):
        form_post(Client(), body["url"], body["fields"], exe)
    file = File.objects.get(pk=body["file_id"])
    assert file.status == FileStatus.REJECTED
    # Rejected bytes count against no quota, so storage does not keep them either.
    assert not default_storage.exists(file.key)
    assert alice_client.get(f"/api/files/{body['file_id']}/download").status_code == 409
    assert operator_client.get(f"/admin/files/file/{body['file_id']}/download/").status_code == 404
    html = operator_client.get(f"/admin/files/file/{body['file_id']}/change/").content.decode()
    assert f"/admin/files/file/{body['file_id']}/download/" not in html


def test_reinspect_action_re_runs_the_inspection(
    operator_client, alice_client, png, settings, django_capture_on_commit_callbacks
):
    from tests.apps.files.conftest import upload_options

    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    # The allow-list changed since: re-inspection now refuses the type.
    File.objects.filter(pk=file_id).update(status=FileStatus.FAILED, reason_code="workflow_failed")
    upload_options(settings, allowed_types=["application/pdf"])
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            "/admin/files/file/",
            {"action": "reinspect", "_selected_action": [file_id]},
            follow=True,
        )
    assert response.status_code == 200
    file = File.objects.get(pk=file_id)
    assert file.status == FileStatus.REJECTED
    assert file.reason_code == "type_not_allowed"
    assert "Re-inspected 1 file(s)." in response.content.decode()


def test_reinspect_skips_files_a_reviewer_decided(operator_client, alice, png):
    from datetime import UTC, datetime

    file = File.objects.create(
        owner=alice,
        key=f"uploads/{alice.pk}/x",
        name="x.png",
        declared_type="image/png",
        declared_size=3,
        status=FileStatus.APPROVED,
        upload_expires_at=datetime.now(UTC),
    )
    response = operator_client.post(
        "/admin/files/file/",
        {"action": "reinspect", "_selected_action": [str(file.pk)]},
        follow=True,
    )
    assert "Skipped 1 file(s)" in response.content.decode()
    file.refresh_from_db()
    assert file.status == FileStatus.APPROVED


def test_reinspect_refuses_a_file_a_reviewer_rejected(
    operator_client, alice_client, png, django_capture_on_commit_callbacks
):
    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    File.objects.filter(pk=file_id).update(
        status=FileStatus.REJECTED, reason_code="review_rejected", reason_message="No"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            "/admin/files/file/",
            {"action": "reinspect", "_selected_action": [file_id]},
            follow=True,
        )
    html = response.content.decode()
    assert "Re-inspected 0 file(s)." in html
    assert "Skipped 1 file(s)" in html
    assert "A reviewer rejected this file." in html
    file = File.objects.get(pk=file_id)
    assert (file.status, file.reason_code) == (FileStatus.REJECTED, "review_rejected")
    assert alice_client.get(f"/api/files/{file_id}/download").status_code == 409


def deleted_events(file_id: str) -> int:
    from apps.events.models import Event

    return Event.objects.filter(detail_type="files.FileDeleted", detail__file_id=file_id).count()


def test_deleting_a_file_in_the_admin_removes_its_object_and_tells_the_app(
    operator_client, alice_client, png, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    key = File.objects.get(pk=file_id).key
    assert default_storage.exists(key)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(f"/admin/files/file/{file_id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not File.objects.filter(pk=file_id).exists()
    assert not default_storage.exists(key)
    assert deleted_events(file_id) == 1


def test_deleting_selected_files_in_the_admin_aborts_unfinished_uploads(
    operator_client, alice_client, png, settings, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    from tests.apps.files.conftest import upload_options
    from tests.apps.files.test_multipart import CONTENT, MB, part_bytes, put_local, start

    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    key = File.objects.get(pk=file_id).key
    upload_options(settings, multipart_threshold=6 * MB, part_size=5 * MB)
    body = start(alice_client, size=len(CONTENT))
    put_local(body["multipart"]["parts"][0]["url"], part_bytes(1, body["multipart"]["part_size"]))
    assert default_storage.listdir("multipart") != ([], [])
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            "/admin/files/file/",
            {
                "action": "delete_selected",
                "_selected_action": [file_id, body["file_id"]],
                "post": "yes",
            },
        )
    assert response.status_code == 302
    assert not File.objects.filter(pk__in=[file_id, body["file_id"]]).exists()
    assert not default_storage.exists(key)
    assert not default_storage.exists("multipart") or default_storage.listdir("multipart") == (
        [],
        [],
    )
    assert deleted_events(file_id) == deleted_events(body["file_id"]) == 1
