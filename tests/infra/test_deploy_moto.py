"""Deploy smoke test: the stack, then `zappa deploy/update/undeploy` of the package, on moto.

A ``moto_server`` (ThreadedMotoServer on a free 127.0.0.1 port) stands in for AWS:

1. ``infra`` creates the stack through a change set, as ``manage.py infra deploy`` does,
   with what moto models of it: moto's CloudFormation skips Cognito, API Gateway v2,
   CloudWatch alarms/dashboards, CloudFront, ACM, Route 53, Secrets Manager, the
   bucket/queue/topic policies, Aurora clusters, RDS Proxy and security groups' egress
   rules, so those are left out and references to them become placeholders
   (:func:`moto_subset`). What it creates of the network is read back through the EC2
   API (VPC, subnets, routes, the NAT gateway, the gateway endpoints, the groups' ingress);
   the database cluster, its instance and proxy, and the egress rules are created through
   the RDS and EC2 APIs from the template's own properties, in the subnets and groups the
   stack made (:func:`_database_from_template`, :func:`_egress_from_template`), so
   moto's validation sees exactly what CloudFormation would be given.
2. ``zappa deploy dev`` uploads the package built by ``make package`` and makes the
   function (with the stack's role) and its REST API; with ``snap_start`` it publishes a
   version and points the ``snapstart`` alias, and the REST API's integration, at it.
3. ``infra deploy`` again finds the function and the API: ``FunctionReady=true`` adds the
   SQS event source mappings and the schedule rules, on the alias; the outputs become the
   Zappa overlay's environment and ``vpc_config``.
4. ``zappa update dev`` with that overlay: the function's environment and VPC now hold
   them, and the alias moved to the new version.
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
    vpc_config,
    write_zappa_overlay,
)
from infra.inputs import collect
from infra.release import alias_serves
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


def _check_rest_api_invokes(session: Any, alias: str) -> None:
    """Zappa's REST API integrations invoke the alias, never $LATEST."""
    gateway = session.client("apigateway")
    (api,) = [a for a in gateway.get_rest_apis()["items"] if a["name"] == "nimbus-dev"]
    uris = [
        gateway.get_integration(restApiId=api["id"], resourceId=r["id"], httpMethod=m)["uri"]
        for r in gateway.get_resources(restApiId=api["id"])["items"]
        for m in r.get("resourceMethods", {})
    ]
    assert uris
    assert all(uri.endswith(f":function:nimbus-dev:{alias}/invocations") for uri in uris), uris


def _refresh_moto_outputs(
    session: Any, template: dict[str, Any], parameters: dict[str, str]
) -> None:
    session.client("cloudformation").update_stack(
        StackName="nimbus-dev-infra",
        TemplateBody=json.dumps({**template, "Description": "outputs"}),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )


def _physical(session: Any) -> dict[str, str]:
    resources = session.client("cloudformation").list_stack_resources(StackName="nimbus-dev-infra")
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResourceSummaries"]
    }


