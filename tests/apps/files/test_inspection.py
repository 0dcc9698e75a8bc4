"""What inspection decides from the bytes alone (streamed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.files.inspection import inspect_stream
from tests.apps.files.conftest import exe_bytes, png_bytes

ALLOWED = frozenset({"image/png", "text/plain", "text/csv", "application/pdf"})


def chunked(data: bytes, size: int = 7) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def judge(
    data: bytes, declared_type: str, declared_size: int | None = None, max_bytes: int = 10**6
):
    return inspect_stream(
        chunked(data),
        declared_type=declared_type,
        declared_size=len(data) if declared_size is None else declared_size,
        max_bytes=max_bytes,
        allowed_types=ALLOWED,
    )


def test_a_png_is_accepted_with_its_sha256():
    import hashlib

    data = png_bytes()
    verdict = judge(data, "image/png")
    assert verdict.reason == ""
    assert verdict.detected_type == "image/png"
    assert verdict.sha256 == hashlib.sha256(data).hexdigest()
    assert verdict.size == len(data)


def test_an_exe_declared_as_png_is_a_type_mismatch():
    verdict = judge(exe_bytes(), "image/png")
    assert verdict.reason == "type_mismatch"
    assert verdict.detected_type == "application/x-msdownload"


def test_utf8_text_is_accepted_as_text_and_csv():
    data = "name,city\nZoë,Kraków\n".encode()
    assert judge(data, "text/csv").reason == ""
    assert judge(data, "text/plain").reason == ""


@pytest.mark.parametrize(
    ("data", "declared", "reason"),
    [
        (b"\x00\x01\x02binary junk", "text/plain", "type_unrecognised"),
        (b"", "text/plain", "empty"),
        (b"%PDF-1.7 fake", "image/png", "type_mismatch"),
    ],
)
def test_refusals(data, declared, reason):
    assert judge(data, declared).reason == reason


def test_a_size_other_than_declared_is_refused():
    assert judge(png_bytes(), "image/png", declared_size=10).reason == "size_mismatch"


def test_reading_stops_once_the_limit_is_passed():
    consumed = []

    def endless() -> Iterator[bytes]:
        while True:
            consumed.append(1)
            yield b"a" * 1000

    verdict = inspect_stream(
        endless(),
        declared_type="text/plain",
        declared_size=5000,
        max_bytes=5000,
        allowed_types=ALLOWED,
    )
    assert verdict.reason == "too_large"
    assert len(consumed) == 6
