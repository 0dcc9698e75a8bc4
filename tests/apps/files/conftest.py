"""Personas, sample contents and a private media root for the files tests."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from apps.files.backends import get_upload_backend, uploads
from apps.files.backends.base import UploadBackend
from tests import support

BUCKET = "nimbus-test-uploads"


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny) PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def exe_bytes() -> bytes:
    """The start of a Windows executable (MZ header, PE offset, DOS stub)."""
    stub = b"This program cannot be run in DOS mode.\r\r\n$"
    return b"MZ\x90\x00" + b"\x00" * 56 + struct.pack("<I", 64) + stub + b"\x00" * 400


@pytest.fixture
def png() -> bytes:
    return png_bytes()


@pytest.fixture
def exe() -> bytes:
    return exe_bytes()


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    """Every test stores into its own directory."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    uploads.reset()
    yield tmp_path / "media"
    uploads.reset()


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice@example.com", "pw-alice-123456")


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob@example.com", "pw-bob-1234567")


@pytest.fixture
def alice_client(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob: Any) -> Client:
    client = Client()
    client.force_login(bob)
    return client


def upload_options(settings: Any, **options: Any) -> None:
    """Change the default upload backend's OPTIONS for one test."""
    conf = {**settings.NIMBUS_UPLOADS["default"]}
    conf["OPTIONS"] = {**conf.get("OPTIONS", {}), **options}
    settings.NIMBUS_UPLOADS = {**settings.NIMBUS_UPLOADS, "default": conf}


def form_post(client: Client, url: str, fields: dict[str, str], content: bytes, name: str = "f"):
    """POST like a browser's FormData: the policy fields, then the file last."""
    data: dict[str, Any] = dict(fields)
    upload = io.BytesIO(content)
    upload.name = name
    data["file"] = upload
    return client.post(url, data)


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    with support.moto_server() as url:
        yield url


def s3_settings(settings: Any, endpoint: str, **options: Any) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    settings.NIMBUS_UPLOADS = {
        "default": {
            "BACKEND": "apps.files.backends.aws.S3UploadBackend",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "region_name": "us-east-1",
                "endpoint_url": endpoint,
                **options,
            },
        }
    }
    uploads.reset()


@pytest.fixture
def s3_backend(settings, moto_s3) -> Iterator[UploadBackend]:
    import boto3

    s3_settings(settings, moto_s3)
    yield get_upload_backend()
    bucket = boto3.resource("s3", endpoint_url=moto_s3, region_name="us-east-1").Bucket(BUCKET)
    bucket.objects.all().delete()
    for upload in bucket.multipart_uploads.all():
        upload.abort()
    bucket.delete()


#: A file that passed inspection: the review workflow may already have moved it on.
PASSED = frozenset({"accepted", "awaiting_approval", "approved"})


def assert_accepted(file_id: Any) -> None:
    """Inspection accepted the file: files.FileAccepted was published for it."""
    from apps.events.models import Event
    from apps.files.models import File

    assert File.objects.get(pk=file_id).status in PASSED
    assert Event.objects.filter(
        detail_type="files.FileAccepted", detail__file_id=str(file_id)
    ).exists()
