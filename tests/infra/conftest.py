"""Fixtures for the deploy tooling: stack inputs shaped like the apps' registries."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from infra.inputs import EventTypeSpec, ReceiverSpec, ScheduleSpec, StackInputs, WorkflowSpec

REVIEW_ASL: dict[str, Any] = {
    "StartAt": "Inspect",
    "States": {
        "Inspect": {
            "Type": "Task",
            "Resource": "step:files.inspect",
            "ResultPath": "$.inspection",
            "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 2}],
            "Next": "Approve",
        },
        "Approve": {
            "Type": "Task",
            "Resource": "step:files.await_approval.waitForTaskToken",
            "Parameters": {"file_id.$": "$.file_id"},
            "Next": "Fan",
        },
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Notify",
                    "States": {
                        "Notify": {"Type": "Task", "Resource": "step:push.notify", "Next": "Done"},
                        "Done": {"Type": "Succeed", "OutputPath": "$.outcome"},
                    },
                },
                {
                    "StartAt": "Queue",
                    "States": {
                        "Queue": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::sqs:sendMessage",
                            "Parameters": {
                                "QueueUrl": "https://example.invalid/q",
                                "MessageBody.$": "$",
                            },
                            "End": True,
                        }
                    },
                },
            ],
            "End": True,
        },
    },
}


def sample_inputs(stage: str = "dev") -> StackInputs:
    return StackInputs(
        stage=stage,
        event_types=[
            EventTypeSpec("files.FileUploaded", "nimbus.files"),
            EventTypeSpec("Object Created", "aws.s3"),
            EventTypeSpec("Step Functions Execution Status Change", "aws.states"),
        ],
        receivers=[
            ReceiverSpec("files.inspect_upload", {"detail-type": ["files.FileUploaded"]}, "files"),
            ReceiverSpec(
                "push.file_status",
                {"source": ["nimbus.files"], "detail": {"status": [{"anything-but": "pending"}]}},
                "push",
            ),
            ReceiverSpec(
                "workflows.execution_status",
                {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                },
                "workflows",
            ),
        ],
        schedules=[ScheduleSpec("events.sweep_outbox", "rate(5 minutes)")],
        workflows=[WorkflowSpec("file_review", json.loads(json.dumps(REVIEW_ASL)))],
        steps=frozenset({"files.inspect", "files.await_approval", "push.notify"}),
        log_retention_days=30 if stage == "prod" else 14,
    )


@pytest.fixture
def inputs() -> StackInputs:
    return sample_inputs()


@pytest.fixture(scope="session")
def package(tmp_path_factory):
    """`make package` for the dev stage, built once per session (one to several minutes).

    ``NIMBUS_PACKAGE_ZIP=build/nimbus-dev.zip`` reuses a package built by ``make package``
    instead (while iterating; CI builds it fresh).
    """
    from infra.package import PackageReport, build

    if prebuilt := os.environ.get("NIMBUS_PACKAGE_ZIP"):
        return PackageReport.of(Path(prebuilt).resolve())
    return build("dev", tmp_path_factory.mktemp("package") / "nimbus-dev.zip")
