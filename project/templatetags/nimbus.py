"""Template filters for Nimbus's pages (``{% load nimbus %}``)."""

from __future__ import annotations

from collections.abc import Iterable

from django import template

register = template.Library()

# How a person names a content type; unknown ones fall back to their subtype in capitals.
_TYPE_NAMES = {
    "application/pdf": "PDF",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WebP",
    "image/svg+xml": "SVG",
    "text/plain": "plain text",
    "text/csv": "CSV",
    "application/zip": "ZIP",
    "application/json": "JSON",
    "video/mp4": "MP4 video",
}


@register.filter
def type_names(content_types: Iterable[str]) -> str:
    """``["application/pdf", "image/png"]`` → ``"PDF and PNG"`` (order kept, duplicates dropped)."""
    names: list[str] = []
    for content_type in content_types:
        name = _TYPE_NAMES.get(content_type) or content_type.rsplit("/", 1)[-1].upper()
        if name not in names:
            names.append(name)
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"
