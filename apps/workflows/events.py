"""Event types of the workflows app.

Step Functions sends ``Step Functions Execution Status Change`` (source ``aws.states``)
to the account's default bus for every status change of a Standard execution. Declared
here, it is what the infra stack forwards from the default bus to the Nimbus bus (for
this stage's state machines only), where :func:`apps.workflows.handlers.execution_status`
receives it — the way S3's ``Object Created`` reaches the files app. The local engine
updates its rows itself and never publishes it.
"""

from __future__ import annotations

from apps.events.registry import declare_event

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
STATES_SOURCE = "aws.states"
#: The statuses Step Functions reports in this event (redrive starts a new RUNNING).
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")

_nullable_string = {"type": ["string", "null"]}
_nullable_millis = {"type": ["integer", "null"], "minimum": 0}

EXECUTION_STATUS_CHANGED = declare_event(
    EXECUTION_STATUS_CHANGE,
    source=STATES_SOURCE,
    description="A Step Functions execution changed status (Step Functions -> EventBridge).",
    schema={
        "type": "object",
        "required": ["executionArn", "stateMachineArn", "status"],
        "properties": {
            "executionArn": {"type": "string", "minLength": 1},
            "stateMachineArn": {"type": "string", "minLength": 1},
            "name": {"type": "string"},
            "status": {"enum": list(STATUSES)},
            "startDate": _nullable_millis,
            "stopDate": _nullable_millis,
            "input": _nullable_string,
            "output": _nullable_string,
            "inputDetails": {"type": ["object", "null"]},
            "outputDetails": {"type": ["object", "null"]},
            "error": _nullable_string,
            "cause": _nullable_string,
            "redriveCount": {"type": "integer", "minimum": 0},
            "redriveDate": _nullable_millis,
            "redriveStatus": _nullable_string,
            "redriveStatusReason": _nullable_string,
            "stateMachineVersionArn": _nullable_string,
            "stateMachineAliasArn": _nullable_string,
        },
    },
)
