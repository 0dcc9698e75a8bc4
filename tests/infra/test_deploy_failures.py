"""`manage.py infra deploy` when a change set fails, against moto in server mode: what is
left in CloudFormation afterwards (nothing of the failed attempt), and a one-line reason.

moto does not model either failure the way AWS does, so each test makes moto fail the
nearest way it can, and the test says which:

* to *create*: AWS answers ``DescribeChangeSet`` with ``Status: FAILED`` and a
  ``StatusReason`` (the stack it made for the change set stands in ``REVIEW_IN_PROGRESS``).
  moto accepts every template, so an ``after-call`` hook on the session rewrites its
  answer into AWS's, for a template that AWS rejects (a ``Fn::GetAtt`` of a missing
  resource). The stack and the change set are moto's own.
* to *execute*: AWS rolls the stack back (``ROLLBACK_COMPLETE``); moto raises the
  resource's error from ``ExecuteChangeSet`` and leaves the stack in
  ``REVIEW_IN_PROGRESS`` with what it had created so far. The failure is real: the
  function's role name is already taken.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from infra.inputs import collect
from infra.template import build
from project.management.commands.infra import Command
from tests.infra import test_deploy_moto
from tests.infra.test_deploy_moto import moto_subset

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

REPO = Path(__file__).resolve().parents[2]
STACK = "nimbus-dev-infra"
# moto on a loopback port and a session pointing at it, as in the deploy smoke test.
moto_endpoint = test_deploy_moto.moto_endpoint
aws = test_deploy_moto.aws


@pytest.fixture
def checkout(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    (tmp_path / "zappa_settings.json").write_text((REPO / "zappa_settings.json").read_text())
    return tmp_path


@pytest.fixture(scope="module")
def dev_template() -> dict[str, Any]:
    return moto_subset(json.loads(build(collect("dev")).template.to_json()))


@pytest.fixture
def moto_template(aws, monkeypatch, dev_template):
    """The command deploys the part of the stack moto models (see test_deploy_moto), in a
    network of its own: moto cannot delete a VPC its stack made once the stack's other
    resources used it, and these tests are about what a failed attempt leaves."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(("us-east-1a", "us-east-1b"))
    ]
    template = json.loads(json.dumps(dev_template))
    template["Parameters"]["VpcId"]["Default"] = vpc
    # (moto does not split a CommaDelimitedList's default; it takes a list as the value)
    template["Parameters"]["SubnetIds"]["Default"] = subnets
    monkeypatch.setattr(Command, "_template", lambda self, stage: template)
    return template


def _left(session: Any) -> tuple[list[str], list[str]]:
    """Stacks named nimbus-dev-infra that are not deleted, and change sets still on them."""
    cf = session.client("cloudformation")
    live = [
        s
        for s in cf.list_stacks()["StackSummaries"]
        if s["StackName"] == STACK and s["StackStatus"] != "DELETE_COMPLETE"
    ]
    ids = {s["StackId"] for s in live}
    change_sets = [
        c["ChangeSetName"]
        for stack_id in ids
        for c in cf.list_change_sets(StackName=stack_id)["Summaries"]
        if c["StackId"] == stack_id  # (moto lists every stack's change sets)
    ]
    return [s["StackStatus"] for s in live], change_sets


def _failing_describe(session: Any, reason: str) -> None:
    def as_aws_answers(parsed: dict[str, Any], **_: Any) -> None:
        parsed.update(Status="FAILED", ExecutionStatus="UNAVAILABLE", StatusReason=reason)

    session.events.register("after-call.cloudformation.DescribeChangeSet", as_aws_answers)


def test_a_change_set_that_fails_to_create_leaves_no_change_set_and_no_empty_stack(
    aws, checkout, monkeypatch, dev_template
):
    reason = "Template error: instance of Fn::GetAtt references undefined resource Nope"
    broken = json.loads(json.dumps(dev_template))
    broken["Outputs"]["Broken"] = {"Value": {"Fn::GetAtt": ["Nope", "Arn"]}}
    monkeypatch.setattr(Command, "_template", lambda self, stage: broken)
    _failing_describe(aws, reason)
    monkeypatch.setattr(Command, "_session", lambda self: aws)

    with pytest.raises(CommandError) as failed:
        call_command("infra", "deploy", "dev", "--yes")

    assert str(failed.value) == f"The change set failed: {reason}"
    assert _left(aws) == ([], [])


def test_a_change_set_that_fails_to_execute_leaves_nothing_of_the_attempt(
    aws, checkout, moto_template
):
    iam = aws.client("iam")
    iam.create_role(RoleName="nimbus-dev-function", AssumeRolePolicyDocument="{}")
    try:
        with pytest.raises(CommandError) as failed:
            call_command("infra", "deploy", "dev", "--yes")
        message = str(failed.value)
        assert message.startswith(f"{STACK}: the change set failed to execute: ")
        assert "nimbus-dev-function already exists" in message
        assert message.endswith("(the empty stack was deleted)")
        assert "\n" not in message
        assert _left(aws) == ([], [])
        # What moto had made before the role failed went with the stack.
        queues = aws.client("sqs").list_queues(QueueNamePrefix="nimbus-dev-").get("QueueUrls", [])
        assert queues == []
    finally:
        iam.delete_role(RoleName="nimbus-dev-function")


def test_a_failed_update_keeps_the_stack_and_leaves_no_change_set(aws, checkout, moto_template):
    cf = aws.client("cloudformation")
    small = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    cf.create_stack(StackName=STACK, TemplateBody=json.dumps(small))
    iam = aws.client("iam")
    iam.create_role(RoleName="nimbus-dev-function", AssumeRolePolicyDocument="{}")
    try:
        with pytest.raises(CommandError, match="already exists"):
            call_command("infra", "deploy", "dev", "--yes")
        statuses, change_sets = _left(aws)
        assert change_sets == []
        assert len(statuses) == 1  # the stack that was there before stays
    finally:
        iam.delete_role(RoleName="nimbus-dev-function")
        cf.delete_stack(StackName=STACK)
