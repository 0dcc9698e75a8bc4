"""CloudFormation operations for ``manage.py infra``: change sets, deploys, outputs.

Every call takes an explicit boto3 session, so tests point it at moto and nothing reads a
profile by accident. Deploys go through a change set: ``diff`` creates and describes one
and deletes it; ``deploy`` creates, prints, executes and waits, printing each failed
resource's reason when the stack rolls back (or deletes it when the operator declines).

A change set that cannot be created or executed raises :class:`DeployError` with a
one-line reason, after cleaning up what it left: the change set itself and, when the stack
only existed for it, the empty stack (``REVIEW_IN_PROGRESS``, or ``ROLLBACK_COMPLETE``
after a first create rolled back, a state CloudFormation only lets you delete). An update
that rolls back keeps its stack, as it was before the update.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
_DONE = ("_COMPLETE", "_FAILED")
# Collateral events of a failed deploy; the resource that failed first says why.
_CANCELLED = ("Resource creation cancelled", "Resource update cancelled")


class DeployError(RuntimeError):
    """A change set that could not be created or executed; ``str()`` is the one-line reason."""


def stack_name(stage: str) -> str:
    return f"nimbus-{stage}-infra"


def _exists(cf: Any, name: str) -> bool:
    try:
        stacks = cf.describe_stacks(StackName=name)["Stacks"]
    except cf.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return False
        raise
    return bool(stacks) and stacks[0]["StackStatus"] != "REVIEW_IN_PROGRESS"


def automatic_parameters(session: Any, stage: str) -> dict[str, str]:
    """``FunctionReady`` and the REST API's host, looked up from what Zappa deployed."""
    function = f"nimbus-{stage}"
    found: dict[str, str] = {"FunctionReady": "false"}
    try:
        session.client("lambda").get_function(FunctionName=function)
        found["FunctionReady"] = "true"
    except Exception:  # noqa: S110 - any failure means "not deployed yet"
        pass
    apis = session.client("apigateway").get_rest_apis(limit=500).get("items", [])
    for api in apis:
        if api.get("name") == function:
            found["ApiOriginDomain"] = (
                f"{api['id']}.execute-api.{session.region_name}.amazonaws.com"
            )
    return found


def change_set(
    session: Any,
    stage: str,
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
) -> tuple[str | None, list[dict[str, Any]]]:
    """Create a change set and wait for it; returns its ARN and its changes.

    The ARN is None when CloudFormation found nothing to change (the empty change set is
    deleted).
    """
    cf = session.client("cloudformation")
    name = stack_name(stage)
    kind = "UPDATE" if _exists(cf, name) else "CREATE"
    try:
        arn = cf.create_change_set(
            StackName=name,
            ChangeSetName=f"nimbus-{uuid.uuid4().hex[:12]}",
            ChangeSetType=kind,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=CAPABILITIES,
            Tags=[{"Key": "nimbus:stage", "Value": stage}],
        )["Id"]
    except (ClientError, BotoCoreError) as exc:
        if "No updates are to be performed" in str(exc):  # said at once rather than FAILED
            return None, []
        _drop_empty_stack(cf, name)
        raise DeployError(f"CloudFormation refused the change set: {_one_line(exc)}") from exc
    while True:
        described = cf.describe_change_set(ChangeSetName=arn, StackName=name)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            break
        time.sleep(2)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        discard_change_set(session, stage, arn)
        if "didn't contain changes" in reason or "No updates" in reason:
            return None, []
        raise DeployError(f"The change set failed: {_one_line(reason or 'no reason given')}")
    return arn, list(described.get("Changes", []))


def discard_change_set(session: Any, stage: str, arn: str) -> bool:
    """Delete a change set (if it is still there); a stack that only existed to hold it
    goes too (returns whether it did)."""
    cf = session.client("cloudformation")
    name = stack_name(stage)
    try:
        cf.delete_change_set(ChangeSetName=arn, StackName=name)
    except ClientError as exc:
        # CloudFormation drops a change set once it is executed.
        if not _missing(exc):
            raise
    return _drop_empty_stack(cf, name)


def _drop_empty_stack(cf: Any, name: str, *, rolled_back_create: bool = False) -> bool:
    """Delete the stack when it holds nothing: ``REVIEW_IN_PROGRESS`` (a stack made for a
    change set, never executed) with no other change set waiting on it, or, when
    ``rolled_back_create``, ``ROLLBACK_COMPLETE`` (a first create undone). Returns whether
    it did."""
    try:
        stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if _missing(exc):
            return False
        raise
    status = stack["StackStatus"]
    if status == "REVIEW_IN_PROGRESS":
        waiting = [
            summary
            for summary in cf.list_change_sets(StackName=name).get("Summaries", [])
            if summary.get("StackId") == stack["StackId"]
        ]
        if waiting:
            return False
    elif not (rolled_back_create and status == "ROLLBACK_COMPLETE"):
        return False
    cf.delete_stack(StackName=stack["StackId"])
    cf.get_waiter("stack_delete_complete").wait(
        StackName=stack["StackId"], WaiterConfig={"Delay": 2, "MaxAttempts": 300}
    )
    return True


def _missing(exc: ClientError) -> bool:
    message = str(exc)
    return "does not exist" in message or "ChangeSetNotFound" in message


