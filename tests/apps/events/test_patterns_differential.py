"""Differential test: the local matcher and (moto's) EventBridge agree on the corpus.

Every corpus pattern becomes a rule on one bus with its own SQS queue; every corpus event
is put on the bus once. Each rule's queue must then hold exactly the events the local
matcher says it matches: the full cross product, not only each case's own pair.

The cases where moto 5.2.5 is documented to differ from AWS (``moto_diverges``) are left
out of the comparison; tests/apps/events/test_patterns.py asserts AWS's answer for them.

Where moto 5.2.5 departs from AWS's documentation (EventBridge user guide, "Comparison
operators" and "Content filtering"; event-ruler's README), found by running this corpus:

* matching: ``true``/``false`` equal ``1``/``0``; ``numeric`` matches a boolean;
  ``anything-but: [1]`` does not match ``true``; ``cidr`` matches an integer; ``time`` is
  matched as an epoch number (``prefix`` on it never matches); ``exists: true`` matches an
  empty array;
* PutRule: moto refuses almost nothing, so none of the refusals in test_patterns.py can be
  compared here: unknown or miscased operators, empty ``prefix``/``suffix``, bad escapes
  and ``**`` in ``wildcard``, wildcard values past the complexity limit, a field named
  twice (``"a.b"`` and ``"a": {"b"}``), operator names inside ``$or``, ranges written upper
  bound first, numbers with no exact double.

moto agrees with AWS on dotted keys (both ways), ``anything-but`` lists of prefixes and
suffixes and on non-string values, numbers by value (``300`` = ``3.0e2``) and wildcard
escapes read whole, so those cases are compared. Rules are put from their JSON text after
:func:`validate_pattern` reads it, as a rule declared in a file would be.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from apps.events.patterns import matches, validate_pattern
from tests.apps.events.pattern_corpus import CASES, DETAIL_TYPE, SOURCE, Case

BUS = "corpus"
COMPARED = [c for c in CASES if not c.moto_diverges]


def _event(case: Case) -> dict[str, Any]:
    event = case.event()
    event["detail"] = {**case.detail, "corpus_id": case.id}
    return event


@pytest.fixture(scope="module")
def moto_matches() -> Iterator[dict[str, set[str]]]:
    """Rule (case id) -> ids of the corpus events EventBridge delivered to its queue."""
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        events.create_event_bus(Name=BUS)
        queues = {}
        for i, case in enumerate(COMPARED):
            url = sqs.create_queue(QueueName=f"corpus-{i}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            pattern = validate_pattern(json.dumps(case.pattern))
            events.put_rule(Name=f"r{i}", EventBusName=BUS, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=f"r{i}", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
            queues[case.id] = url
        for start in range(0, len(COMPARED), 10):
            response = events.put_events(
                Entries=[
                    {
                        "EventBusName": BUS,
                        "Source": SOURCE,
                        "DetailType": DETAIL_TYPE,
                        "Detail": json.dumps(_event(case)["detail"]),
                        "Time": datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
                    }
                    for case in COMPARED[start : start + 10]
                ]
            )
            assert response["FailedEntryCount"] == 0
        got: dict[str, set[str]] = {}
        for case_id, url in queues.items():
            ids: set[str] = set()
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                for m in messages:
                    ids.add(json.loads(m["Body"])["detail"]["corpus_id"])
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            got[case_id] = ids
        yield got


def test_corpus_is_large_enough() -> None:
    assert len(COMPARED) >= 40
    assert {c.expected for c in COMPARED} == {True, False}


@pytest.mark.parametrize("rule", COMPARED, ids=lambda c: c.id)
def test_local_matcher_agrees_with_eventbridge(
    rule: Case, moto_matches: dict[str, set[str]]
) -> None:
    local = {case.id for case in COMPARED if matches(rule.pattern, _event(case))}
    assert local == moto_matches[rule.id]
    # and each case's own pair has the answer the corpus states
    assert (rule.id in local) is rule.expected
