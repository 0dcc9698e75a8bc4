"""Every trigger invokes the function's SnapStart alias, never ``$LATEST``.

SnapStart applies to published versions only; an unqualified function ARN (or name) in a
trigger means ``$LATEST``, which never restores from the snapshot. The stack's triggers
(event source mappings, schedule rules and their permissions, Cognito's triggers, the
WebSocket integration, the state machines' Tasks) and Zappa's own REST API integration
must all name ``nimbus-<stage>:snapstart``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.context import FUNCTION_ALIAS
from infra.inputs import collect
from infra.template import render
from tests.infra.conftest import sample_inputs

REPO = Path(__file__).resolve().parents[2]
#: The function, qualified or not, in an ARN, a Sub template or a FunctionName.
FUNCTION_REFERENCE = re.compile(r"function:(nimbus-[a-z0-9]+)(:[A-Za-z0-9$_-]+)?")


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        return [hit for key, value in node.items() for hit in _strings(value, f"{path}/{key}")]
    if isinstance(node, list):
        return [hit for i, value in enumerate(node) for hit in _strings(value, f"{path}/{i}")]
    return [(path, node)] if isinstance(node, str) else []


def _function_references(template: dict[str, Any], stage: str) -> list[tuple[str, str]]:
    """(path, qualifier) of every place the template names the function."""
    found = []
    for path, text in _strings(template["Resources"]):
        for match in FUNCTION_REFERENCE.finditer(text):
            found.append((path, match.group(2) or "$LATEST"))
        if path.endswith("/FunctionName") and text.startswith(f"nimbus-{stage}"):
            found.append((path, ":" + text.split(":", 1)[1] if ":" in text else "$LATEST"))
    return found


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_no_trigger_of_the_rendered_stack_targets_latest(stage):
    template = render(collect(stage))
    references = _function_references(template, stage)
    unqualified = [path for path, qualifier in references if qualifier != f":{FUNCTION_ALIAS}"]
    assert unqualified == []
    # ... and every kind of trigger is among them, so none is missed by the pattern.
    kinds = {path.split("/")[1] for path, _ in references}
    resources = template["Resources"]
    expected = {
        name
        for name, resource in resources.items()
        if resource["Type"]
        in (
            "AWS::Lambda::EventSourceMapping",
            "AWS::Lambda::Permission",
            "AWS::StepFunctions::StateMachine",
            "AWS::ApiGatewayV2::Integration",
            "AWS::Cognito::UserPool",
        )
        or (
            resource["Type"] == "AWS::Events::Rule"
            and "ScheduleExpression" in resource["Properties"]
        )
    }
    assert expected <= kinds


def test_the_sample_stacks_triggers_each_name_the_alias(inputs):
    template = render(sample_inputs())
    resources = template["Resources"]
    alias = f"nimbus-dev:{FUNCTION_ALIAS}"
    for name in ("MappingFiles", "MappingTasks", "MappingPush", "MappingWorkflows"):
        assert resources[name]["Properties"]["FunctionName"] == alias
    schedule = resources["ScheduleEventsSweepOutbox"]["Properties"]["Targets"][0]["Arn"]
    assert schedule["Fn::Sub"].endswith(f":function:{alias}")
    assert resources["ScheduleEventsSweepOutboxInvoke"]["Properties"]["FunctionName"] == alias
    assert resources["UserPoolInvoke"]["Properties"]["FunctionName"] == alias
    triggers = resources["UserPool"]["Properties"]["LambdaConfig"]["Fn::If"][1]
    assert {trigger: arn["Fn::Sub"].rsplit(":", 2)[-2:] for trigger, arn in triggers.items()} == {
        trigger: ["nimbus-dev", FUNCTION_ALIAS] for trigger in triggers
    }
    uri = resources["WebSocketIntegration"]["Properties"]["IntegrationUri"]["Fn::Sub"]
    assert uri[1]["Function"]["Fn::Sub"].endswith(f":function:{alias}")
    machine = resources["WorkflowFileReview"]["Properties"]
    assert machine["DefinitionSubstitutions"]["FunctionArn"]["Fn::Sub"].endswith(alias)
    definition = json.dumps(machine["Definition"])
    # Every Nimbus step invokes ${FunctionArn}; no Task names the function another way.
    assert definition.count("${FunctionArn}") == 3
    assert "function:" not in definition


def test_the_function_may_be_invoked_only_through_the_alias_by_what_assumes_its_role(inputs):
    role = render(inputs)["Resources"]["FunctionRole"]["Properties"]
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["InvokeAlias"]["Resource"]["Fn::Sub"].endswith(
        f":function:nimbus-dev:{FUNCTION_ALIAS}"
    )
    principals = [s["Principal"]["Service"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
    # Zappa's REST API integration uses this role as its credentials.
    assert principals == ["lambda.amazonaws.com", "apigateway.amazonaws.com"]


def test_zappas_rest_api_integration_invokes_the_alias(monkeypatch, tmp_path):
    """Zappa builds its REST API from zappa_settings.json: with ``snap_start`` on, its
    integration invokes the alias Zappa moves on every deploy, update and rollback."""
    from moto import mock_aws
    from zappa.cli import ZappaCLI
    from zappa.core import SNAPSTART_LAMBDA_ALIAS

    assert FUNCTION_ALIAS == SNAPSTART_LAMBDA_ALIAS
    monkeypatch.chdir(REPO)
    with mock_aws():
        cli = ZappaCLI()
        cli.api_stage = "dev"
        cli.load_settings(str(REPO / "zappa_settings.json"))
        assert cli.snap_start == "PublishedVersions"
        assert cli.apigateway_lambda_qualifier == FUNCTION_ALIAS
        cli.zappa.credentials_arn = "arn:aws:iam::123456789012:role/nimbus-dev-function"
        zappa_template = cli.zappa.create_stack_template(
            lambda_arn="arn:aws:lambda:us-east-1:123456789012:function:nimbus-dev",
            lambda_name=cli.lambda_name,
            api_key_required=False,
            iam_authorization=False,
            authorizer=None,
            endpoint_configuration=cli.endpoint_configuration,
            stage_name="dev",
            lambda_qualifier=cli.apigateway_lambda_qualifier,
        )
    rendered = json.loads(zappa_template.to_json())
    uris = [
        r["Properties"]["Integration"]["Uri"]
        for r in rendered["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::Method"
    ]
    assert uris
    assert all(uri.endswith(f":function:nimbus-dev:{FUNCTION_ALIAS}/invocations") for uri in uris)
