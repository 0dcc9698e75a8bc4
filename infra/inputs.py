"""What the stack is generated from: the apps' registries and declarations, read once.

:func:`collect` reads (``django.setup()`` must have run, so every app has registered)
``apps.events.registry`` (event types, receivers, schedules) and ``apps.workflows.registry``
(ASL definitions, steps); the password policy (``apps.users.password_policy``) and the
connections table (``apps.push.backends.aws``) are the defaults of :class:`StackInputs`.
Tests build :class:`StackInputs` directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.events import registry as events
from apps.push.backends.aws import CONNECTIONS_TABLE_SCHEMA, TTL_ATTRIBUTE
from apps.users.password_policy import PASSWORD_POLICY
from apps.workflows import registry as workflows
from apps.workflows.registry import Definition

STAGE_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,11}$")


@dataclass(frozen=True)
class ReceiverSpec:
    name: str
    pattern: Mapping[str, Any]
    group: str


@dataclass(frozen=True)
class EventTypeSpec:
    """A declared event type; an ``aws.*`` source means an AWS service emits it."""

    detail_type: str
    source: str

    @property
    def from_aws(self) -> bool:
        return self.source.startswith("aws.")


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    expression: str


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    definition: Mapping[str, Any]
    path: str = ""


@dataclass
class StackInputs:
    """Everything the template depends on besides the stage's CloudFormation parameters."""

    stage: str
    #: What apps declare (``declare_event``): AWS services' types are forwarded to the bus.
    event_types: list[EventTypeSpec] = field(default_factory=list)
    receivers: list[ReceiverSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    workflows: list[WorkflowSpec] = field(default_factory=list)
    steps: frozenset[str] = frozenset()
    password_policy: Mapping[str, Any] = field(default_factory=lambda: dict(PASSWORD_POLICY))
    connections_table: Mapping[str, Any] = field(
        default_factory=lambda: dict(CONNECTIONS_TABLE_SCHEMA)
    )
    connections_ttl_attribute: str = TTL_ATTRIBUTE
    #: Lambda timeout in seconds (zappa_settings.json ``timeout_seconds``).
    function_timeout: int = 28
    function_memory: int = 1024
    log_retention_days: int = 30

    def __post_init__(self) -> None:
        if not STAGE_PATTERN.match(self.stage):
            raise ValueError(
                f"Stage {self.stage!r} must be 1-12 lowercase letters/digits, starting with a "
                "letter (it names AWS resources)."
            )

    @property
    def prefix(self) -> str:
        """``nimbus-<stage>``: Zappa's function name and the prefix of every named resource."""
        return f"nimbus-{self.stage}"

    @property
    def declared_types(self) -> list[str]:
        """The detail-types apps declare (what the receivers' rules may wait for)."""
        return [event_type.detail_type for event_type in self.event_types]

    @property
    def groups(self) -> list[str]:
        return sorted({receiver.group for receiver in self.receivers})


def logical_id(*parts: str) -> str:
    """A CloudFormation logical id (alphanumeric) from free-form name parts."""
    words = re.split(r"[^A-Za-z0-9]+", " ".join(parts))
    return "".join(word[:1].upper() + word[1:] for word in words if word)


def collect(stage: str, zappa_stage: Mapping[str, Any] | None = None) -> StackInputs:
    """Read the registries of the running Django project into :class:`StackInputs`."""
    zappa_stage = zappa_stage or {}
    return StackInputs(
        stage=stage,
        function_timeout=int(zappa_stage.get("timeout_seconds", 28)),
        function_memory=int(zappa_stage.get("memory_size", 1024)),
        log_retention_days=30 if stage == "prod" else 14,
        event_types=[
            EventTypeSpec(detail_type=t.detail_type, source=t.source)
            for t in sorted(events.event_types.values(), key=lambda t: t.detail_type)
        ],
        receivers=[
            ReceiverSpec(name=r.name, pattern=dict(r.pattern), group=r.group)
            for r in sorted(events.receivers.values(), key=lambda r: r.name)
        ],
        schedules=[
            ScheduleSpec(name=s.name, expression=s.expression)
            for s in sorted(events.schedules.values(), key=lambda s: s.name)
        ],
        workflows=[
            _workflow_spec(name, definition)
            for name, definition in sorted(workflows.definitions.items())
        ],
        steps=frozenset(workflows.steps),
    )


def _workflow_spec(name: str, definition: Definition) -> WorkflowSpec:
    if definition.asl is None:
        raise ValueError(
            f"Workflow {name!r} ({definition.path}) is not valid ASL: {definition.error}"
        )
    return WorkflowSpec(name=name, definition=dict(definition.asl), path=str(definition.path))
