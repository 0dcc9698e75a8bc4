"""Declaring event types, receivers and schedules."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.events import registry
from apps.events.exceptions import InvalidPatternError, InvalidScheduleError
from apps.events.schedules import parse_schedule


def test_string_receiver_means_detail_type_pattern(isolated_registry: None) -> None:
    @registry.receiver("shop.OrderPlaced")
    def on_order(event: object) -> None: ...

    r = registry.receivers["tests.on_order"]
    assert r.pattern == {"detail-type": ["shop.OrderPlaced"]}
    assert r.group == "tests"
    assert r.func is on_order


def test_receiver_name_and_group_are_explicit(isolated_registry: None) -> None:
    @registry.receiver({"source": ["aws.s3"]}, name="files.on-object", group="files")
    def on_object(event: object) -> None: ...

    assert registry.receivers["files.on-object"].group == "files"
    assert registry.receivers["files.on-object"].rule_name_suffix == "files-on-object"


def test_invalid_pattern_is_refused_when_declared(isolated_registry: None) -> None:
    with pytest.raises(InvalidPatternError, match="unknown operator 'Prefix'"):
        registry.receiver({"detail": {"key": [{"Prefix": "a"}]}})


def test_duplicate_receiver_name_is_refused(isolated_registry: None) -> None:
    @registry.receiver("a.B", name="tests.same")
    def first(event: object) -> None: ...

    with pytest.raises(ImproperlyConfigured, match="Duplicate receiver"):

        @registry.receiver("a.C", name="tests.same")
        def second(event: object) -> None: ...


def test_event_type_source_defaults_to_app_and_schema_is_checked(isolated_registry: None) -> None:
    declared = registry.declare_event("shop.OrderPlaced", schema={"type": "object"})
    assert declared.source == "nimbus.shop"
    with pytest.raises(ImproperlyConfigured, match="invalid JSON schema"):
        registry.declare_event("shop.Broken", schema={"type": "no-such-type"})
    with pytest.raises(ImproperlyConfigured, match="different schema"):
        registry.declare_event("shop.OrderPlaced", schema={"type": "array"})


def test_s3_object_created_is_declared_with_aws_source() -> None:
    assert registry.event_types["Object Created"].source == "aws.s3"


def test_discovered_outbox_sweeper_schedule_maps_to_its_rule(settings) -> None:
    settings.NIMBUS_STAGE = "dev"
    job = registry.schedule_for_rule("nimbus-dev-events-sweep-outbox")
    assert job is registry.schedules["events.sweep-outbox"]
    assert registry.schedule_for_rule("nimbus-prod-events-sweep-outbox") is None


@pytest.mark.parametrize(
    "expression",
    [
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "every 5 minutes",
        "cron(0 12 * * * *)",
        "cron(0 12 * *)",
        "cron(0 25 * * ? *)",
        "cron(0 12 L * ? *)",
    ],
)
def test_invalid_schedules_are_refused(expression: str) -> None:
    with pytest.raises(InvalidScheduleError):
        parse_schedule(expression)


def test_cron_due_follows_eventbridge_fields() -> None:
    from datetime import UTC, datetime

    spec = parse_schedule("cron(0/15 9-17 ? * MON-FRI *)")
    assert spec.due(datetime(2026, 11, 27, 9, 30, tzinfo=UTC))  # a Friday
    assert not spec.due(datetime(2026, 11, 28, 9, 30, tzinfo=UTC))  # Saturday
    assert not spec.due(datetime(2026, 11, 27, 9, 31, tzinfo=UTC))
    assert parse_schedule("rate(5 minutes)").every_seconds == 300


def test_checks_refuse_reserved_group_and_colliding_rule_names(
    isolated_registry: None, settings
) -> None:
    from apps.events.checks import check_aws_names

    settings.NIMBUS_STAGE = "staging-europe-west1"
    registry.receiver("a.B", name="shop.x", group="tasks")(lambda e: None)
    registry.receiver("a.B", name="shop.y_z")(lambda e: None)
    registry.receiver("a.B", name="shop.y-z")(lambda e: None)
    registry.receiver("a.B", name="shop." + "n" * 43)(lambda e: None)
    ids = sorted(m.id for m in check_aws_names())
    assert ids == ["events.E001", "events.E002", "events.E003"]


@pytest.mark.parametrize("group", ["tasks", "rules"])
def test_checks_refuse_a_group_named_after_the_stacks_own_queues(
    isolated_registry: None, settings, group: str
) -> None:
    """``nimbus-<stage>-tasks`` carries Django Tasks; ``nimbus-<stage>-rules-dlq`` holds the
    events EventBridge could not deliver: a receiver group of either name would clash."""
    from apps.events.checks import check_aws_names

    settings.NIMBUS_STAGE = "dev"
    registry.receiver("a.B", name="shop.x", group=group)(lambda e: None)
    (message,) = check_aws_names()
    assert message.id == "events.E001"
    assert f"reserved group {group!r}" in message.msg
    assert group in registry.RESERVED_GROUPS


@pytest.mark.django_db
def test_scheduled_rate_job_runs_in_the_local_worker(isolated_registry: None) -> None:
    from project.worker import periodic_jobs, run_due_jobs

    ran: list[int] = []

    @registry.scheduled("rate(5 minutes)", name="tests.tick")
    def tick() -> None:
        ran.append(1)

    assert registry.schedules["tests.tick"].expression == "rate(5 minutes)"
    assert periodic_jobs["schedule:tests.tick"].interval == 300
    for job in list(periodic_jobs):
        if job != "schedule:tests.tick":
            periodic_jobs.pop(job)
    run_due_jobs(now=1_000_000.0)
    run_due_jobs(now=1_000_100.0)  # within the interval: not again
    run_due_jobs(now=1_000_301.0)
    assert ran == [1, 1]


def test_scheduled_cron_job_runs_when_its_minute_comes(
    isolated_registry: None, monkeypatch
) -> None:
    from datetime import UTC, datetime

    from apps.events import schedules
    from project.worker import periodic_jobs

    ran: list[int] = []

    @registry.scheduled("cron(30 9 * * ? *)", name="tests.daily")
    def daily() -> None:
        ran.append(1)

    job = periodic_jobs["schedule:tests.daily"]

    class Clock(datetime):
        current = datetime(2026, 11, 27, 9, 29, 50, tzinfo=UTC)

        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return cls.current

    monkeypatch.setattr(schedules, "datetime", Clock)
    job.func()
    Clock.current = datetime(2026, 11, 27, 9, 30, 5, tzinfo=UTC)
    job.func()
    Clock.current = datetime(2026, 11, 27, 9, 30, 45, tzinfo=UTC)
    job.func()  # same minute: once only
    assert ran == [1]


def test_receiver_takes_a_pattern_as_json_text(isolated_registry: None) -> None:
    @registry.receiver('{"source": ["aws.s3"], "detail": {"key": [{"prefix": "in/"}]}}')
    def on_text(event: object) -> None: ...

    assert registry.receivers["tests.on_text"].pattern == {
        "source": ["aws.s3"],
        "detail": {"key": [{"prefix": "in/"}]},
    }
    with pytest.raises(InvalidPatternError, match="must be JSON"):
        registry.receiver('{"source": ["aws.s3"]')
