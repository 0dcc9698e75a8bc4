"""Deploy smoke test: the stack, then `zappa deploy/update/undeploy` of the package, on moto.

A ``moto_server`` (ThreadedMotoServer on a free 127.0.0.1 port) stands in for AWS:

1. ``infra`` creates the stack through a change set, as ``manage.py infra deploy`` does,
   with what moto models of it: moto's CloudFormation skips Cognito, API Gateway v2,
   CloudWatch alarms/dashboards, CloudFront, ACM, Route 53, Secrets Manager and the
   bucket/queue/topic policies, so those are left out and references to them become
   placeholders (:func:`moto_subset`).
2. ``zappa deploy dev`` uploads the package built by ``make package`` and makes the
   function (with the stack's role) and its REST API.
3. ``infra deploy`` again finds the function and the API: ``FunctionReady=true`` adds the
   SQS event source mappings; the outputs become the Zappa overlay's environment.
4. ``zappa update dev`` with that overlay: the function's environment now holds them.
5. ``zappa undeploy dev`` removes the function and the API.

Where moto differs from AWS, the test adapts, never Nimbus:

* moto has no ``ListFunctionUrlConfigs``, which ``zappa update`` calls to delete a function
  URL Nimbus never creates: Zappa's ``delete_lambda_function_url`` is shimmed to a no-op
  (:func:`zappa_shims`). The other known gap, the 200-for-201 answer in Zappa's Cognito
  trigger update, is not reached: the stack, not Zappa, wires Cognito's triggers.
* moto fills a stack's outputs only on CreateStack/UpdateStack, not after a change set, so
  the test re-submits the template once through UpdateStack before reading them;
* moto's server answers ListEventSourceMappings with nothing, so the mappings are read by
  the ids the stack reports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.deploy import (
    automatic_parameters,
    change_set,
    environment,
    execute,
    outputs,
    write_zappa_overlay,
)
from infra.inputs import collect
from infra.template import build as build_stack
from tests import support
from tests.rehearsal.world import moto_subset

# Database-independent: run once, in the SQLite pass.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with support.moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """A boto3 session (and the environment Zappa's own sessions read) pointing at moto."""
    import boto3

    for key, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "MOTO_PORT": moto_endpoint.rsplit(":", 1)[1],
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    return boto3.Session(region_name="us-east-1")


@pytest.fixture
def zappa_shims(monkeypatch):
    """The call moto does not have (see the module docstring)."""
    from zappa.core import Zappa

    monkeypatch.setattr(Zappa, "delete_lambda_function_url", lambda self, function_arn: None)


def _zappa(*argv: str) -> None:
    from zappa.cli import ZappaCLI

    code: Any = 0
    try:
        ZappaCLI().handle(list(argv))
    except SystemExit as exc:
        code = exc.code
    assert code in (0, None), f"zappa {' '.join(argv)} exited {code}"


def _deploy_stack(session: Any, template: dict[str, Any]) -> dict[str, str]:
    parameters = automatic_parameters(session, "dev")
    arn, changes = change_set(session, "dev", template, parameters)
    assert arn is not None
    if parameters["FunctionReady"] == "false":
        assert "FunctionRole" in {c["ResourceChange"]["LogicalResourceId"] for c in changes}
    status = execute(session, "dev", arn, lambda line: None, poll=0.2)
    assert status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), status
    return parameters


def _refresh_moto_outputs(
    session: Any, template: dict[str, Any], parameters: dict[str, str]
) -> None:
    session.client("cloudformation").update_stack(
        StackName="nimbus-dev-infra",
        TemplateBody=json.dumps({**template, "Description": "outputs"}),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )


def test_stack_then_zappa_deploy_update_undeploy(aws, zappa_shims, package, tmp_path, monkeypatch):
    stack = build_stack(collect("dev"))
    template = moto_subset(json.loads(stack.template.to_json()))

    first = _deploy_stack(aws, template)
    assert first["FunctionReady"] == "false"
    iam = aws.client("iam")
    role_arn = iam.get_role(RoleName="nimbus-dev-function")["Role"]["Arn"]
    sqs = aws.client("sqs")
    files_queue = sqs.get_queue_url(QueueName="nimbus-dev-tasks")["QueueUrl"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=files_queue, AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
    )
    assert redrive["deadLetterTargetArn"].endswith(":nimbus-dev-tasks-dlq")
    groups = aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/nimbus-dev")
    assert groups["logGroups"][0]["retentionInDays"] == 14

    aws.client("s3").create_bucket(Bucket="nimbus-dev-deployments")
    settings_file = tmp_path / "zappa_settings.json"
    settings_file.write_text((REPO / "zappa_settings.json").read_text())
    monkeypatch.chdir(REPO)
    _zappa("deploy", "dev", "-s", str(settings_file), "-z", str(package.path))
    function = aws.client("lambda").get_function(FunctionName="nimbus-dev")["Configuration"]
    assert function["Role"] == role_arn
    assert function["Handler"] == "project.entrypoints.lambda_handler"
    assert function["Timeout"] < 29
    assert function["TracingConfig"]["Mode"] == "Active"

    second = _deploy_stack(aws, template)
    assert second["FunctionReady"] == "true"
    assert second["ApiOriginDomain"].endswith(".execute-api.us-east-1.amazonaws.com")
    # (moto's server answers ListEventSourceMappings with nothing; read them one by one.)
    resources = aws.client("cloudformation").list_stack_resources(StackName="nimbus-dev-infra")
    mapping_ids = [
        r["PhysicalResourceId"]
        for r in resources["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::Lambda::EventSourceMapping"
    ]
    mappings = [aws.client("lambda").get_event_source_mapping(UUID=u) for u in mapping_ids]
    sources = {m["EventSourceArn"].rsplit(":", 1)[1] for m in mappings}
    assert {"nimbus-dev-tasks", "nimbus-dev-files"} <= sources
    for esm in mappings:
        assert esm["FunctionArn"].endswith(":function:nimbus-dev")
        assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # moto fills a stack's outputs on CreateStack/UpdateStack only, never after a change
    # set; re-submitting the same template (new description) through UpdateStack makes it.
    _refresh_moto_outputs(aws, template, second)

    mapping = {var: key for var, (key, _) in stack.environment.items()}
    stack_outputs = outputs(aws, "dev")
    env = environment(stack_outputs, mapping)
    assert env["NIMBUS_STAGE"] == "dev"
    assert env["TASKS_QUEUE_URL"].endswith("/nimbus-dev-tasks")
    overlay = write_zappa_overlay(
        settings_file, "dev", env, stack_outputs.get("FunctionRoleArn"), tmp_path / "overlay.json"
    )
    _zappa("update", "dev", "-s", str(overlay), "-z", str(package.path))
    configured = aws.client("lambda").get_function_configuration(FunctionName="nimbus-dev")
    variables = configured["Environment"]["Variables"]
    assert variables["NIMBUS_UPLOADS_BUCKET"] == env["NIMBUS_UPLOADS_BUCKET"]
    assert variables["NIMBUS_SECRETS_ARN"] == env["NIMBUS_SECRETS_ARN"]
    assert "SECRET_KEY" not in variables  # secrets stay in Secrets Manager

    _zappa("undeploy", "dev", "-s", str(overlay), "--yes")
    functions = aws.client("lambda").list_functions()["Functions"]
    assert "nimbus-dev" not in {f["FunctionName"] for f in functions}
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
