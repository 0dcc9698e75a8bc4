"""`manage.py infra outputs` and `deploy` against a stack held by moto (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from moto import mock_aws

from infra.inputs import collect
from infra.template import build
from tests.infra.test_deploy_moto import moto_subset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    (tmp_path / "zappa_settings.json").write_text((REPO / "zappa_settings.json").read_text())
    return tmp_path


def test_outputs_become_the_zappa_overlay_environment_and_role(checkout, capsys):
    template = moto_subset(json.loads(build(collect("dev")).template.to_json()))
    with mock_aws():
        boto3.client("cloudformation", region_name="us-east-1").create_stack(
            StackName="nimbus-dev-infra",
            TemplateBody=json.dumps(template),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        call_command("infra", "outputs", "dev")
        ec2 = boto3.client("ec2", region_name="us-east-1")
        overlay = json.loads((checkout / "build" / "infra" / "zappa_settings.json").read_text())
        stage = overlay["dev"]
        # The function's subnets and group, as created, with nothing copied by hand.
        vpc = stage["vpc_config"]
        subnets = ec2.describe_subnets(SubnetIds=vpc["SubnetIds"])["Subnets"]
        groups = ec2.describe_security_groups(GroupIds=vpc["SecurityGroupIds"])
    assert len({subnet["AvailabilityZone"] for subnet in subnets}) == 2
    assert not any(subnet["MapPublicIpOnLaunch"] for subnet in subnets)
    (group,) = groups["SecurityGroups"]
    assert group["GroupName"].startswith("nimbus-dev-infra-FunctionSecurityGroup")
    assert group["VpcId"] == subnets[0]["VpcId"]
    env = stage["aws_environment_variables"]
    assert stage["role_arn"] == "arn:aws:iam::123456789012:role/nimbus-dev-function"
    assert env["NIMBUS_STAGE"] == "dev"
    assert env["NIMBUS_PARAMETERS_PATH"] == "/nimbus/dev/"
    assert env["TASKS_QUEUE_URL"].endswith("/123456789012/nimbus-dev-tasks")
    assert "SECRET_KEY" not in env
    assert overlay["prod"] == json.loads((REPO / "zappa_settings.json").read_text())["prod"]
    assert "TASKS_QUEUE_URL=" in capsys.readouterr().out


def test_deploy_refuses_a_malformed_parameter(checkout):
    with mock_aws(), pytest.raises(CommandError, match="KEY=VALUE"):
        call_command("infra", "deploy", "dev", "--yes", "-p", "DomainName")


def _stack_status(cf, name: str = "nimbus-dev-infra") -> str | None:
    stacks = cf.list_stacks()["StackSummaries"]
    live = [s for s in stacks if s["StackName"] == name and s["StackStatus"] != "DELETE_COMPLETE"]
    return str(live[0]["StackStatus"]) if live else None


@pytest.mark.parametrize("answer", ["n", EOFError, KeyboardInterrupt])
def test_a_declined_first_deploy_leaves_no_change_set_and_no_empty_stack(
    checkout, monkeypatch, answer
):
    def reply(prompt: str = "") -> str:
        if isinstance(answer, str):
            return answer
        raise answer

    monkeypatch.setattr("builtins.input", reply)
    with mock_aws():
        cf = boto3.client("cloudformation", region_name="us-east-1")
        with pytest.raises(CommandError, match="Cancelled"):
            call_command("infra", "deploy", "dev")
        assert _stack_status(cf) is None  # the REVIEW_IN_PROGRESS shell went with it


def test_a_declined_update_leaves_the_stack_as_it_was_without_a_change_set(checkout, monkeypatch):
    template = moto_subset(json.loads(build(collect("dev")).template.to_json()))
    monkeypatch.setattr("builtins.input", lambda prompt="": "no")
    with mock_aws():
        cf = boto3.client("cloudformation", region_name="us-east-1")
        cf.create_stack(
            StackName="nimbus-dev-infra",
            TemplateBody=json.dumps(template),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        with pytest.raises(CommandError, match="Cancelled"):
            call_command("infra", "deploy", "dev")
        assert cf.list_change_sets(StackName="nimbus-dev-infra")["Summaries"] == []
        assert _stack_status(cf) == "CREATE_COMPLETE"


def test_an_empty_change_set_is_discarded_and_the_stack_kept():
    from infra.deploy import change_set

    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        cf = session.client("cloudformation")
        cf.create_stack(StackName="nimbus-dev-infra", TemplateBody=json.dumps(template))
        assert change_set(session, "dev", template, {}) == (None, [])
        assert cf.list_change_sets(StackName="nimbus-dev-infra")["Summaries"] == []
        assert _stack_status(cf) == "CREATE_COMPLETE"


def test_unknown_stage_is_refused(checkout):
    with pytest.raises(CommandError, match="Unknown stage 'qa'"):
        call_command("infra", "render", "qa")


@pytest.mark.slow
def test_collectstatic_uploads_hashed_names_and_the_manifest_to_the_static_bucket(checkout):
    template = moto_subset(json.loads(build(collect("dev")).template.to_json()))
    with mock_aws():
        cf = boto3.client("cloudformation", region_name="us-east-1")
        cf.create_stack(
            StackName="nimbus-dev-infra",
            TemplateBody=json.dumps(template),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in cf.describe_stacks(StackName="nimbus-dev-infra")["Stacks"][0]["Outputs"]
        }
        call_command("infra", "collectstatic", "dev")
        s3 = boto3.client("s3", region_name="us-east-1")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=outputs["NimbusStaticBucket"])
        keys = {item["Key"] for page in pages for item in page.get("Contents", [])}
        manifest = json.loads(
            s3.get_object(Bucket=outputs["NimbusStaticBucket"], Key="static/staticfiles.json")[
                "Body"
            ].read()
        )
    hashed = manifest["paths"]["nimbus/site.css"]
    assert hashed != "nimbus/site.css"
    assert f"static/{hashed}" in keys
    assert "static/admin/css/base.css" in keys
