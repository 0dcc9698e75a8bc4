"""The function's network and database in the stack (infra/parts/network.py, database.py)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.checks import lint_variants, specialise, variants
from infra.parts.function import STAR_ACTIONS
from infra.parts.network import INTERFACE_SERVICES
from infra.template import render
from tests.infra.conftest import sample_inputs

EXISTING_DB = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def _ingress(group: dict[str, Any]) -> list[dict[str, Any]]:
    return list(group["Properties"].get("SecurityGroupIngress", []))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return render(sample_inputs())


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_combination_of_network_and_database_is_cfn_lint_clean(stage):
    assert lint_variants(render(sample_inputs(stage))) == []


def test_the_combinations_cover_each_choice(template):
    seen = [parameters for parameters, _ in variants(template)]
    assert {p["Egress"] for p in seen if not p["VpcId"]} == {"nat", "endpoints"}
    assert {bool(p["VpcId"]) for p in seen} == {True, False}
    assert {bool(p["DatabaseSecretArn"]) for p in seen} == {True, False}
    assert {p["RdsProxy"] for p in seen if not p["DatabaseSecretArn"]} == {"true", "false"}


@pytest.mark.slow
def test_a_reference_to_a_resource_a_combination_removes_fails_the_lint(template):
    broken = {**template, "Resources": dict(template["Resources"])}
    # The function's group, pointed at the proxy's even when there is no proxy:
    rule = dict(broken["Resources"]["FunctionToDatabase"])
    rule["Properties"] = {
        **rule["Properties"],
        "DestinationSecurityGroupId": {"Ref": "ProxySecurityGroup"},
    }
    broken["Resources"]["FunctionToDatabase"] = rule
    found = lint_variants(broken)
    assert found
    assert all("RdsProxy=false" in line for line in found)


def test_by_default_the_stack_creates_the_network_and_the_database(template):
    default = specialise(template, {})
    resources = default["Resources"]
    assert {"Vpc", "PrivateSubnetA", "PrivateSubnetB", "NatGateway"} <= set(resources)
    assert {"DatabaseCluster", "DatabaseInstance", "DatabaseProxy"} <= set(resources)
    assert not _of_type(default, "AWS::EC2::VPCEndpoint").keys() - {
        "S3GatewayEndpoint",
        "DynamodbGatewayEndpoint",
    }
    zones = [resources[f"PrivateSubnet{s}"]["Properties"]["AvailabilityZone"] for s in "AB"]
    assert zones == [{"Fn::Select": [i, {"Fn::GetAZs": ""}]} for i in (0, 1)]


def test_endpoints_instead_of_a_nat_gateway(template):
    resources = specialise(template, {"Egress": "endpoints"})["Resources"]
    assert "NatGateway" not in resources
    assert "PrivateDefaultRoute" not in resources
    services = {
        r["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
        and r["Properties"]["VpcEndpointType"] == "Interface"
    }
    assert services == set(INTERFACE_SERVICES)
    # execute-api is left out on purpose: its endpoint serves private REST APIs only.
    assert "execute-api" not in services


def test_security_groups_allow_function_to_proxy_to_database_and_nothing_else(template):
    resources = specialise(template, {})["Resources"]
    database = _ingress(resources["DatabaseSecurityGroup"])
    proxy = _ingress(resources["ProxySecurityGroup"])
    assert [(r["FromPort"], r["SourceSecurityGroupId"]) for r in database] == [
        (5432, {"Ref": "ProxySecurityGroup"})
    ]
    assert [(r["FromPort"], r["SourceSecurityGroupId"]) for r in proxy] == [
        (5432, {"Ref": "FunctionSecurityGroup"})
    ]
    assert "SecurityGroupIngress" not in resources["FunctionSecurityGroup"]["Properties"]
    egress = {
        name: (r["Properties"]["GroupId"], r["Properties"]["DestinationSecurityGroupId"])
        for name, r in resources.items()
        if r["Type"] == "AWS::EC2::SecurityGroupEgress"
    }
    assert egress == {
        "ProxyToDatabase": ({"Ref": "ProxySecurityGroup"}, {"Ref": "DatabaseSecurityGroup"}),
        "FunctionToDatabase": ({"Ref": "FunctionSecurityGroup"}, {"Ref": "ProxySecurityGroup"}),
    }
    # The database and the proxy send nothing anywhere else (no default allow-all egress).
    for name in ("DatabaseSecurityGroup", "ProxySecurityGroup"):
        (rule,) = resources[name]["Properties"]["SecurityGroupEgress"]
        assert rule["CidrIp"] == "255.255.255.255/32"


def test_without_the_proxy_the_function_reaches_the_database_directly(template):
    resources = specialise(template, {"RdsProxy": "false"})["Resources"]
    assert "DatabaseProxy" not in resources
    assert "ProxySecurityGroup" not in resources
    (rule,) = _ingress(resources["DatabaseSecurityGroup"])
    assert rule["SourceSecurityGroupId"] == {"Ref": "FunctionSecurityGroup"}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_database_is_serverless_v2_from_zero_with_a_managed_encrypted_secret(stage):
    resources = specialise(render(sample_inputs(stage)), {})["Resources"]
    cluster = resources["DatabaseCluster"]
    props = cluster["Properties"]
    assert props["Engine"] == "aurora-postgresql"
    assert props["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0
    assert props["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in props
    assert props["MasterUserSecret"] == {"KmsKeyId": {"Ref": "Key"}}
    assert props["StorageEncrypted"] is True
    assert props["KmsKeyId"] == {"Ref": "Key"}
    assert resources["DatabaseInstance"]["Properties"]["DBInstanceClass"] == "db.serverless"
    prod = stage == "prod"
    assert props["DeletionProtection"] is prod
    assert cluster["DeletionPolicy"] == cluster["UpdateReplacePolicy"]
    assert cluster["DeletionPolicy"] == ("Snapshot" if prod else "Delete")
    proxy = resources["DatabaseProxy"]["Properties"]
    assert proxy["RequireTLS"] is True
    assert proxy["Auth"] == [
        {
            "AuthScheme": "SECRETS",
            "IAMAuth": "DISABLED",
            "SecretArn": {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]},
        }
    ]


def test_the_function_reads_the_secret_of_the_database_it_uses(template):
    def secrets_of(parameters: dict[str, str]) -> list[Any]:
        role = specialise(template, parameters)["Resources"]["FunctionRole"]["Properties"]
        statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
        return list(statements["Secrets"]["Resource"])

    assert {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]} in secrets_of({})
    existing = secrets_of({"DatabaseSecretArn": EXISTING_DB})
    assert {"Ref": "DatabaseSecretArn"} in existing


def test_an_existing_vpc_and_database_create_only_the_security_groups(template):
    resources = specialise(
        template,
        {
            "VpcId": "vpc-1",
            "SubnetIds": "subnet-1,subnet-2",
            "DatabaseSecretArn": EXISTING_DB,
            "DatabaseSecurityGroupId": "sg-db",
        },
    )["Resources"]
    assert not {"Vpc", "NatGateway", "DatabaseCluster", "DatabaseProxy"} & set(resources)
    assert resources["FunctionSecurityGroup"]["Properties"]["VpcId"] == {"Ref": "VpcId"}
    entry = resources["ExistingDatabaseFromFunction"]["Properties"]
    assert entry["GroupId"] == {"Ref": "DatabaseSecurityGroupId"}
    assert entry["SourceSecurityGroupId"] == {"Ref": "FunctionSecurityGroup"}


def test_the_outputs_carry_the_functions_subnets_group_and_database_host(template):
    created = specialise(template, {})["Outputs"]
    assert created["FunctionSubnetIds"]["Value"] == {
        "Fn::Join": [",", [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]]
    }
    assert created["FunctionSecurityGroupId"]["Value"] == {"Ref": "FunctionSecurityGroup"}
    assert created["NimbusDatabaseHost"]["Value"] == {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}
    existing = specialise(
        template, {"VpcId": "vpc-1", "SubnetIds": "subnet-1,subnet-2", "DatabaseSecretArn": "x"}
    )["Outputs"]
    assert existing["FunctionSubnetIds"]["Value"] == {"Fn::Join": [",", {"Ref": "SubnetIds"}]}
    assert "NimbusDatabaseHost" not in existing  # the existing database's secret names it


def test_the_role_has_exactly_lambdas_vpc_permissions(template):
    role = template["Resources"]["FunctionRole"]["Properties"]
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    ec2 = sorted(
        action
        for statement in statements.values()
        for action in statement["Action"]
        if action.startswith("ec2:")
    )
    # AWSLambdaVPCAccessExecutionRole's actions, no more.
    assert ec2 == [
        "ec2:AssignPrivateIpAddresses",
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:UnassignPrivateIpAddresses",
    ]
    scoped = statements["VpcOwnNetworkInterfaces"]["Resource"]["Fn::Sub"]
    assert scoped.endswith(":network-interface/*")
    assert set(statements["VpcNetworkInterfaces"]["Action"]) <= STAR_ACTIONS
