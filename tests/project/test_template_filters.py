"""Filters that turn Nimbus's machine values into words for its pages."""

from __future__ import annotations

from project.templatetags.nimbus import type_names


def test_content_types_are_named_as_people_name_them() -> None:
    assert type_names(["application/pdf", "image/png", "text/plain"]) == ("PDF, PNG and plain text")


def test_unknown_types_fall_back_to_their_subtype_and_duplicates_collapse() -> None:
    assert type_names(["application/x-custom", "application/x-custom"]) == "X-CUSTOM"
    assert type_names([]) == ""
