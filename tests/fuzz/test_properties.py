"""Hypothesis properties of the event-pattern matcher and the ASL engine's path handling."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from apps.events.exceptions import InvalidPatternError
from apps.events.patterns import matches, validate_pattern
from apps.workflows.engine import paths
from apps.workflows.engine.errors import StatesError

pytestmark = pytest.mark.slow

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.text(alphabet=st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=8)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**9), max_value=10**9),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
    max_leaves=12,
)
events = st.dictionaries(names, json_values, max_size=6)


# --- event patterns ----------------------------------------------------------------------


def _pattern_from(event: dict[str, Any]) -> dict[str, Any]:
    """A pattern that asks for exactly the event's own scalar and nested values."""
    pattern: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, dict):
            if nested := _pattern_from(value):
                pattern[key] = nested
        elif not isinstance(value, list):
            pattern[key] = [value]
    return pattern


@FAST
@given(event=events)
def test_an_event_matches_the_pattern_of_its_own_values(event):
    pattern = _pattern_from(event)
    assume(pattern)
    validate_pattern(pattern)
    assert matches(pattern, event)


@FAST
@given(event=events, key=names)
def test_exists_true_and_false_are_complements(event, key):
    yes = matches({key: [{"exists": True}]}, event)
    no = matches({key: [{"exists": False}]}, event)
    assert yes != no


@FAST
@given(expected=st.text(max_size=8), actual=st.text(max_size=8))
def test_anything_but_is_the_complement_of_equality_for_strings(expected, actual):
    event = {"detail": {"state": actual}}
    equal = matches({"detail": {"state": [expected]}}, event)
    other = matches({"detail": {"state": [{"anything-but": [expected]}]}}, event)
    assert equal == (actual == expected)
    assert other == (actual != expected)


@FAST
@given(prefix=st.text(max_size=5), value=st.text(max_size=10))
def test_prefix_matches_exactly_the_strings_that_start_with_it(prefix, value):
    assume(prefix)
    assert matches({"k": [{"prefix": prefix}]}, {"k": value}) == value.startswith(prefix)


@FAST
@given(
    low=st.integers(-1000, 1000),
    high=st.integers(-1000, 1000),
    n=st.one_of(st.integers(-2000, 2000), st.floats(-2000, 2000, allow_nan=False)),
)
def test_numeric_ranges_match_the_numbers_inside_them(low, high, n):
    assume(low < high)
    pattern = {"n": [{"numeric": [">", low, "<=", high]}]}
    validate_pattern(pattern)
    assert matches(pattern, {"n": n}) == (low < n <= high)
    assert not matches(pattern, {"n": str(n)})  # numbers only, never strings


@FAST
@given(candidate=json_values, event=events)
def test_any_input_is_refused_cleanly_or_matches_without_error(candidate, event):
    try:
        validate_pattern(candidate)
    except InvalidPatternError:
        return
    assert isinstance(matches(candidate, event), bool)


# --- ASL paths ---------------------------------------------------------------------------

steps = st.lists(st.one_of(names, st.integers(0, 3)), min_size=1, max_size=4)


def _path(parts: list[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


@FAST
@given(parts=steps)
def test_segments_recover_the_parts_of_a_reference_path(parts):
    path = _path(parts)
    paths.check_reference_path(path)
    assert paths.segments(path) == parts


@FAST
@given(field=st.text(min_size=1, max_size=10).filter(lambda s: "\\" not in s))
def test_quoted_fields_keep_their_special_characters(field):
    quoted = field.replace("'", "\\'")
    assert paths.segments(f"$['{quoted}']") == [field]


@FAST
@given(
    data=st.dictionaries(names, json_values, max_size=5),
    field_names=st.lists(names, min_size=1, max_size=4),
    value=json_values,
)
def test_a_written_result_path_reads_back_and_the_input_is_untouched(data, field_names, value):
    path = _path(field_names)
    before = copy.deepcopy(data)
    try:
        result, failure = paths.write(path, data, value), None
    except StatesError as exc:
        result, failure = None, exc.error
    assert data == before
    if failure is not None:
        # Only when the path runs through something that is not an object.
        assert failure == "States.ResultPathMatchFailure"
        return
    assert paths.read(path, result) == value


@FAST
@given(data=json_values)
def test_the_root_path_reads_the_whole_input(data):
    assert paths.read("$", data) == data


@FAST
@given(
    data=st.dictionaries(names, json_values, max_size=4),
    field_names=st.lists(names, min_size=1, max_size=3),
)
def test_a_missing_definite_path_is_a_states_runtime_error(data, field_names):
    path = _path(field_names)
    try:
        paths.read(path, data)
    except StatesError as exc:
        failure = exc.error
    else:
        return
    assert failure == "States.Runtime"


@FAST
@given(text=st.text(max_size=20))
def test_checking_any_text_as_a_path_raises_only_value_error(text):
    try:
        paths.check_path(text)
    except ValueError:
        return
    assert text.startswith("$")
