"""The template under construction and the references its parts share.

Each part of the stack (``infra/parts/*.py``) adds resources to :class:`Stack` and records
what other parts need — queues for the IAM policy, DLQs for alarms, state machines for the
dashboard. :mod:`infra.monitoring` (operations) receives the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from troposphere import AWSObject, GetAtt, Output, Ref, Sub, Template

from infra.inputs import StackInputs

#: The alias every trigger invokes: the one Zappa maintains when ``snap_start`` is on
#: (``zappa.core.SNAPSTART_LAMBDA_ALIAS``). Each ``zappa deploy``/``update`` publishes a
#: version and moves it there once the version is active (its snapshot taken), and
#: ``zappa rollback`` moves it back, so triggers follow every release and rollback.
#: SnapStart applies to published versions only: a trigger on ``$LATEST`` never uses it.
FUNCTION_ALIAS = "snapstart"


@dataclass
class Stack:
    inputs: StackInputs
    template: Template
    #: logical id -> queue resource (group queues, which the function consumes).
    queues: dict[str, AWSObject] = field(default_factory=dict)
    #: logical id -> dead-letter queue resource (every one gets an alarm).
    dead_letter_queues: dict[str, AWSObject] = field(default_factory=dict)
    #: logical id -> EventBridge rule.
    rules: dict[str, AWSObject] = field(default_factory=dict)
    #: workflow name -> state machine resource.
    state_machines: dict[str, AWSObject] = field(default_factory=dict)
    #: environment variable name -> (output logical id, value) for the function.
    environment: dict[str, tuple[str, Any]] = field(default_factory=dict)
    #: named resources parts look up (e.g. "OperatorsTopic", "Key", "UploadsBucket").
    named: dict[str, AWSObject] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return self.inputs.prefix

    def add(self, resource: AWSObject, *, name: str | None = None) -> Any:
        self.template.add_resource(resource)
        if name:
            self.named[name] = resource
        return resource

    def ref(self, name: str) -> Ref:
        return Ref(self.named[name])

    def arn(self, name: str) -> GetAtt:
        return GetAtt(self.named[name], "Arn")

    def function_arn(self) -> Sub:
        """The ARN of the function Zappa deploys (``nimbus-<stage>``), known before it exists.

        Unqualified, it means ``$LATEST`` to an invoker: triggers take :meth:`alias_arn`.
        """
        return Sub(
            f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{self.prefix}"
        )

    def alias_arn(self) -> Sub:
        """The ARN of the function's :data:`FUNCTION_ALIAS`, which every trigger invokes."""
        return Sub(
            "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
            f"{self.alias_name()}"
        )

    def alias_name(self) -> str:
        """``nimbus-<stage>:<alias>``: a qualified name (event source mappings, permissions)."""
        return f"{self.prefix}:{FUNCTION_ALIAS}"

    def export_env(self, variable: str, value: Any, description: str = "") -> None:
        """Make ``value`` a stack output named for the environment variable it fills."""
        output_id = "".join(part.capitalize() for part in variable.lower().split("_"))
        self.environment[variable] = (output_id, value)
        self.template.add_output(
            Output(output_id, Value=value, Description=description or f"env {variable}")
        )