def _one_line(reason: object) -> str:
    if isinstance(reason, ClientError):
        text = reason.response.get("Error", {}).get("Message") or str(reason)
    else:
        text = str(reason)
    return " ".join(text.split())[:500]


def summarize(changes: list[dict[str, Any]]) -> list[str]:
    lines = []
    for change in changes:
        rc = change.get("ResourceChange", {})
        replace = " (replacement)" if rc.get("Replacement") == "True" else ""
        lines.append(
            f"{rc.get('Action', '?'):<7} {rc.get('LogicalResourceId')} "
            f"[{rc.get('ResourceType')}]{replace}"
        )
    return lines


def execute(
    session: Any, stage: str, arn: str, echo: Callable[[str], None], poll: float = 5.0
) -> str:
    """Execute a change set and print stack events until the stack settles.

    Returns the final status when the stack got there; raises :class:`DeployError` naming
    the failed resources' reasons when it did not (after :func:`discard_change_set`, and
    deleting a first create's rolled-back, empty stack).
    """
    cf = session.client("cloudformation")
    name = stack_name(stage)
    created = cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == (
        "REVIEW_IN_PROGRESS"
    )
    seen: set[str] = {e["EventId"] for e in _events(cf, name)}
    failures: list[str] = []
    try:
        cf.execute_change_set(ChangeSetName=arn, StackName=name)
    except (ClientError, BotoCoreError) as exc:
        dropped = discard_change_set(session, stage, arn)
        raise DeployError(
            f"{name}: the change set failed to execute: {_one_line(exc)}"
            + (" (the empty stack was deleted)" if dropped else "")
        ) from exc
    while True:
        time.sleep(poll)
        for event in reversed(_events(cf, name)):
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            reason = event.get("ResourceStatusReason")
            failed = bool(reason) and "FAILED" in event["ResourceStatus"]
            echo(
                f"{event['ResourceStatus']:<28} {event['LogicalResourceId']}"
                + (f": {reason}" if failed else "")
            )
            if failed and event["LogicalResourceId"] != name and reason not in _CANCELLED:
                failures.append(f"{event['LogicalResourceId']}: {reason}")
        stack = cf.describe_stacks(StackName=name)["Stacks"][0]
        status = str(stack["StackStatus"])
        if status.endswith(_DONE) and "IN_PROGRESS" not in status:
            break
    if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
        return status
    dropped = discard_change_set(session, stage, arn) or (
        created and _drop_empty_stack(cf, name, rolled_back_create=True)
    )
    why = "; ".join(failures) or stack.get("StackStatusReason") or "no reason given"
    raise DeployError(
        f"{name} ended {status}: {_one_line(why)}"
        + (" (the empty stack was deleted)" if dropped else "")
    )


def _events(cf: Any, name: str) -> list[dict[str, Any]]:
    try:
        return list(cf.describe_stack_events(StackName=name)["StackEvents"])
    except cf.exceptions.ClientError:
        return []


def outputs(session: Any, stage: str) -> dict[str, str]:
    """The stack's outputs, ``{OutputKey: value}``."""
    cf = session.client("cloudformation")
    stack = cf.describe_stacks(StackName=stack_name(stage))["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def environment(stack_outputs: Mapping[str, str], mapping: Mapping[str, str]) -> dict[str, str]:
    """``{VARIABLE: value}`` from the outputs, given ``{VARIABLE: OutputKey}``."""
    return {var: stack_outputs[key] for var, key in mapping.items() if key in stack_outputs}


def vpc_config(stack_outputs: Mapping[str, str]) -> dict[str, list[str]] | None:
    """Zappa's ``vpc_config`` (the function's subnets and security group) from the
    outputs ``infra.parts.network`` makes; None when the stack has none."""
    from infra.parts.network import SECURITY_GROUP_OUTPUT, SUBNETS_OUTPUT

    subnets = [s for s in stack_outputs.get(SUBNETS_OUTPUT, "").split(",") if s.strip()]
    group = stack_outputs.get(SECURITY_GROUP_OUTPUT, "").strip()
    if not subnets or not group:
        return None
    return {"SubnetIds": [s.strip() for s in subnets], "SecurityGroupIds": [group]}


def write_zappa_overlay(
    settings_file: Path,
    stage: str,
    env: Mapping[str, str],
    role_arn: str | None,
    output: Path,
    vpc: Mapping[str, list[str]] | None = None,
) -> Path:
    """zappa_settings.json with the stage's Lambda environment, role and VPC from the stack.

    Values go to ``aws_environment_variables`` (the function's environment), not into the
    package; they are pointers and names, never secrets (those stay in Secrets Manager).
    ``vpc`` (:func:`vpc_config`) becomes the stage's ``vpc_config``.
    """
    settings = json.loads(settings_file.read_text())
    stage_settings = settings[stage]
    stage_settings["aws_environment_variables"] = {
        **stage_settings.get("aws_environment_variables", {}),
        **dict(sorted(env.items())),
    }
    if role_arn:
        stage_settings["role_arn"] = role_arn
    if vpc:
        stage_settings["vpc_config"] = {key: list(value) for key, value in vpc.items()}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(settings, indent=2) + "\n")
    return output