def _check_network(session: Any, physical: dict[str, str]) -> None:
    """What moto's CloudFormation made of infra/parts/network.py, read back from EC2."""
    ec2 = session.client("ec2")
    vpc = ec2.describe_vpcs(VpcIds=[physical["Vpc"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.40.0.0/16"
    private = ec2.describe_subnets(
        SubnetIds=[physical["PrivateSubnetA"], physical["PrivateSubnetB"]]
    )["Subnets"]
    assert len({s["AvailabilityZone"] for s in private}) == 2
    assert {s["VpcId"] for s in private} == {vpc["VpcId"]}
    assert not any(s["MapPublicIpOnLaunch"] for s in private)
    (nat,) = ec2.describe_nat_gateways(NatGatewayIds=[physical["NatGateway"]])["NatGateways"]
    assert nat["SubnetId"] == physical["PublicSubnet"]
    (table,) = ec2.describe_route_tables(RouteTableIds=[physical["PrivateRouteTable"]])[
        "RouteTables"
    ]
    routes = {r.get("DestinationCidrBlock"): r for r in table["Routes"]}
    assert routes["0.0.0.0/0"]["NatGatewayId"] == physical["NatGateway"]
    # (moto keeps CloudFormation's subnet associations out of DescribeRouteTables.)
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "VpcEndpoints"
    ]
    gateways = {e["ServiceName"]: e for e in endpoints if e["VpcEndpointType"] == "Gateway"}
    assert set(gateways) == {"com.amazonaws.us-east-1.s3", "com.amazonaws.us-east-1.dynamodb"}
    assert all(e["RouteTableIds"] == [physical["PrivateRouteTable"]] for e in gateways.values())
    groups = {
        g["GroupId"]: g
        for g in ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        )["SecurityGroups"]
    }

    def sources(logical: str) -> list[tuple[int, str]]:
        group = groups[physical[logical]]
        return [
            (rule["FromPort"], pair["GroupId"])
            for rule in group["IpPermissions"]
            for pair in rule.get("UserIdGroupPairs", [])
        ] + [(rule["FromPort"], "cidr") for rule in group["IpPermissions"] if rule["IpRanges"]]

    assert sources("FunctionSecurityGroup") == []
    assert sources("ProxySecurityGroup") == [(5432, physical["FunctionSecurityGroup"])]
    assert sources("DatabaseSecurityGroup") == [(5432, physical["ProxySecurityGroup"])]


def _egress_from_template(session: Any, template: dict[str, Any], physical: dict[str, str]):
    """The groups' egress rules (moto drops them from CloudFormation), through EC2."""
    ec2 = session.client("ec2")
    resources = template["Resources"]

    def resolve(value: Any) -> Any:
        if isinstance(value, dict) and "Ref" in value:
            return physical[value["Ref"]]
        if isinstance(value, dict) and "Fn::If" in value:
            return resolve(value["Fn::If"][1])  # the defaults: created network, proxy on
        return value

    def permission(rule: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {
            "IpProtocol": rule["IpProtocol"],
            "FromPort": rule["FromPort"],
            "ToPort": rule["ToPort"],
        }
        if "CidrIp" in rule:
            found["IpRanges"] = [{"CidrIp": rule["CidrIp"]}]
        else:
            found["UserIdGroupPairs"] = [{"GroupId": resolve(rule["DestinationSecurityGroupId"])}]
        return found

    for logical, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::EC2::SecurityGroup" and logical in physical:
            group = physical[logical]
            ec2.revoke_security_group_egress(
                GroupId=group,
                IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
            )
            rules = [permission(rule) for rule in props.get("SecurityGroupEgress", [])]
            if rules:
                ec2.authorize_security_group_egress(GroupId=group, IpPermissions=rules)
        elif resource["Type"] == "AWS::EC2::SecurityGroupEgress" and resource.get("Condition") in (
            "CreateDatabase",
            "UseDatabaseProxy",
        ):
            ec2.authorize_security_group_egress(
                GroupId=resolve(props["GroupId"]), IpPermissions=[permission(props)]
            )
    groups = {
        g["GroupId"]: g
        for g in ec2.describe_security_groups(
            GroupIds=[physical[n] for n in ("FunctionSecurityGroup", "ProxySecurityGroup")]
        )["SecurityGroups"]
    }

    def destinations(logical: str) -> set[tuple[int, str]]:
        rules = groups[physical[logical]]["IpPermissionsEgress"]
        return {
            (rule.get("FromPort", -1), target)
            for rule in rules
            for target in [p["GroupId"] for p in rule.get("UserIdGroupPairs", [])]
            + [r["CidrIp"] for r in rule.get("IpRanges", [])]
        }

    assert destinations("FunctionSecurityGroup") == {
        (443, "0.0.0.0/0"),
        (5432, physical["ProxySecurityGroup"]),
    }
    assert destinations("ProxySecurityGroup") == {
        (252, "255.255.255.255/32"),  # matches nothing: no default allow-all
        (5432, physical["DatabaseSecurityGroup"]),
    }


def _database_from_template(
    session: Any, template: dict[str, Any], physical: dict[str, str]
) -> dict[str, Any]:
    """Aurora, its instance and the RDS Proxy (moto's CloudFormation skips them), made
    through the RDS API from the template's properties; returns the cluster and proxy."""
    rds = session.client("rds")
    resources = template["Resources"]
    cluster = resources["DatabaseCluster"]["Properties"]
    scaling = dict(cluster["ServerlessV2ScalingConfiguration"])
    scaling["MaxCapacity"] = float(template["Parameters"]["DatabaseMaxCapacity"]["Default"])
    key = physical["Key"]
    created = rds.create_db_cluster(
        DBClusterIdentifier=cluster["DBClusterIdentifier"],
        Engine=cluster["Engine"],
        EngineVersion=cluster["EngineVersion"],
        DatabaseName=cluster["DatabaseName"],
        Port=cluster["Port"],
        MasterUsername=cluster["MasterUsername"],
        ManageMasterUserPassword=cluster["ManageMasterUserPassword"],
        MasterUserSecretKmsKeyId=key,
        StorageEncrypted=cluster["StorageEncrypted"],
        KmsKeyId=key,
        ServerlessV2ScalingConfiguration=scaling,
        DBSubnetGroupName=physical["DatabaseSubnets"],
        VpcSecurityGroupIds=[physical["DatabaseSecurityGroup"]],
        DeletionProtection=cluster["DeletionProtection"],
        BackupRetentionPeriod=cluster["BackupRetentionPeriod"],
    )["DBCluster"]
    instance = resources["DatabaseInstance"]["Properties"]
    rds.create_db_instance(
        DBInstanceIdentifier=f"{created['DBClusterIdentifier']}-1",
        DBClusterIdentifier=created["DBClusterIdentifier"],
        DBInstanceClass=instance["DBInstanceClass"],
        Engine=instance["Engine"],
    )
    proxy = resources["DatabaseProxy"]["Properties"]
    secret = created["MasterUserSecret"]["SecretArn"]
    role = session.client("iam").get_role(RoleName=physical["DatabaseProxyRole"])["Role"]["Arn"]
    made = rds.create_db_proxy(
        DBProxyName=proxy["DBProxyName"],
        EngineFamily=proxy["EngineFamily"],
        Auth=[{**auth, "SecretArn": secret} for auth in proxy["Auth"]],
        RoleArn=role,
        VpcSubnetIds=[physical["PrivateSubnetA"], physical["PrivateSubnetB"]],
        VpcSecurityGroupIds=[physical["ProxySecurityGroup"]],
        RequireTLS=proxy["RequireTLS"],
        IdleClientTimeout=proxy["IdleClientTimeout"],
    )["DBProxy"]
    targets = resources["DatabaseProxyTargets"]["Properties"]
    rds.register_db_proxy_targets(
        DBProxyName=made["DBProxyName"],
        TargetGroupName=targets["TargetGroupName"],
        DBClusterIdentifiers=[created["DBClusterIdentifier"]],
    )
    return {"cluster": created, "proxy": made}


def _check_database(session: Any, made: dict[str, Any], physical: dict[str, str]) -> None:
    rds = session.client("rds")
    (cluster,) = rds.describe_db_clusters(DBClusterIdentifier="nimbus-dev")["DBClusters"]
    assert cluster["Engine"] == "aurora-postgresql"
    assert cluster["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0
    assert cluster["StorageEncrypted"] is True
    assert cluster["KmsKeyId"].endswith(physical["Key"])
    assert cluster["MasterUserSecret"]["KmsKeyId"].endswith(physical["Key"])
    assert [g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]] == [
        physical["DatabaseSecurityGroup"]
    ]
    group = rds.describe_db_subnet_groups(DBSubnetGroupName=physical["DatabaseSubnets"])
    subnets = {s["SubnetIdentifier"] for s in group["DBSubnetGroups"][0]["Subnets"]}
    assert subnets == {physical["PrivateSubnetA"], physical["PrivateSubnetB"]}
    (proxy,) = rds.describe_db_proxies(DBProxyName="nimbus-dev")["DBProxies"]
    assert proxy["RequireTLS"] is True
    assert proxy["Auth"][0]["SecretArn"] == cluster["MasterUserSecret"]["SecretArn"]
    assert proxy["VpcSecurityGroupIds"] == [physical["ProxySecurityGroup"]]
    targets = rds.describe_db_proxy_targets(DBProxyName="nimbus-dev")["Targets"]
    assert [t["Type"] for t in targets] == ["TRACKED_CLUSTER"]
    assert [t["Port"] for t in targets] == [5432]


def test_stack_then_zappa_deploy_update_undeploy(aws, zappa_shims, package, tmp_path, monkeypatch):
    from infra.context import FUNCTION_ALIAS

    stack = build_stack(collect("dev"))
    rendered = json.loads(stack.template.to_json())
    template = moto_subset(rendered)

    first = _deploy_stack(aws, template)
    assert first["FunctionReady"] == "false"
    physical = _physical(aws)
    _check_network(aws, physical)
    _egress_from_template(aws, rendered, physical)
    _check_database(aws, _database_from_template(aws, rendered, physical), physical)
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
    lam = aws.client("lambda")
    deployed_alias = lam.get_alias(FunctionName="nimbus-dev", Name=FUNCTION_ALIAS)
    assert deployed_alias["FunctionVersion"] != "$LATEST"
    _check_rest_api_invokes(aws, FUNCTION_ALIAS)

    second = _deploy_stack(aws, template)
    assert second["FunctionReady"] == "true"
    alias_version = deployed_alias["FunctionVersion"]
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
    # AWS reports the alias's ARN; moto resolves it to the version the alias points at.
    on_alias = {f":function:nimbus-dev:{q}" for q in (FUNCTION_ALIAS, alias_version)}
    for esm in mappings:
        assert esm["FunctionArn"][esm["FunctionArn"].index(":function:") :] in on_alias
        assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    events = aws.client("events")
    schedules = [
        r["PhysicalResourceId"]
        for r in resources["StackResourceSummaries"]
        if r["LogicalResourceId"].startswith("Schedule")
        and r["ResourceType"] == "AWS::Events::Rule"
    ]
    assert schedules
    for rule in schedules:
        (target,) = events.list_targets_by_rule(Rule=rule.split("|")[-1])["Targets"]
        assert target["Arn"].endswith(f":function:nimbus-dev:{FUNCTION_ALIAS}")
    # moto fills a stack's outputs on CreateStack/UpdateStack only, never after a change
    # set; re-submitting the same template (new description) through UpdateStack makes it.
    _refresh_moto_outputs(aws, template, second)

    mapping = {var: key for var, (key, _) in stack.environment.items()}
    stack_outputs = outputs(aws, "dev")
    env = environment(stack_outputs, mapping)
    assert env["NIMBUS_STAGE"] == "dev"
    assert env["TASKS_QUEUE_URL"].endswith("/nimbus-dev-tasks")
    overlay = write_zappa_overlay(
        settings_file,
        "dev",
        env,
        stack_outputs.get("FunctionRoleArn"),
        tmp_path / "overlay.json",
        vpc=vpc_config(stack_outputs),
    )
    _zappa("update", "dev", "-s", str(overlay), "-z", str(package.path))
    configured = aws.client("lambda").get_function_configuration(FunctionName="nimbus-dev")
    # The function runs in the stack's private subnets, behind its own group.
    assert sorted(configured["VpcConfig"]["SubnetIds"]) == sorted(
        [physical["PrivateSubnetA"], physical["PrivateSubnetB"]]
    )
    assert configured["VpcConfig"]["SecurityGroupIds"] == [physical["FunctionSecurityGroup"]]
    # The update published a version and moved the alias (and so every trigger) to it.
    updated_alias = lam.get_alias(FunctionName="nimbus-dev", Name=FUNCTION_ALIAS)
    assert int(updated_alias["FunctionVersion"]) > int(deployed_alias["FunctionVersion"])
    # What `infra release` checks after Zappa's update: the alias serves this package.
    assert alias_serves(aws, "dev", package.path).startswith(
        f"{FUNCTION_ALIAS} → version {updated_alias['FunctionVersion']}"
    )
    _check_rest_api_invokes(aws, FUNCTION_ALIAS)
    variables = configured["Environment"]["Variables"]
    assert variables["NIMBUS_UPLOADS_BUCKET"] == env["NIMBUS_UPLOADS_BUCKET"]
    assert variables["NIMBUS_SECRETS_ARN"] == env["NIMBUS_SECRETS_ARN"]
    assert "SECRET_KEY" not in variables  # secrets stay in Secrets Manager

    _zappa("undeploy", "dev", "-s", str(overlay), "--yes")
    functions = aws.client("lambda").list_functions()["Functions"]
    assert "nimbus-dev" not in {f["FunctionName"] for f in functions}
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
