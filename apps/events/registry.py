"""Declarations that drive both local dispatch and the AWS wiring.

Apps declare, in modules the events app discovers at start (``apps/<app>/events.py`` and
``apps/<app>/handlers.py``):

* event types — ``declare_event("files.FileUploaded", schema={...})``: the JSON schema of
  ``detail`` that :func:`apps.events.services.publish` enforces;
* receivers — ``@receiver("files.FileUploaded")`` or ``@receiver({<EventBridge pattern>})``:
  a function taking one :class:`~apps.events.envelope.EventEnvelope`;
* scheduled jobs — ``@scheduled("rate(5 minutes)")`` / ``@scheduled("cron(0 3 * * ? *)")``:
  a function taking no argument.

The infra generator reads :data:`event_types`, :data:`receivers` and :data:`schedules`.
Names on AWS (see :func:`aws_name`), for stage ``<stage>``:

* one SQS queue per receiver **group** (default: the receiver's app label):
  ``nimbus-<stage>-<group>`` with its DLQ ``nimbus-<stage>-<group>-dlq``;
* one EventBridge rule per **receiver** on the stage's bus, pattern = ``receiver.pattern``,
  target = its group's queue: ``nimbus-<stage>-<receiver name with . and _ as ->``;
* one schedule rule per **scheduled job**: ``nimbus-<stage>-<job name, same mapping>``,
  target = the Lambda function with the "Scheduled Event" payload
  (``apps.events.entry.handle_schedule`` finds the job from the rule ARN).
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from apps.events.patterns import validate_pattern
from apps.events.schedules import parse_schedule, register_locally
from apps.events.schemas import DetailSchema, SchemaError, compile_schema

__all__ = [
    "RESERVED_GROUPS",
    "RULES_GROUP",
    "TASKS_GROUP",
    "EventType",
    "Receiver",
    "Schedule",
    "aws_name",
    "declare_event",
    "event_types",
    "receiver",
    "receivers",
    "scheduled",
    "schedules",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,47}$")

#: ``nimbus-<stage>-tasks`` (and its ``-dlq``): the queue Django Tasks are sent to on AWS.
TASKS_GROUP = "tasks"
#: ``nimbus-<stage>-rules-dlq``: events EventBridge could not deliver to a rule's target.
RULES_GROUP = "rules"
#: Names no receiver group may take: the infra stack's queues of the same name would clash.
RESERVED_GROUPS = frozenset({TASKS_GROUP, RULES_GROUP})


@dataclass(frozen=True)
class EventType:
    detail_type: str
    source: str
    #: The JSON Schema of ``detail``: the published contract (catalog, other systems).
    schema: Mapping[str, Any]
    description: str = ""
    #: ``schema`` compiled for pydantic-core (:mod:`apps.events.schemas`), what publish checks.
    validator: DetailSchema = field(kw_only=True, compare=False, repr=False)


@dataclass(frozen=True)
class Receiver:
    """A function run for every event matching ``pattern``, at most once per event."""

    name: str
    pattern: Mapping[str, Any]
    group: str
    func: Callable[..., Any] = field(compare=False)
    #: False for slow receivers that are idempotent on their own: they run outside the
    #: transaction that records the inbox row (see :func:`apps.events.delivery.receiver_run`).
    atomic: bool = True

    @property
    def rule_name_suffix(self) -> str:
        return aws_name(self.name)


@dataclass(frozen=True)
class Schedule:
    """A job run on ``expression`` (EventBridge ``rate(...)`` or ``cron(...)``)."""

    name: str
    expression: str
    func: Callable[[], Any] = field(compare=False)

    @property
    def rule_name_suffix(self) -> str:
        return aws_name(self.name)


#: detail-type -> EventType
event_types: dict[str, EventType] = {}
#: receiver name -> Receiver
receivers: dict[str, Receiver] = {}
#: job name -> Schedule
schedules: dict[str, Schedule] = {}


def aws_name(name: str) -> str:
    """The part of an AWS resource name derived from a receiver, group or job name."""
    return re.sub(r"[^a-z0-9-]", "-", name.lower())


def app_label_of(module: str) -> str:
    """``apps.files.handlers`` -> ``files``; other modules: their app config's label."""
    parts = module.split(".")
    if parts[0] == "apps" and len(parts) > 1:
        return parts[1]
    from django.apps import apps

    config = apps.get_containing_app_config(module) if apps.apps_ready else None
    return config.label if config else parts[0]


def _default_source(detail_type: str) -> str:
    if "." not in detail_type:
        raise ImproperlyConfigured(
            f"Event type {detail_type!r} has no '<app>.' prefix; pass source= explicitly."
        )
    return f"nimbus.{detail_type.split('.', 1)[0]}"


