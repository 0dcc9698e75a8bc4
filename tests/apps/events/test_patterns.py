"""The local matcher follows EventBridge's semantics; invalid patterns are refused."""

from __future__ import annotations

from typing import Any

import pytest

from apps.events.exceptions import InvalidPatternError
from apps.events.patterns import (
    _wildcard_complexity,
    _wildcard_tokens,
    matches,
    validate_pattern,
)
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
        # PutRule's other refusals (event-ruler JsonRuleCompiler)
        ({"detail": {"a": [{"prefix": ""}]}}, "non-empty string"),
        ({"detail": {"a": [{"suffix": ""}]}}, "non-empty string"),
        ({"detail": {"a": [{"prefix": {"equals-ignore-case": ""}}]}}, "non-empty string"),
        ({"detail": {"a": [{"anything-but": {"prefix": ""}}]}}, "non-empty string"),
        ({"detail": {"a": [{"anything-but": {"suffix": ["x", ""]}}]}}, "non-empty string"),
        ({"detail": {"a": [{"anything-but": {"prefix": [1]}}]}}, "takes a string"),
        ({"detail": {"a": [{"anything-but": {"prefix": []}}]}}, "non-empty array"),
        ({"detail": {"a": [{"wildcard": "a\\b"}]}}, "may be escaped"),
        ({"detail": {"a": [{"wildcard": "ab\\"}]}}, "may be escaped"),
        ({"detail": {"a": [{"wildcard": "a\\\\\\b"}]}}, "may be escaped"),
        ({"detail": {"a": [{"numeric": ["<", 10, ">", 5]}]}}, "lower bound"),
        ({"detail": {"a": [{"numeric": ["=", 5, "<", 10]}]}}, "lower bound"),
        ({"detail": {"a": [{"numeric": [">", 2**53 + 1]}]}}, "exact IEEE 754"),
        ({"detail": {"a": [{"anything-but": [2**53 + 1]}]}}, "exact IEEE 754"),
        ({"detail": {"$or": [{"prefix": ["x"]}, {"b": ["y"]}]}}, "inside \\$or"),
        ({"detail": {"a.b": ["x"], "a": {"b": ["y"]}}}, "named twice"),
        ({"a": {"b.c": ["x"]}, "a.b": {"c": ["y"]}}, "named twice"),
        ({"detail": {"k": [{"wildcard": "*ab*ab*ab*ab*ab*ab"}]}}, "too complex"),
        (
            {"detail": {"k": [{"wildcard": f"*:stack/{n}/*"} for n in ("A", "B", "C", "D")]}},
            "too complex",
        ),
    ],
)
def test_invalid_patterns_are_refused(pattern: Any, message: str) -> None:
    with pytest.raises(InvalidPatternError, match=message) as info:
        validate_pattern(pattern)
    assert info.value.code == "invalid_event_pattern"


def test_wildcard_escapes_are_read_whole() -> None:
    # ``\\*`` then ordinary characters, and ``\\\\`` then ordinary characters, are valid
    validate_pattern({"k": [{"wildcard": "a\\*bc*"}]})
    validate_pattern({"k": [{"wildcard": "a\\\\bc*"}]})
    validate_pattern({"k": [{"wildcard": "\\**"}]})  # a literal star, then a wildcard
    assert matches({"k": [{"wildcard": "\\**"}]}, {"k": "*tail"})
    assert matches({"k": [{"wildcard": "a\\\\b*"}]}, {"k": "a\\bcd"})
    assert not matches({"k": [{"wildcard": "a\\\\b*"}]}, {"k": "abcd"})


def test_wildcard_complexity_counts_repeated_segments() -> None:
    # three values of one shape on one field were accepted by AWS, four refused
    three = [{"wildcard": f"*:stack/{n}/*"} for n in ("A", "B", "C")]
    validate_pattern({"detail": {"stack-id": three}})
    # a repeated segment after '*' keeps more copies alive than the same count of stars
    assert _wildcard_complexity([_wildcard_tokens("*ab*ab*ab*ab", "")]) > _wildcard_complexity(
        [_wildcard_tokens("*ab*cd*ef*gh", "")]
    )


def test_pattern_as_json_text_is_parsed_and_validated() -> None:
    text = '{"source": ["aws.s3"], "detail": {"key": [{"prefix": "uploads/"}]}}'
    pattern = validate_pattern(text)
    assert pattern == {"source": ["aws.s3"], "detail": {"key": [{"prefix": "uploads/"}]}}
    assert matches(pattern, {"source": "aws.s3", "detail": {"key": "uploads/a"}})
    with pytest.raises(InvalidPatternError, match="takes a non-empty string"):
        validate_pattern('{"detail": {"key": [{"prefix": ""}]}}')


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"source": ["aws.s3"],}', (1, 22)),
        ('{"source": \n ["aws.s3"]', (2, 12)),
        ('{"n": [NaN]}', None),
        ("", (1, 1)),
    ],
)
def test_invalid_json_text_is_refused_with_the_pattern_error(
    text: str, where: tuple[int, int] | None
) -> None:
    with pytest.raises(InvalidPatternError, match="must be JSON") as info:
        validate_pattern(text)
    assert info.value.code == "invalid_event_pattern"
    if where:
        assert (info.value.detail["line"], info.value.detail["column"]) == where


def test_json_text_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidPatternError, match="non-empty JSON object"):
        validate_pattern('["aws.s3"]')


def test_dotted_keys_and_nested_objects_match_each_other_in_arrays() -> None:
    pattern = {"detail": {"items.sku": ["a"], "items": {"qty": [2]}}}
    validate_pattern(pattern)
    assert matches(pattern, {"detail": {"items": [{"sku": "b", "qty": 5}, {"sku": "a", "qty": 2}]}})
    assert not matches(
        pattern, {"detail": {"items": [{"sku": "a", "qty": 5}, {"sku": "b", "qty": 2}]}}
    )


def test_numbers_compare_by_double_value_and_big_integers_by_value() -> None:
    assert matches({"n": [300]}, {"n": 3.0e2})
    assert matches({"n": [300.0]}, {"n": 300})
    big = 2**53 + 1  # no exact double: compared as itself, not rounded to 2**53
    assert matches({"n": [big]}, {"n": big})
    assert not matches({"n": [big]}, {"n": 2**53})
