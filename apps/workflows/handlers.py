"""Event receivers of the workflows app.

On AWS, ``Step Functions Execution Status Change`` events (``apps/workflows/events.py``)
reach :func:`execution_status` through the ``workflows`` group's queue: the execution's
row takes the status, stop date, output, error and cause Step Functions reports, so the
database knows RUNNING -> SUCCEEDED/FAILED/TIMED_OUT/ABORTED without polling, and the
change reaches the apps through ``execution_transition`` as a local transition does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from apps.events.envelope import EventEnvelope
from apps.events.registry import receiver
from apps.workflows.events import EXECUTION_STATUS_CHANGE, STATES_SOURCE
from apps.workflows.services import execution_status_record


@receiver(
    {"source": [STATES_SOURCE], "detail-type": [EXECUTION_STATUS_CHANGE]},
    name="workflows.execution_status",
)
def execution_status(event: EventEnvelope) -> None:
    """Step Functions reported a status change: record it on the execution's row."""
    detail = event.detail
    stopped = _from_millis(detail.get("stopDate"))
    restarted = _from_millis(detail.get("redriveDate")) or _from_millis(detail.get("startDate"))
    execution_status_record(
        arn=str(detail.get("executionArn") or ""),
        status=str(detail.get("status") or ""),
        redrive_count=int(detail.get("redriveCount") or 0),
        changed_at=stopped or restarted or parse_datetime(event.time) or datetime.now(UTC),
        # Step Functions leaves out an output over 256 KiB (outputDetails.included false).
        output=_json(detail.get("output")),
        error=str(detail.get("error") or ""),
        cause=str(detail.get("cause") or ""),
    )


def _from_millis(value: Any) -> datetime | None:
    """Step Functions' event dates are epoch milliseconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value
