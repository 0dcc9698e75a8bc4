"""One contract for every upload backend, run against the local backend and S3 (moto)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from django.test import Client

from apps.files.backends import get_upload_backend
from apps.files.backends.base import MB, UploadBackend, UploadedPart, UploadPolicy
from apps.files.exceptions import UploadPartInvalid
from apps.files.models import File, FileStatus
from tests.apps.files.conftest import BUCKET, s3_settings

pytestmark = pytest.mark.django_db


def policy_for(key: str, content_type: str = "image/png", max_bytes: int = 1000) -> UploadPolicy:
    return UploadPolicy(
        key=key,
        content_type=content_type,
        max_bytes=max_bytes,
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
    )


class UploadBackendContract:
    """What the browser and the services rely on, whichever backend settings select."""

    @pytest.fixture
    def backend(self) -> UploadBackend:
        raise NotImplementedError

    def http_post(self, url: str, fields: dict[str, str], content: bytes) -> int:
        raise NotImplementedError

    def http_put(self, url: str, body: bytes) -> tuple[int, str]:
        raise NotImplementedError

    def http_get(self, url: str) -> tuple[int, bytes, dict[str, str]]:
        raise NotImplementedError

    def approved_file(self, owner: Any, key: str) -> File:
        return File.objects.create(
            owner=owner,
            key=key,
            name="report 2026.png",
            declared_type="image/png",
            declared_size=1,
            status=FileStatus.APPROVED,
            upload_expires_at=datetime.now(UTC),
        )

    def test_the_form_post_target_stores_the_object_at_exactly_the_key(self, backend, png):
        target = backend.presign_post(policy_for("uploads/1/a"))
        assert target.fields["key"] == "uploads/1/a"
        assert target.fields["Content-Type"] == "image/png"
        assert target.max_bytes == 1000
        assert self.http_post(target.url, target.fields, png) in (200, 201, 204)
        assert backend.exists("uploads/1/a")
        assert b"".join(backend.read_chunks("uploads/1/a")) == png

    def test_objects_are_read_in_chunks(self, backend):
        content = bytes(range(256)) * 20
        target = backend.presign_post(policy_for("uploads/1/b", "text/plain", 10_000))
        self.http_post(target.url, target.fields, content)
        chunks = list(backend.read_chunks("uploads/1/b", chunk_size=1000))
        assert len(chunks) >= 6
        assert b"".join(chunks) == content

    def test_reading_a_missing_object_raises_file_not_found(self, backend):
        with pytest.raises(FileNotFoundError):
            b"".join(backend.read_chunks("uploads/1/missing"))

    def test_delete_removes_the_object_and_is_idempotent(self, backend, png):
        target = backend.presign_post(policy_for("uploads/1/c"))
        self.http_post(target.url, target.fields, png)
        backend.delete("uploads/1/c")
        backend.delete("uploads/1/c")
        assert not backend.exists("uploads/1/c")

    def test_multipart_upload_lists_parts_to_resume_and_completes(self, backend):
        key = "uploads/1/big"
        first, last = b"a" * (5 * MB), b"tail"
        upload_id = backend.multipart_start(key=key, content_type="text/plain")
        expires = datetime.now(UTC) + timedelta(hours=1)
        url1 = backend.multipart_part_url(
            key=key, upload_id=upload_id, part_number=1, expires_at=expires
        )
        status, etag1 = self.http_put(url1, first)
        assert status == 200
        assert etag1 == hashlib.md5(first, usedforsecurity=False).hexdigest()
        # The connection drops here; the client asks what arrived and sends the rest.
        assert [
            (p.part_number, p.etag) for p in backend.multipart_parts(key=key, upload_id=upload_id)
        ] == [(1, etag1)]
        url2 = backend.multipart_part_url(
            key=key, upload_id=upload_id, part_number=2, expires_at=expires
        )
        _, etag2 = self.http_put(url2, last)
        backend.multipart_complete(
            key=key,
            upload_id=upload_id,
            parts=[UploadedPart(1, etag1, 0), UploadedPart(2, etag2, 0)],
        )
        assert b"".join(backend.read_chunks(key)) == first + last

    def test_completing_with_a_wrong_etag_is_refused(self, backend):
        key = "uploads/1/wrong-etag"
        upload_id = backend.multipart_start(key=key, content_type="text/plain")
        expires = datetime.now(UTC) + timedelta(hours=1)
        url = backend.multipart_part_url(
            key=key, upload_id=upload_id, part_number=1, expires_at=expires
        )
        self.http_put(url, b"only part")
        with pytest.raises(UploadPartInvalid):
            backend.multipart_complete(
                key=key, upload_id=upload_id, parts=[UploadedPart(1, "0" * 32, 0)]
            )
        assert not backend.exists(key)

    def test_abort_discards_the_parts(self, backend):
        key = "uploads/1/aborted"
        upload_id = backend.multipart_start(key=key, content_type="text/plain")
        expires = datetime.now(UTC) + timedelta(hours=1)
        url = backend.multipart_part_url(
            key=key, upload_id=upload_id, part_number=1, expires_at=expires
        )
        self.http_put(url, b"part")
        backend.multipart_abort(key=key, upload_id=upload_id)
        backend.multipart_abort(key=key, upload_id=upload_id)
        assert not backend.exists(key)

    @pytest.mark.parametrize("end", ["complete", "abort"])
    def test_a_part_url_refuses_parts_once_its_upload_ended(self, backend, end):
        key = f"uploads/1/ended-{end}"
        upload_id = backend.multipart_start(key=key, content_type="text/plain")
        expires = datetime.now(UTC) + timedelta(hours=1)
        url = backend.multipart_part_url(
            key=key, upload_id=upload_id, part_number=1, expires_at=expires
        )
        _, etag = self.http_put(url, b"only part")
        if end == "complete":
            backend.multipart_complete(
                key=key, upload_id=upload_id, parts=[UploadedPart(1, etag, 0)]
            )
        else:
            backend.multipart_abort(key=key, upload_id=upload_id)
        status, _ = self.http_put(url, b"a late part")
        # S3 answers 404 NoSuchUpload (moto 5.2: a 500), locally 409 upload_closed.
        assert status in (404, 409, 500)
        if end == "complete":
            assert b"".join(backend.read_chunks(key)) == b"only part"
        else:
            assert not backend.exists(key)

    def test_the_download_url_serves_the_object_as_an_attachment(self, backend, png, alice):
        target = backend.presign_post(policy_for(f"uploads/{alice.pk}/d"))
        self.http_post(target.url, target.fields, png)
        self.approved_file(alice, f"uploads/{alice.pk}/d")
        url = backend.download_url(
            key=f"uploads/{alice.pk}/d", filename="report 2026.png", content_type="image/png"
        )
        status, body, headers = self.http_get(url)
        assert status == 200
        assert body == png
        assert headers["content-type"] == "image/png"
        assert headers["content-disposition"].startswith("attachment;")
        assert "report 2026.png" in headers["content-disposition"]


# ---- the local backend ---------------------------------------------------------------


class TestLocalUploadBackend(UploadBackendContract):
    @pytest.fixture
    def backend(self, settings) -> UploadBackend:
        settings.NIMBUS_UPLOADS = {
            "default": {"BACKEND": "apps.files.backends.local.LocalUploadBackend"}
        }
        return get_upload_backend()

    def http_post(self, url: str, fields: dict[str, str], content: bytes) -> int:
        from tests.apps.files.conftest import form_post

        return form_post(Client(), url, fields, content).status_code

    def http_put(self, url: str, body: bytes) -> tuple[int, str]:
        response = Client().put(url, body, content_type="application/octet-stream")
        return response.status_code, response.headers.get("ETag", "").strip('"')

    def http_get(self, url: str) -> tuple[int, bytes, dict[str, str]]:
        response = Client().get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return response.status_code, body, {k.lower(): v for k, v in response.headers.items()}

    def test_a_part_url_for_another_upload_is_refused(self, backend):
        a = backend.multipart_start(key="uploads/1/a", content_type="text/plain")
        expires = datetime.now(UTC) + timedelta(hours=1)
        url = backend.multipart_part_url(
            key="uploads/1/b", upload_id=a, part_number=1, expires_at=expires
        )
        response = Client().put(url, b"x", content_type="application/octet-stream")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "upload_signature_invalid"

    def test_an_expired_part_url_is_refused(self, backend):
        key = "uploads/1/late"
        upload_id = backend.multipart_start(key=key, content_type="text/plain")
        past = datetime.now(UTC) - timedelta(seconds=1)
        url = backend.multipart_part_url(
            key=key, upload_id=upload_id, part_number=1, expires_at=past
        )
        response = Client().put(url, b"x", content_type="application/octet-stream")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "upload_expired"

    def test_a_tampered_download_link_is_refused(self, backend, png, alice):
        url = backend.download_url(
            key=f"uploads/{alice.pk}/x", filename="x.png", content_type="image/png"
        )
        response = Client().get(url[:-4] + "AAAA/")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "download_link_invalid"

    def test_an_expired_download_link_is_refused(self, backend, alice, monkeypatch):
        url = backend.download_url(
            key=f"uploads/{alice.pk}/x", filename="x.png", content_type="image/png"
        )
        later = time.time() + 61
        monkeypatch.setattr(time, "time", lambda: later)
        response = Client().get(url)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "download_link_expired"

    def test_a_download_link_stops_working_once_the_file_is_not_downloadable(
        self, backend, png, alice
    ):
        key = f"uploads/{alice.pk}/r"
        target = backend.presign_post(policy_for(key))
        self.http_post(target.url, target.fields, png)
        file = self.approved_file(alice, key)
        url = backend.download_url(key=key, filename="r.png", content_type="image/png")
        File.objects.filter(pk=file.pk).update(status=FileStatus.REJECTED)
        response = Client().get(url)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "file_not_downloadable"


# ---- the dummy backend (for other apps' tests) -----------------------------------------


class TestDummyUploadBackend(UploadBackendContract):
    @pytest.fixture
    def backend(self, settings) -> UploadBackend:
        settings.NIMBUS_UPLOADS = {
            "default": {"BACKEND": "apps.files.backends.dummy.DummyUploadBackend"}
        }
        return get_upload_backend()

    @pytest.fixture(autouse=True)
    def _current(self, backend):
        self.current = backend

    def http_post(self, url: str, fields: dict[str, str], content: bytes) -> int:
        from project.errors import NimbusError

        try:
            self.current.receive_post(url, fields, content)
        except NimbusError as error:
            return error.status
        return 204

    def http_put(self, url: str, body: bytes) -> tuple[int, str]:
        from project.errors import NimbusError

        try:
            return 200, self.current.receive_part(url, body)
        except NimbusError as error:
            return error.status, ""

    def http_get(self, url: str) -> tuple[int, bytes, dict[str, str]]:
        body, headers = self.current.receive_get(url)
        return 200, body, headers

    def test_calls_are_recorded(self, backend):
        backend.presign_post(policy_for("uploads/1/z"))
        backend.delete("uploads/1/z")
        assert [name for name, _ in backend.calls] == ["presign_post", "delete"]

    def test_the_policy_is_enforced(self, backend, png):
        target = backend.presign_post(policy_for("uploads/1/z", max_bytes=len(png)))
        assert self.http_post(target.url, {**target.fields, "key": "uploads/2/z"}, png) == 403
        assert self.http_post(target.url, target.fields, png + b"x") == 413
        assert self.http_post(target.url, target.fields, png) == 204
        assert self.http_post(target.url, target.fields, png) == 409


# ---- S3, served by moto --------------------------------------------------------------


def decoded_policy(fields: dict[str, str]) -> dict[str, Any]:
    return json.loads(base64.b64decode(fields["policy"]))


class TestS3UploadBackend(UploadBackendContract):
    @pytest.fixture
    def backend(self, s3_backend) -> UploadBackend:
        return s3_backend

    def http_post(self, url: str, fields: dict[str, str], content: bytes) -> int:
        return requests.post(
            url, data=fields, files={"file": ("f", content)}, timeout=10
        ).status_code

    def http_put(self, url: str, body: bytes) -> tuple[int, str]:
        response = requests.put(url, data=body, timeout=30)
        return response.status_code, response.headers.get("ETag", "").strip('"')

    def http_get(self, url: str) -> tuple[int, bytes, dict[str, str]]:
        response = requests.get(url, timeout=10)
        return (
            response.status_code,
            response.content,
            {k.lower(): v for k, v in response.headers.items()},
        )

    # S3 enforces the policy itself (moto does not): assert every condition we sign.

    def test_the_policy_bounds_the_size_from_one_byte_to_the_maximum(self, backend):
        target = backend.presign_post(policy_for("uploads/1/p", max_bytes=12345))
        assert ["content-length-range", 1, 12345] in decoded_policy(target.fields)["conditions"]

    def test_the_policy_fixes_the_exact_key_content_type_and_bucket(self, backend):
        target = backend.presign_post(policy_for("uploads/1/p", "application/pdf"))
        conditions = decoded_policy(target.fields)["conditions"]
        assert {"key": "uploads/1/p"} in conditions
        assert {"Content-Type": "application/pdf"} in conditions
        assert {"bucket": BUCKET} in conditions
        # No prefix or wildcard condition would let another key or type through.
        assert not [c for c in conditions if isinstance(c, list) and c[0] == "starts-with"]

    def test_the_policy_has_exactly_these_conditions(self, backend):
        target = backend.presign_post(policy_for("uploads/1/p", "image/png", 777))
        fields = target.fields
        expected = [
            {"bucket": BUCKET},
            {"key": "uploads/1/p"},
            ["content-length-range", 1, 777],
            {"Content-Type": "image/png"},
            {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
            {"x-amz-credential": fields["x-amz-credential"]},
            {"x-amz-date": fields["x-amz-date"]},
        ]
        if "x-amz-security-token" in fields:
            expected.append({"x-amz-security-token": fields["x-amz-security-token"]})
        conditions = decoded_policy(fields)["conditions"]
        assert sorted(map(json.dumps, conditions)) == sorted(map(json.dumps, expected))
        # Every form field S3 receives is covered by a condition (S3 refuses others).
        covered = {next(iter(c)) for c in conditions if isinstance(c, dict)}
        assert set(fields) - {"policy", "x-amz-signature"} <= covered

    def test_the_policy_expires_with_the_upload(self, backend):
        expires_at = datetime.now(UTC) + timedelta(minutes=10)
        policy = UploadPolicy("uploads/1/p", "image/png", 1000, expires_at)
        document = decoded_policy(backend.presign_post(policy).fields)
        expiration = datetime.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC
        )
        assert abs((expiration - expires_at).total_seconds()) <= 2

    def test_the_signature_covers_the_policy_so_tampering_is_detected(self, backend):
        """SigV4 for POST: HMAC of the base64 policy with the derived signing key."""
        target = backend.presign_post(policy_for("uploads/1/p"))
        fields = target.fields
        date, region, service = fields["x-amz-credential"].split("/")[1:4]

        def sign(key: bytes, message: str) -> bytes:
            return hmac.new(key, message.encode(), hashlib.sha256).digest()

        key = sign(("AWS4" + "testing").encode(), date)
        for part in (region, service, "aws4_request"):
            key = sign(key, part)
        assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
        assert (
            hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
            == fields["x-amz-signature"]
        )
        forged = base64.b64encode(
            json.dumps(
                {**decoded_policy(fields), "conditions": [["content-length-range", 1, 10**12]]}
            ).encode()
        ).decode()
        assert (
            hmac.new(key, forged.encode(), hashlib.sha256).hexdigest() != fields["x-amz-signature"]
        )

    def test_the_upload_start_policy_admits_exactly_the_declared_size(
        self, settings, moto_s3, alice, png
    ):
        from apps.files.services import file_upload_start

        s3_settings(settings, moto_s3, max_bytes=4096, expires_in=120)
        started = file_upload_start(
            user=alice, name="p.png", content_type="image/png", size=len(png)
        )
        document = decoded_policy(started.target.fields)
        # Exactly the declared size: S3 refuses a byte more or less (EntityTooLarge/Small).
        assert ["content-length-range", len(png), len(png)] in document["conditions"]
        assert started.target.max_bytes == len(png)
        assert {"key": f"uploads/{alice.pk}/{started.file.pk}"} in document["conditions"]
        expiration = datetime.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC
        )
        assert expiration <= datetime.now(UTC) + timedelta(seconds=121)


def test_the_local_storage_endpoints_do_not_exist_when_s3_is_selected(s3_backend, settings):
    from apps.files.backends.local import LocalUploadBackend

    local = LocalUploadBackend()
    target = local.presign_post(policy_for("uploads/1/x"))
    from tests.apps.files.conftest import form_post

    assert form_post(Client(), target.url, target.fields, b"x").status_code == 404
    link = local.download_url(key="uploads/1/x", filename="x", content_type="image/png")
    assert Client().get(link).status_code == 404
