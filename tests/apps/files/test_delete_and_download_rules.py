"""Deleting from the pages, and what an owner may download (approved files only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.events.models import Event
from apps.files.models import File, FileStatus

pytestmark = pytest.mark.django_db


def a_file(owner: Any, status: str, name: str = "report.pdf") -> File:
    file = File.objects.create(
        owner=owner,
        name=name,
        declared_type="application/pdf",
        declared_size=4,
        status=status,
        upload_expires_at=datetime.now(UTC) + timedelta(minutes=10),
    )
    file.key = f"uploads/{owner.pk}/{file.pk}"
    file.save(update_fields=["key"])
    if status != FileStatus.PENDING:
        default_storage.save(file.key, ContentFile(b"%PDF"))
    return file


@pytest.mark.parametrize("status", [FileStatus.ACCEPTED, FileStatus.AWAITING_APPROVAL])
def test_an_owner_cannot_download_a_file_before_its_review_approved_it(alice, alice_client, status):
    file = a_file(alice, status)
    response = alice_client.get(f"/api/files/{file.pk}/download")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "file_not_downloadable"
    assert alice_client.get(f"/api/files/{file.pk}").json()["download_url"] is None
    page = alice_client.get(f"/files/{file.pk}/").content.decode()
    assert f'data-file-download="{file.pk}" hidden' in page


def test_an_approved_file_downloads(alice, alice_client):
    file = a_file(alice, FileStatus.APPROVED)
    response = alice_client.get(f"/api/files/{file.pk}/download")
    assert response.status_code == 302
    page = alice_client.get(f"/files/{file.pk}/").content.decode()
    assert f'data-file-download="{file.pk}" hidden' not in page


def test_the_list_and_the_file_page_offer_delete(alice, alice_client):
    file = a_file(alice, FileStatus.APPROVED)
    delete_url = f"/files/{file.pk}/delete/"
    assert f'href="{delete_url}"' in alice_client.get("/files/").content.decode()
    assert f'href="{delete_url}"' in alice_client.get(f"/files/{file.pk}/").content.decode()


def test_delete_asks_first_and_deletes_only_on_post(
    alice, alice_client, django_capture_on_commit_callbacks
):
    file = a_file(alice, FileStatus.APPROVED)
    confirm = alice_client.get(f"/files/{file.pk}/delete/")
    assert confirm.status_code == 200
    assert "This cannot be undone" in confirm.content.decode()
    assert File.objects.filter(pk=file.pk).exists()  # asking deletes nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/files/{file.pk}/delete/", follow=True)
    assert response.redirect_chain == [("/files/", 302)]
    assert f"Deleted {file.name}." in response.content.decode()
    assert not File.objects.filter(pk=file.pk).exists()
    assert not default_storage.exists(file.key)
    deleted = Event.objects.get(detail_type="files.FileDeleted")
    assert deleted.detail["file_id"] == str(file.pk)  # the owner's other tabs drop the row


def test_a_waiting_for_upload_row_left_by_a_reload_can_be_deleted(alice, alice_client):
    file = a_file(alice, FileStatus.PENDING, name="half.pdf")
    assert "Waiting for upload" in alice_client.get("/files/").content.decode()
    response = alice_client.post(f"/files/{file.pk}/delete/")
    assert response.status_code == 302
    assert not File.objects.filter(pk=file.pk).exists()


def test_another_persons_file_cannot_be_deleted_from_the_pages(alice, bob_client):
    file = a_file(alice, FileStatus.APPROVED)
    assert bob_client.get(f"/files/{file.pk}/delete/").status_code == 404
    assert bob_client.post(f"/files/{file.pk}/delete/").status_code == 404
    assert File.objects.filter(pk=file.pk).exists()


def test_delete_needs_the_csrf_token(alice):
    from django.test import Client

    file = a_file(alice, FileStatus.APPROVED)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(f"/files/{file.pk}/delete/").status_code == 403
    assert File.objects.filter(pk=file.pk).exists()
