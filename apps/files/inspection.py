"""What an uploaded object really is: streamed once, never read into memory whole."""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

#: Bytes the magic-number check looks at (filetype needs 261; text checks like more).
HEADER_BYTES = 8192
#: Declared types whose content has no magic number: accepted when it is UTF-8 text.
TEXT_TYPES = frozenset({"text/plain", "text/csv"})


@dataclass(frozen=True)
class Verdict:
    """The inspection's findings; ``reason`` is empty when the file is acceptable."""

    size: int | None = None
    sha256: str = ""
    detected_type: str = ""
    reason: str = ""
    message: str = ""


def inspect_stream(
    chunks: Iterable[bytes],
    *,
    declared_type: str,
    declared_size: int,
    max_bytes: int,
    allowed_types: frozenset[str],
) -> Verdict:
    """Hash and measure the stream, detect its type, and judge it against the declaration."""
    digest = hashlib.sha256()
    header = b""
    size = 0
    for chunk in chunks:
        if len(header) < HEADER_BYTES:
            header += chunk[: HEADER_BYTES - len(header)]
        digest.update(chunk)
        size += len(chunk)
        if size > max_bytes:
            return Verdict(size=size, reason="too_large", message="The file is too large.")
    detected = detect_type(header)
    found = Verdict(size=size, sha256=digest.hexdigest(), detected_type=detected)
    problem = _problem(found, declared_type, declared_size, allowed_types)
    if problem is None:
        return found
    return Verdict(
        size=size,
        sha256=found.sha256,
        detected_type=detected,
        reason=problem[0],
        message=problem[1],
    )


def detect_type(header: bytes) -> str:
    """The MIME type from magic bytes, ``text/plain`` for UTF-8 text, else empty."""
    import filetype  # on the first upload inspected, not at every cold start

    kind = filetype.guess(header) if header else None
    if kind is not None:
        return str(kind.mime)
    if header and b"\x00" not in header and _is_utf8_prefix(header):
        return "text/plain"
    return ""


def _is_utf8_prefix(data: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _problem(
    found: Verdict, declared_type: str, declared_size: int, allowed: frozenset[str]
) -> tuple[str, str] | None:
    if not found.size:
        return "empty", "The file is empty."
    if found.size != declared_size:
        return (
            "size_mismatch",
            f"The file has {found.size} bytes, not the {declared_size} declared.",
        )
    if not found.detected_type:
        return "type_unrecognised", "The file's type could not be recognised."
    matches = found.detected_type == declared_type or (
        declared_type in TEXT_TYPES and found.detected_type == "text/plain"
    )
    if not matches:
        return (
            "type_mismatch",
            f"The file is {found.detected_type}, not the {declared_type} declared.",
        )
    if declared_type not in allowed:
        return "type_not_allowed", f"Files of type {declared_type} are not allowed."
    return None
