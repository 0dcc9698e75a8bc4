"""The files API: uploads, listing, details, downloads, deletion — each owner's own only."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from apps.files.models import File, FileStatus
from tests.apps.files.conftest import PASSED, form_post, upload_options

pytestmark = pytest.mark.django_db


def start_upload(client: Client, content: bytes, **overrides: Any) -> Any:
    body = {"name": "photo.png", "content_type": "image/png", "size": len(content), **overrides}
    return client.post("/api/files/uploads", body, content_type="application/json")


def uploaded(client: Client, content: bytes, capture: Any) -> str:
    """Upload through the API and the local storage; returns the file id."""
    response = start_upload(client, content)
    assert response.status_code == 201, response.content
    body = response.json()
    with capture(execute=True):
        assert form_post(Client(), body["url"], body["fields"], content).status_code == 204
    return str(body["file_id"])


def test_upload_start_returns_the_post_target(alice_client, alice, png):
    response = start_upload(alice_client, png, name="../../etc/passwd\x00.png")
    assert response.status_code == 201
    body = response.json()
    file = File.objects.get(pk=body["file_id"])
    assert body["fields"]["key"] == f"uploads/{alice.pk}/{file.pk}"
    assert body["fields"]["Content-Type"] == "image/png"
    assert body["max_bytes"] > 0
    assert body["expires_at"]
    assert body["url"].startswith("http://testserver/files/storage/upload/")
    assert file.name == "passwd.png"
    assert file.status == FileStatus.PENDING


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"size": 0}, 422, "file_empty"),
        ({"size": 6 * 1024**3}, 413, "file_too_large"),
        ({"content_type": "application/x-msdownload"}, 415, "file_type_not_allowed"),
        ({"content_type": "text/html"}, 415, "file_type_not_allowed"),
    ],
)
def test_bad_upload_requests_are_refused_with_a_code(alice_client, png, overrides, status, code):
    response = start_upload(alice_client, png, **overrides)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not File.objects.exists()


def test_an_upload_over_the_quota_is_refused(alice_client, settings, png):
    upload_options(settings, quota_bytes=len(png) * 2)
    assert start_upload(alice_client, png).status_code == 201
    assert start_upload(alice_client, png).status_code == 201
    response = start_upload(alice_client, png)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "quota_exceeded"


def test_the_api_needs_a_signed_in_user(png):
    response = Client().get("/api/files/")
    assert response.status_code == 401
    assert start_upload(Client(), png).status_code == 401


def test_list_detail_and_download_of_an_accepted_file(
    alice_client, png, django_capture_on_commit_callbacks
):
    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    listed = alice_client.get("/api/files/").json()
    assert [f["id"] for f in listed] == [file_id]
    detail = alice_client.get(f"/api/files/{file_id}").json()
    assert detail["status"] in PASSED
    assert detail["status_label"] == File.objects.get(pk=file_id).get_status_display()
    assert detail["download_url"] == f"/api/files/{file_id}/download"
    redirect = alice_client.get(f"/api/files/{file_id}/download")
    assert redirect.status_code == 302
    assert "/files/storage/download/" in redirect["Location"]
    served = Client().get(redirect["Location"])
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == png
    assert served["Content-Disposition"] == 'attachment; filename="photo.png"'


def test_a_file_that_is_not_accepted_cannot_be_downloaded(alice_client, png):
    file_id = start_upload(alice_client, png).json()["file_id"]
    response = alice_client.get(f"/api/files/{file_id}/download")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "file_not_downloadable"


def test_another_users_file_is_never_listed_read_downloaded_or_deleted(
    alice_client, bob_client, png, django_capture_on_commit_callbacks
):
    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    assert bob_client.get("/api/files/").json() == []
    for response in (
        bob_client.get(f"/api/files/{file_id}"),
        bob_client.get(f"/api/files/{file_id}/download"),
        bob_client.delete(f"/api/files/{file_id}"),
        bob_client.get(f"/api/files/{file_id}/parts"),
        bob_client.post(f"/api/files/{file_id}/abort"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "file_not_found"
    assert File.objects.get(pk=file_id).status in PASSED
    # Bob's own page for the id is a 404 too.
    assert bob_client.get(f"/files/{file_id}/").status_code == 404


def test_an_unknown_or_malformed_id_is_a_404(alice_client):
    assert alice_client.get("/api/files/not-a-uuid").status_code == 404
    assert alice_client.get("/api/files/3f1c2d4e-0000-4000-8000-000000000001").status_code == 404


def test_delete_removes_the_record_and_the_object(
    alice_client, png, django_capture_on_commit_callbacks
):
    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    key = File.objects.get(pk=file_id).key
    assert default_storage.exists(key)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.delete(f"/api/files/{file_id}")
    assert response.status_code == 204
    assert not File.objects.filter(pk=file_id).exists()
    assert not default_storage.exists(key)
    assert alice_client.get(f"/api/files/{file_id}").status_code == 404


def test_a_download_link_stops_working_after_the_file_is_deleted(
    alice_client, png, django_capture_on_commit_callbacks
):
    file_id = uploaded(alice_client, png, django_capture_on_commit_callbacks)
    link = alice_client.get(f"/api/files/{file_id}/download")["Location"]
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.delete(f"/api/files/{file_id}")
    response = Client().get(link)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "file_not_found"


def test_the_files_endpoints_are_in_the_openapi_document():
    schema = Client().get("/api/openapi.json").json()
    for path in (
        "/api/files/uploads",
        "/api/files/",
        "/api/files/{file_id}",
        "/api/files/{file_id}/download",
        "/api/files/{file_id}/parts",
        "/api/files/{file_id}/complete",
        "/api/files/{file_id}/abort",
    ):
        assert path in schema["paths"], path
