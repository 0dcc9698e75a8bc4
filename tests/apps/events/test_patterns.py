"""The local matcher follows EventBridge's semantics; invalid patterns are refused."""

from __future__ import annotations

from typing import Any

import pytest

from apps.events.exceptions import InvalidPatternError
from apps.events.patterns import matches, validate_pattern
from tests.apps.events.pattern_corpus import CASES, Case


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matcher_gives_aws_answer(case: Case) -> None:
    validate_pattern(case.pattern)
    assert matches(case.pattern, case.event()) is case.expected


def test_array_of_objects_matches_when_one_element_matches_whole_subpattern() -> None:
    pattern = {"detail": {"items": {"sku": ["a"], "qty": [{"numeric": [">", 1]}]}}}
    assert matches(pattern, {"detail": {"items": [{"sku": "b", "qty": 5}, {"sku": "a", "qty": 2}]}})
    assert not matches(
        pattern, {"detail": {"items": [{"sku": "b", "qty": 5}, {"sku": "a", "qty": 1}]}}
    )


def test_exists_false_matches_when_parent_object_is_missing() -> None:
    assert matches({"detail": {"a": {"b": [{"exists": False}]}}}, {"detail": {}})


def test_exists_true_does_not_match_an_object() -> None:
    assert not matches({"detail": {"a": [{"exists": True}]}}, {"detail": {"a": {"b": 1}}})


def test_wildcard_escaped_star_is_literal() -> None:
    pattern = {"k": [{"wildcard": "a\\*b"}]}
    validate_pattern(pattern)
    assert matches(pattern, {"k": "a*b"})
    assert not matches(pattern, {"k": "axxb"})


def test_ipv6_cidr() -> None:
    assert matches({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:db8::1"})
    assert not matches({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "not-an-ip"})


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({}, "non-empty JSON object"),
        ([], "non-empty JSON object"),
        ({"detail": {"a": [{"Prefix": "x"}]}}, "unknown operator 'Prefix'"),
        ({"detail": {"a": [{"begins-with": "x"}]}}, "unknown operator 'begins-with'"),
        ({"detail": {"a": [{"numeric": 10}]}}, "numeric"),
        ({"detail": {"a": [{"numeric": [">", "10"]}]}}, "numbers only"),
        ({"detail": {"a": [{"numeric": ["~", 10]}]}}, "unknown comparison"),
        ({"detail": {"a": [{"numeric": [">", 10, ">", 20]}]}}, "lower bound"),
        ({"detail": {"a": [{"numeric": [">", 10, "<", 5]}]}}, "below the upper"),
        ({"detail": {"a": [{"prefix": 123}]}}, "takes a string"),
        ({"detail": {"a": [{"exists": "yes"}]}}, "true or false"),
        ({"detail": {"a": [{"cidr": "10.0.0.0/99"}]}}, "CIDR"),
        ({"detail": {"a": [{"wildcard": "a**b"}]}}, "consecutive"),
        ({"detail": {"a": [{"anything-but": {"contains": "x"}}]}}, "inside anything-but"),
        ({"detail": {"a": [{"anything-but": ["x", 1]}]}}, "only strings or only numbers"),
        ({"detail": {"a": [{"prefix": "x", "suffix": "y"}]}}, "exactly one operator"),
        ({"detail": {"a": []}}, "must not be empty"),
        ({"detail": {"a": "x"}}, "arrays of matchers"),
        ({"detail": {"$or": [{"a": ["x"]}]}}, "at least two"),
        ({"detail": {"a": [["x"]]}}, "neither a literal"),
    ],
)
def test_invalid_patterns_are_refused(pattern: Any, message: str) -> None:
    with pytest.raises(InvalidPatternError, match=message) as info:
        validate_pattern(pattern)
    assert info.value.code == "invalid_event_pattern"
