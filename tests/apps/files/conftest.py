"""Personas, sample contents and a private media root for the files tests."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
from django.test import Client

from apps.files.backends import uploads


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
