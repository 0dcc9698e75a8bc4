"""What the stack is generated from: the apps' registries and declarations, read once.

:func:`collect` imports Django (``django.setup()`` must have run) and reads, when present:
``apps.events.registry`` (event types, receivers, schedules), ``apps.workflows.registry`` (ASL
definitions, steps), ``apps.users.password_policy`` and ``apps.push.backends.aws`` (the
connections table). Anything missing leaves an empty registry, so the template still
renders while apps are being built; tests build :class:`StackInputs` directly.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGE_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,11}$")

DEFAULT_PASSWORD_POLICY: dict[str, Any] = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 7,
}
DEFAULT_CONNECTIONS_TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "connection_id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "connection_id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


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
    password_policy: Mapping[str, Any] = field(
        default_factory=lambda: dict(DEFAULT_PASSWORD_POLICY)
    )
    connections_table: Mapping[str, Any] = field(
        default_factory=lambda: dict(DEFAULT_CONNECTIONS_TABLE)
    )
    connections_ttl_attribute: str = "expires_at"
    #: ``(asl, function_arn) -> asl`` turning step Tasks into Lambda invocations; the
    #: workflows app's own converter when present (infra.parts.workflows otherwise).
    to_state_machine: Callable[[dict[str, Any], str], dict[str, Any]] | None = None
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


def aws_name(name: str) -> str:
    """The part of an AWS name derived from a registry name (as apps.events.registry does)."""
    return re.sub(r"[^a-z0-9-]", "-", name.lower())


def logical_id(*parts: str) -> str:
    """A CloudFormation logical id (alphanumeric) from free-form name parts."""
    words = re.split(r"[^A-Za-z0-9]+", " ".join(parts))
    return "".join(word[:1].upper() + word[1:] for word in words if word)


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def collect(stage: str, zappa_stage: Mapping[str, Any] | None = None) -> StackInputs:
    """Read the registries of the running Django project into :class:`StackInputs`."""
    zappa_stage = zappa_stage or {}
    inputs = StackInputs(
        stage=stage,
        function_timeout=int(zappa_stage.get("timeout_seconds", 28)),
        function_memory=int(zappa_stage.get("memory_size", 1024)),
        log_retention_days=30 if stage == "prod" else 14,
    )
    if events := _optional("apps.events.registry"):
        inputs.event_types = [
            EventTypeSpec(detail_type=t.detail_type, source=t.source)
            for t in sorted(
                getattr(events, "event_types", {}).values(), key=lambda t: t.detail_type
            )
        ]
        inputs.receivers = [
            ReceiverSpec(name=r.name, pattern=dict(r.pattern), group=r.group)
            for r in sorted(getattr(events, "receivers", {}).values(), key=lambda r: r.name)
        ]
        inputs.schedules = [
            ScheduleSpec(name=s.name, expression=s.expression)
            for s in sorted(getattr(events, "schedules", {}).values(), key=lambda s: s.name)
        ]
    if workflows := _optional("apps.workflows.registry"):
        inputs.workflows = [
            _workflow_spec(name, value)
            for name, value in sorted(getattr(workflows, "definitions", {}).items())
        ]
        inputs.steps = frozenset(getattr(workflows, "steps", {}))
    if converter := _optional("apps.workflows.engine.aws"):
        inputs.to_state_machine = getattr(converter, "to_state_machine", None)
    if users := _optional("apps.users.password_policy"):
        inputs.password_policy = dict(users.PASSWORD_POLICY)
    if push := _optional("apps.push.backends.aws"):
        inputs.connections_table = dict(push.CONNECTIONS_TABLE_SCHEMA)
        inputs.connections_ttl_attribute = str(push.TTL_ATTRIBUTE)
    return inputs


def _workflow_spec(name: str, value: Any) -> WorkflowSpec:
    """Accept a parsed definition, a (definition, path) pair, or an object carrying both."""
    definition: Any
    path: Any = ""
    if isinstance(value, Mapping) and "States" in value:
        definition = value
    elif isinstance(value, tuple):
        definition, path = value
    else:
        definition = next(
            getattr(value, attr)
            for attr in ("definition", "asl", "document")
            if hasattr(value, attr)
        )
        path = getattr(value, "path", "") or ""
    if definition is None:
        raise ValueError(
            f"Workflow {name!r} ({path}) is not valid ASL: {getattr(value, 'error', '')}"
        )
    if isinstance(definition, str | Path):
        definition = json.loads(Path(definition).read_text())
    if not isinstance(definition, Mapping):
        definition = getattr(definition, "raw", definition)
    return WorkflowSpec(name=name, definition=dict(definition), path=str(path))