def declare_event(
    detail_type: str,
    *,
    schema: Mapping[str, Any],
    description: str = "",
    source: str | None = None,
) -> EventType:
    """Declare an event type and the JSON schema its ``detail`` must satisfy.

    ``source`` defaults to ``nimbus.<app>`` for a ``<app>.<Name>`` detail-type. Declaring
    the same type twice with a different schema or source is an error.
    """
    # Checked and translated in plain Python: pydantic-core loads on the first publish.
    try:
        validator = compile_schema(copy.deepcopy(dict(schema)))
    except SchemaError as exc:
        raise ImproperlyConfigured(
            f"Event type {detail_type!r} has an invalid JSON schema: {exc}"
        ) from exc
    declared = EventType(
        detail_type=detail_type,
        source=source or _default_source(detail_type),
        schema=copy.deepcopy(dict(schema)),
        description=description,
        validator=validator,
    )
    existing = event_types.get(detail_type)
    if existing is not None and existing != declared:
        raise ImproperlyConfigured(
            f"Event type {detail_type!r} is already declared (source {existing.source!r}) "
            "with a different schema or source."
        )
    event_types[detail_type] = declared
    return declared


def receiver(
    pattern_or_detail_type: str | Mapping[str, Any],
    *,
    name: str | None = None,
    group: str | None = None,
    atomic: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function for events matching a pattern.

    A string means ``{"detail-type": [string]}`` unless it is JSON text of an object
    (starts with ``{``); a dict or JSON object is an EventBridge event pattern, validated now (an invalid one raises :class:`InvalidPatternError`). ``name`` (default
    ``<app>.<function>``) must be unique; ``group`` (default: the app label) selects the
    queue the receiver's events go through on AWS.

    By default the receiver's writes commit together with the inbox row that makes it
    run once per event. ``atomic=False`` is for receivers that take long (streaming a
    large object) and are idempotent by themselves: no transaction is held open while
    they run, and a rare duplicate delivery may run them twice.
    """
    if isinstance(pattern_or_detail_type, str) and not pattern_or_detail_type.lstrip().startswith(
        "{"
    ):
        pattern: dict[str, Any] = {"detail-type": [pattern_or_detail_type]}
    elif isinstance(pattern_or_detail_type, str):
        pattern = validate_pattern(pattern_or_detail_type)
    else:
        pattern = copy.deepcopy(dict(pattern_or_detail_type))
    validate_pattern(pattern)

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        label = app_label_of(func.__module__)
        registered = Receiver(
            name=_checked_name(name or f"{label}.{func.__name__}", "receiver"),
            pattern=pattern,
            group=_checked_name(group or label, "receiver group"),
            func=func,
            atomic=atomic,
        )
        _register(receivers, registered.name, registered, func, "receiver")
        return func

    return decorate


def scheduled(
    expression: str, *, name: str | None = None
) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Run the decorated function on an EventBridge schedule expression.

    Locally ``manage.py worker`` runs it (``project.worker.every``); on AWS a schedule rule
    invokes the Lambda function and :func:`apps.events.entry.handle_schedule` calls it.
    """
    spec = parse_schedule(expression)

    def decorate(func: Callable[[], Any]) -> Callable[[], Any]:
        label = app_label_of(func.__module__)
        job = Schedule(
            name=_checked_name(name or f"{label}.{func.__name__}", "scheduled job"),
            expression=expression,
            func=func,
        )
        _register(schedules, job.name, job, func, "scheduled job")
        register_locally(job.name, func, spec)
        return func

    return decorate


def _checked_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise ImproperlyConfigured(
            f"{what.capitalize()} name {name!r} must be 1-48 characters of a-z, 0-9, '.', '_', "
            "'-' (it names AWS resources)."
        )
    return name


def _register(
    table: dict[str, Any], key: str, value: Any, func: Callable[..., Any], what: str
) -> None:
    existing = table.get(key)
    if existing is not None and _qualname(existing.func) != _qualname(func):
        raise ImproperlyConfigured(
            f"Duplicate {what} name {key!r}: {_qualname(existing.func)} and {_qualname(func)}."
        )
    table[key] = value


def _qualname(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def receivers_for(event: Mapping[str, Any], *, group: str | None = None) -> list[Receiver]:
    """Receivers (of one group, or all) whose pattern matches an EventBridge-shaped event."""
    from apps.events.patterns import matches

    return [
        r
        for r in receivers.values()
        if (group is None or r.group == group) and matches(r.pattern, event)
    ]


def schedule_for_rule(rule_name: str) -> Schedule | None:
    """The job an EventBridge schedule rule named ``nimbus-<stage>-<job>`` runs."""
    from django.conf import settings

    prefix = f"nimbus-{aws_name(settings.NIMBUS_STAGE)}-"
    for job in schedules.values():
        if rule_name == prefix + job.rule_name_suffix:
            return job
    return None


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Tests: declarations made inside the block are forgotten at its end."""
    tables: tuple[dict[str, Any], ...] = (event_types, receivers, schedules)
    saved = [dict(table) for table in tables]
    from project import worker

    saved_jobs = dict(worker.periodic_jobs)
    try:
        yield
    finally:
        for table, snapshot in zip(tables, saved, strict=True):
            table.clear()
            table.update(snapshot)
        worker.periodic_jobs.clear()
        worker.periodic_jobs.update(saved_jobs)
