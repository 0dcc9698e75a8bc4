"""(pattern, event, AWS's answer) triples: the local matcher's spec, and the differential
test's corpus against moto's EventBridge.

Every case's event has source ``test.corpus``, detail-type ``Corpus`` and time
``2026-11-27T09:00:00Z``; only ``detail`` varies. ``moto_diverges`` marks the cases where
moto 5.2.5's matcher is documented to differ from AWS (PLATFORM-FACTS); the expectation
is AWS's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SOURCE = "test.corpus"
DETAIL_TYPE = "Corpus"
TIME = "2026-11-27T09:00:00Z"


@dataclass(frozen=True)
class Case:
    id: str
    pattern: dict[str, Any]
    detail: dict[str, Any]
    expected: bool
    moto_diverges: bool = False

    def event(self) -> dict[str, Any]:
        return {
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": DETAIL_TYPE,
            "source": SOURCE,
            "account": "123456789012",
            "time": TIME,
            "region": "us-east-1",
            "resources": [],
            "detail": self.detail,
        }


def _d(**fields: Any) -> dict[str, Any]:
    return {"detail": fields}


CASES: list[Case] = [
    Case("exact-string", _d(state=["running"]), {"state": "running"}, True),
    Case("exact-string-miss", _d(state=["running"]), {"state": "stopped"}, False),
    Case("alternatives", _d(state=["running", "pending"]), {"state": "pending"}, True),
    Case("exact-number", _d(n=[5]), {"n": 5}, True),
    Case("string-is-not-number", _d(n=["5"]), {"n": 5}, False),
    Case("exact-bool", _d(flag=[True]), {"flag": True}, True),
    Case("null-literal", _d(a=[None]), {"a": None}, True),
    Case("null-is-not-missing", _d(a=[None]), {"b": 1}, False),
    Case("prefix", _d(key=[{"prefix": "uploads/"}]), {"key": "uploads/a.png"}, True),
    Case("prefix-miss", _d(key=[{"prefix": "uploads/"}]), {"key": "tmp/a.png"}, False),
    Case("suffix", _d(key=[{"suffix": ".png"}]), {"key": "a.png"}, True),
    Case("suffix-miss", _d(key=[{"suffix": ".png"}]), {"key": "a.jpg"}, False),
    Case(
        "prefix-ignore-case",
        _d(key=[{"prefix": {"equals-ignore-case": "UPLOADS/"}}]),
        {"key": "uploads/x"},
        True,
    ),
    Case(
        "suffix-ignore-case",
        _d(key=[{"suffix": {"equals-ignore-case": ".PNG"}}]),
        {"key": "a.png"},
        True,
    ),
    Case("equals-ignore-case", _d(name=[{"equals-ignore-case": "ALICE"}]), {"name": "alice"}, True),
    Case(
        "equals-ignore-case-miss",
        _d(name=[{"equals-ignore-case": "ALICE"}]),
        {"name": "bob"},
        False,
    ),
    Case("anything-but", _d(state=[{"anything-but": "deleted"}]), {"state": "active"}, True),
    Case("anything-but-hit", _d(state=[{"anything-but": "deleted"}]), {"state": "deleted"}, False),
    Case("anything-but-list", _d(state=[{"anything-but": ["a", "b"]}]), {"state": "b"}, False),
    Case("anything-but-numbers", _d(n=[{"anything-but": [1, 2]}]), {"n": 3}, True),
    Case(
        "anything-but-prefix",
        _d(key=[{"anything-but": {"prefix": "tmp/"}}]),
        {"key": "tmp/x"},
        False,
    ),
    Case(
        "anything-but-prefix-other",
        _d(key=[{"anything-but": {"prefix": "tmp/"}}]),
        {"key": "keep/x"},
        True,
    ),
    Case(
        "anything-but-suffix",
        _d(key=[{"anything-but": {"suffix": ".tmp"}}]),
        {"key": "a.txt"},
        True,
    ),
    Case(
        "anything-but-ignore-case",
        _d(name=[{"anything-but": {"equals-ignore-case": ["ALICE", "BOB"]}}]),
        {"name": "alice"},
        False,
    ),
    Case(
        "anything-but-ignore-case-other",
        _d(name=[{"anything-but": {"equals-ignore-case": ["ALICE", "BOB"]}}]),
        {"name": "carol"},
        True,
    ),
    Case(
        "anything-but-wildcard",
        _d(key=[{"anything-but": {"wildcard": "*.tmp"}}]),
        {"key": "a.tmp"},
        False,
    ),
    Case("anything-but-missing", _d(state=[{"anything-but": "x"}]), {"other": "y"}, False),
    Case("numeric-range", _d(n=[{"numeric": [">", 0, "<=", 5]}]), {"n": 5}, True),
    Case("numeric-range-out", _d(n=[{"numeric": [">", 0, "<=", 5]}]), {"n": 6}, False),
    Case("numeric-equal", _d(n=[{"numeric": ["=", 3.5]}]), {"n": 3.5}, True),
    Case("numeric-on-string", _d(n=[{"numeric": [">", 1]}]), {"n": "5"}, False),
    Case("numeric-gte", _d(n=[{"numeric": [">=", 10]}]), {"n": 10}, True),
    Case("numeric-in-array", _d(n=[{"numeric": [">", 10]}]), {"n": [1, 20]}, True),
    Case("exists", _d(a=[{"exists": True}]), {"a": "x"}, True),
    Case("exists-missing", _d(a=[{"exists": True}]), {"b": "x"}, False),
    Case("not-exists-missing", _d(a=[{"exists": False}]), {"b": "x"}, True),
    Case("not-exists-present", _d(a=[{"exists": False}]), {"a": "x"}, False),
    Case("cidr", _d(ip=[{"cidr": "10.0.0.0/24"}]), {"ip": "10.0.0.7"}, True),
    Case("cidr-miss", _d(ip=[{"cidr": "10.0.0.0/24"}]), {"ip": "10.0.1.7"}, False),
    Case("wildcard", _d(key=[{"wildcard": "uploads/*/a.png"}]), {"key": "uploads/u1/a.png"}, True),
    Case(
        "wildcard-miss",
        _d(key=[{"wildcard": "uploads/*/a.png"}]),
        {"key": "uploads/u1/b.png"},
        False,
    ),
    Case(
        "nested",
        {"detail": {"object": {"size": [{"numeric": [">", 100]}]}}},
        {"object": {"size": 200}},
        True,
    ),
    Case(
        "nested-miss",
        {"detail": {"object": {"size": [{"numeric": [">", 100]}]}}},
        {"object": {"size": 50}},
        False,
    ),
    Case("array-intersects", _d(tags=["red"]), {"tags": ["blue", "red"]}, True),
    Case("array-disjoint", _d(tags=["red"]), {"tags": ["blue"]}, False),
    Case("and", _d(a=["x"], b=["y"]), {"a": "x", "b": "z"}, False),
    Case("and-both", _d(a=["x"], b=["y"]), {"a": "x", "b": "y"}, True),
    Case("or", {"detail": {"$or": [{"a": ["x"]}, {"b": ["y"]}]}}, {"a": "q", "b": "y"}, True),
    Case(
        "or-neither", {"detail": {"$or": [{"a": ["x"]}, {"b": ["y"]}]}}, {"a": "q", "b": "q"}, False
    ),
    Case("source", {"source": [SOURCE]}, {"a": 1}, True),
    Case("source-miss", {"source": ["other.source"]}, {"a": 1}, False),
    Case(
        "detail-type-and-detail",
        {"detail-type": [DETAIL_TYPE], "detail": {"a": ["x"]}},
        {"a": "x"},
        True,
    ),
    Case(
        "mixed-alternatives",
        _d(a=[{"prefix": "x"}, {"numeric": [">", 10]}]),
        {"a": 11},
        True,
    ),
    # anything-but with a list of prefixes/suffixes (event-ruler README, "Anything-but suffix
    # list"; EventBridge "Comparison operators": Anything-but (begins with / ends with)).
    Case(
        "anything-but-prefix-list",
        _d(key=[{"anything-but": {"prefix": ["tmp/", "cache/"]}}]),
        {"key": "cache/x"},
        False,
    ),
    Case(
        "anything-but-prefix-list-other",
        _d(key=[{"anything-but": {"prefix": ["tmp/", "cache/"]}}]),
        {"key": "keep/x"},
        True,
    ),
    Case(
        "anything-but-suffix-list",
        _d(key=[{"anything-but": {"suffix": [".tmp", ".bak"]}}]),
        {"key": "a.bak"},
        False,
    ),
    Case(
        "anything-but-suffix-list-other",
        _d(key=[{"anything-but": {"suffix": [".tmp", ".bak"]}}]),
        {"key": "a.txt"},
        True,
    ),
    # numbers compare by value: 300, 300.0 and 3.0e2 are one number (event-ruler
    # JsonRuleCompiler matches a pattern number by its double value as well as its text).
    Case("number-int-matches-float", _d(n=[300]), {"n": 300.0}, True),
    Case("number-float-matches-int", _d(n=[3.0e2]), {"n": 300}, True),
    Case("number-value-miss", _d(n=[300]), {"n": 300.5}, False),
    Case("anything-but-number-by-value", _d(n=[{"anything-but": [300]}]), {"n": 3.0e2}, False),
    Case("numeric-equal-by-value", _d(n=[{"numeric": ["=", 3.018e2]}]), {"n": 301.8}, True),
    # wildcard escapes read whole: \* is a star, \\ a backslash
    Case("wildcard-escaped-star", _d(k=[{"wildcard": "a\\*b*"}]), {"k": "a*bcd"}, True),
    Case("wildcard-escaped-star-miss", _d(k=[{"wildcard": "a\\*b*"}]), {"k": "axbcd"}, False),
    Case("wildcard-escaped-backslash", _d(k=[{"wildcard": "a\\\\b*"}]), {"k": "a\\bc"}, True),
    # a number is no match of a string prefix/suffix, so anything-but of it holds
    Case(
        "anything-but-prefix-on-number",
        _d(n=[{"anything-but": {"prefix": "1"}}]),
        {"n": 123},
        True,
    ),
    Case(
        "anything-but-suffix-on-number",
        _d(n=[{"anything-but": {"suffix": "3"}}]),
        {"n": 123},
        True,
    ),
    # keys with dots: EventBridge joins paths with dots on both sides (event-ruler README,
    # "Compiled rules and JSON keys with dots")
    Case("dotted-pattern-nested-event", _d(**{"a.b": ["x"]}), {"a": {"b": "x"}}, True),
    Case("nested-pattern-dotted-event", {"detail": {"a": {"b": ["x"]}}}, {"a.b": "x"}, True),
    Case("dotted-pattern-dotted-event", _d(**{"a.b": ["x"]}), {"a.b": "x"}, True),
    Case("dotted-pattern-miss", _d(**{"a.b": ["x"]}), {"a": {"b": "y"}}, False),
    # moto 5.2.5 diverges from AWS on these (PLATFORM-FACTS); AWS's answer is asserted locally.
    Case("true-is-not-1", _d(flag=[True]), {"flag": 1}, False, moto_diverges=True),
    Case("numeric-not-bool", _d(n=[{"numeric": [">", 0]}]), {"n": True}, False, moto_diverges=True),
    Case(
        "anything-but-1-matches-true",
        _d(n=[{"anything-but": [1]}]),
        {"n": True},
        True,
        moto_diverges=True,
    ),
    Case(
        "cidr-not-integer", _d(ip=[{"cidr": "10.0.0.0/8"}]), {"ip": 10}, False, moto_diverges=True
    ),
    Case(
        "empty-array-does-not-exist", _d(a=[{"exists": True}]), {"a": []}, False, moto_diverges=True
    ),
    Case("prefix-on-time", {"time": [{"prefix": "2026-11-"}]}, {"a": 1}, True, moto_diverges=True),
]
