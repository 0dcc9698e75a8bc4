"""Emulated AWS for the rehearsal: the rendered dev stack, stood up on a ``moto_server``.

One place builds it all from ``infra`` (the template ``manage.py infra deploy`` submits):

* moto's CloudFormation creates what it models (:data:`MOTO_TYPES`), from the same
  template with the rest cut out (:func:`moto_subset`);
* what moto's CloudFormation skips or strips is created here through the APIs, with the
  names and settings the template gives (:class:`World`): the Cognito pool, its client and
  groups; the two generated secrets; the database: the rehearsal's own (PostgreSQL or a
  SQLite file) stands in for the Aurora cluster, its master-user secret holding the
  rehearsal database's credentials and its RDS Proxy's endpoint naming that database's
  host; the WebSocket API and stage; each
  state machine, created through the Step Functions API so that moto's engine runs it,
  from the template's own ``Definition`` and ``DefinitionSubstitutions``; the uploads
  bucket's EventBridge notification;
* the stack's outputs are resolved from the template with the physical ids of both
  (:class:`Resolver`), giving the function the environment ``infra outputs`` would.

What is left out on purpose: CloudFront, ACM, Route 53, alarms and the dashboard (no
behaviour the function sees), the event source mappings (the rehearsal's Lambda service
polls the queues itself, as the mappings in the template say: ``lambda_service.py``).
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from infra.context import FUNCTION_ALIAS

ACCOUNT = "123456789012"
REGION = "us-east-1"
FUNCTION = "nimbus-dev"
#: Stands in for the CloudFront distribution's domain (CloudFront is not emulated).
SITE_DOMAIN = "d111111abcdef8.cloudfront.net"

#: Resource types moto's CloudFormation creates (the rest it skips or cannot model).
MOTO_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::Events::EventBus",
        "AWS::Events::Rule",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
        "AWS::DynamoDB::Table",
        "AWS::SNS::Topic",
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::SSM::Parameter",
        "AWS::StepFunctions::StateMachine",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::Permission",
        # The network (infra/parts/network.py); moto strips security groups' egress
        # rules, inline or not (AWS::EC2::SecurityGroupEgress is not modelled).
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::EC2::RouteTable",
        "AWS::EC2::Route",
        "AWS::EC2::SubnetRouteTableAssociation",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::EIP",
        "AWS::EC2::NatGateway",
        "AWS::EC2::VPCEndpoint",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::RDS::DBSubnetGroup",
    }
)
#: Of those, what the rehearsal creates itself: state machines through the API (moto's
#: engine only runs machines made that way), event source mappings as its own poller.
SELF_MADE = frozenset({"AWS::StepFunctions::StateMachine", "AWS::Lambda::EventSourceMapping"})


def moto_subset(
    template: dict[str, Any], keep: frozenset[str] = MOTO_TYPES, *, schedules: bool = True
) -> dict[str, Any]:
    """The template without what moto skips; references to it become placeholder strings.

    ``schedules=False`` leaves out schedule rules too: moto matches a rule without a pattern
    against every event and cannot deliver to a Lambda target (the rehearsal sends
    scheduled events itself).
    """
    dropped = {
        k
        for k, r in template["Resources"].items()
        if r["Type"] not in keep
        or (not schedules and "ScheduleExpression" in r.get("Properties", {}))
    }

    def placeholder(value: Any) -> Any:
        if isinstance(value, dict):
            if value.keys() == {"Ref"} and value["Ref"] in dropped:
                return f"moto-skipped-{value['Ref']}"
            if value.keys() == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] in dropped:
                return f"moto-skipped-{value['Fn::GetAtt'][0]}"
            return {key: placeholder(item) for key, item in value.items()}
        if isinstance(value, list):
            return [placeholder(item) for item in value]
        if isinstance(value, str):
            for name in dropped:
                value = value.replace("${" + name + "}", f"moto-skipped-{name}")
        return value

    subset = dict(template)
    subset["Resources"] = {}
    for name, resource in template["Resources"].items():
        if name in dropped:
            continue
        resource = placeholder(resource)
        if "DependsOn" in resource:
            depends = resource["DependsOn"]
            resource["DependsOn"] = [
                d for d in (depends if isinstance(depends, list) else [depends]) if d not in dropped
            ]
        subset["Resources"][name] = resource
    subset["Outputs"] = placeholder(template.get("Outputs", {}))
    return subset


#: What ``Ref: AWS::NoValue`` resolves to: dropped from the list or object holding it.
NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "AWS::NoValue"})()


class Resolver:
    """Evaluates CloudFormation intrinsics of the template against physical ids.

    ``physical`` maps a logical id to what ``Ref`` gives; ``attributes`` maps
    ``(logical id, attribute)`` to what ``Fn::GetAtt`` gives.
    """

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        self.template = template
        self.parameters = {
            name: spec.get("Default", "") for name, spec in template.get("Parameters", {}).items()
        } | dict(parameters)
        self.physical: dict[str, str] = {}
        self.attributes: dict[tuple[str, str], str] = {}
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "nimbus-dev-infra",
        }

    def condition(self, name: str) -> bool:
        return bool(self(self.template["Conditions"][name]))

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        raise KeyError(f"Ref to {name}, which the rehearsal did not create")

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in map(self, value) if r is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.attributes[(logical, attribute)]
            if key == "Fn::Join":
                return arg[0].join(str(self(v)) for v in self(arg[1]))
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                variables = {k: self(v) for k, v in variables.items()}
                return re.sub(
                    r"\$\{([^}!]+)\}",
                    lambda m: str(variables.get(m[1]) if m[1] in variables else self._sub(m[1])),
                    text,
                )
            if key == "Fn::If":
                return self(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self(arg[0]) == self(arg[1])
            if key == "Fn::Not":
                return not self(arg[0])
            if key == "Fn::And":
                return all(self(v) for v in arg)
            if key == "Fn::Or":
                return any(self(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Select":
                return self(arg[1])[int(self(arg[0]))]
            if key == "Fn::Split":
                return str(self(arg[1])).split(arg[0])
        resolved = {k: self(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _sub(self, name: str) -> Any:
        if "." in name:
            logical, attribute = name.split(".", 1)
            return self.attributes[(logical, attribute)]
        return self.ref(name)


def _arn(service: str, rest: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"


def record_physical(resolver: Resolver, logical: str, kind: str, physical: str) -> None:
    """What ``Ref`` and ``GetAtt`` give for one resource moto created."""
    resolver.physical[logical] = physical
    attrs = resolver.attributes
    if kind == "AWS::S3::Bucket":
        attrs[(logical, "Arn")] = f"arn:aws:s3:::{physical}"
        attrs[(logical, "DomainName")] = f"{physical}.s3.amazonaws.com"
        attrs[(logical, "RegionalDomainName")] = f"{physical}.s3.{REGION}.amazonaws.com"
    elif kind == "AWS::SQS::Queue":
        name = physical.rsplit("/", 1)[-1]
        attrs[(logical, "Arn")] = _arn("sqs", name)
        attrs[(logical, "QueueName")] = name
        attrs[(logical, "QueueUrl")] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        resolver.physical[logical] = attrs[(logical, "QueueUrl")]
    elif kind == "AWS::Events::EventBus":
        attrs[(logical, "Name")] = physical.rsplit("/", 1)[-1]
        attrs[(logical, "Arn")] = _arn("events", f"event-bus/{attrs[(logical, 'Name')]}")
    elif kind == "AWS::IAM::Role":
        name = physical.rsplit("/", 1)[-1]
        resolver.physical[logical] = name
        attrs[(logical, "Arn")] = f"arn:aws:iam::{ACCOUNT}:role/{name}"
    elif kind == "AWS::Logs::LogGroup":
        attrs[(logical, "Arn")] = _arn("logs", f"log-group:{physical}:*")
    elif kind == "AWS::DynamoDB::Table":
        attrs[(logical, "Arn")] = _arn("dynamodb", f"table/{physical}")
    elif kind == "AWS::KMS::Key":
        key_id = physical.rsplit("/", 1)[-1]
        resolver.physical[logical] = key_id
        attrs[(logical, "Arn")] = _arn("kms", f"key/{key_id}")
        attrs[(logical, "KeyId")] = key_id
    elif kind == "AWS::SNS::Topic":
        attrs[(logical, "TopicArn")] = physical
        attrs[(logical, "TopicName")] = physical.rsplit(":", 1)[-1]


@dataclass
class World:
    """Everything the rehearsal created, by logical id and by the names the code uses."""

    endpoint: str
    session: Any
    template: dict[str, Any]
    parameters: dict[str, str]
    resolver: Resolver
    environment: dict[str, str] = field(default_factory=dict)
    user_pool_id: str = ""
    client_id: str = ""
    websocket_api_id: str = ""
    state_machines: dict[str, str] = field(default_factory=dict)

    def resource(self, logical: str) -> dict[str, Any]:
        return dict(self.template["Resources"][logical])

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == kind}

    def active(self, logical: str) -> bool:
        condition = self.template["Resources"][logical].get("Condition")
        return condition is None or self.resolver.condition(condition)

    def properties(self, logical: str) -> dict[str, Any]:
        return dict(self.resolver(self.template["Resources"][logical].get("Properties", {})))

    def queue_url(self, logical: str) -> str:
        """The queue's URL on the moto server (the stack's own URL names AWS's host)."""
        name = self.resolver.attributes[(logical, "QueueName")]
        return f"{self.endpoint}/{ACCOUNT}/{name}"


def stand_up(
    endpoint: str,
    session: Any,
    template: dict[str, Any],
    parameters: dict[str, str],
    *,
    database: Mapping[str, str],
) -> World:
    """Create the stack on moto and the stand-ins for what moto's CloudFormation skips.

    ``database`` is the content of the database secret: RDS's shape for PostgreSQL, or
    ``{"DATABASE_URL": ...}`` for SQLite (the settings read either).
    """
    resolver = Resolver(template, parameters)
    world = World(endpoint, session, template, parameters, resolver)
    # The function exists before the stack, as after `zappa deploy` (Lambda permissions
    # name it; Step Functions invokes it through moto's Lambda, which the rehearsal's
    # Lambda service answers), with the alias `snap_start` makes Zappa publish and move,
    # which every trigger names.
    iam = session.client("iam")
    lambda_role = iam.create_role(
        RoleName="rehearsal-placeholder",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    session.client("lambda").create_function(
        FunctionName=FUNCTION,
        Runtime="python3.13",
        Role=lambda_role,
        Handler="project.entrypoints.lambda_handler",
        Code={"ZipFile": _empty_zip()},
        TracingConfig={"Mode": "Active"},
        Timeout=28,
        Publish=True,
    )
    version = session.client("lambda").publish_version(FunctionName=FUNCTION)["Version"]
    session.client("lambda").create_alias(
        FunctionName=FUNCTION, Name=FUNCTION_ALIAS, FunctionVersion=version
    )
    cf = session.client("cloudformation")
    subset = moto_subset(template, MOTO_TYPES - SELF_MADE, schedules=False)
    cf.create_stack(
        StackName="nimbus-dev-infra",
        TemplateBody=json.dumps(subset),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    status = cf.describe_stacks(StackName="nimbus-dev-infra")["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE", status
    for summary in cf.list_stack_resources(StackName="nimbus-dev-infra")["StackResourceSummaries"]:
        logical = summary["LogicalResourceId"]
        if logical not in template["Resources"]:
            continue  # moto lists some EC2 resources (a group's rule) without a logical id
        # moto leaves some ids empty (an event bus's): the name the template gives it is it.
        name = template["Resources"][logical].get("Properties", {}).get("Name", "")
        physical = summary["PhysicalResourceId"] or str(resolver(name))
        record_physical(resolver, logical, summary["ResourceType"], physical)
    resolver.attributes[("Distribution", "DomainName")] = SITE_DOMAIN
    resolver.physical["Distribution"] = "E2REHEARSAL"
    _user_pool(world)
    _secrets(world)
    _database(world, database)
    _websocket_api(world)
    _state_machines(world)
    _bucket_notifications(world)
    world.environment = _function_environment(world)
    return world


def _empty_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "")
    return buffer.getvalue()


def _user_pool(world: World) -> None:
    """The pool, its app client and its groups, from the template's properties."""
    cognito = world.session.client("cognito-idp")
    (pool_logical,) = world.of_type("AWS::Cognito::UserPool")
    props = world.properties(pool_logical)
    props.pop("LambdaConfig", None)  # moto never calls triggers: the Lambda service does
    pool = cognito.create_user_pool(
        PoolName=props.pop("UserPoolName"),
        Policies=props.pop("Policies"),
        AutoVerifiedAttributes=props.pop("AutoVerifiedAttributes", []),
        UsernameAttributes=props.pop("UsernameAttributes", []),
        **{
            key: value
            for key, value in props.items()
            if key in ("AccountRecoverySetting", "AdminCreateUserConfig", "DeletionProtection")
        },
    )["UserPool"]
    world.user_pool_id = pool["Id"]
    world.resolver.physical[pool_logical] = pool["Id"]
    world.resolver.attributes[(pool_logical, "Arn")] = pool["Arn"]
    world.resolver.attributes[(pool_logical, "ProviderName")] = (
        f"cognito-idp.{REGION}.amazonaws.com/{pool['Id']}"
    )
    for logical in world.of_type("AWS::Cognito::UserPoolIdentityProvider"):
        if not world.active(logical):
            continue
        props = resolve_dynamic_references(world, world.properties(logical))
        props.pop("UserPoolId")
        cognito.create_identity_provider(UserPoolId=pool["Id"], **props)
        world.resolver.physical[logical] = props["ProviderName"]
    for logical in world.of_type("AWS::Cognito::UserPoolClient"):
        props = world.properties(logical)
        props.pop("UserPoolId")
        client = cognito.create_user_pool_client(UserPoolId=pool["Id"], **props)["UserPoolClient"]
        world.client_id = client["ClientId"]
        world.resolver.physical[logical] = client["ClientId"]
    for logical in world.of_type("AWS::Cognito::UserPoolGroup"):
        props = world.properties(logical)
        props.pop("UserPoolId")
        cognito.create_group(UserPoolId=pool["Id"], **props)
        world.resolver.physical[logical] = props["GroupName"]
    for logical in world.of_type("AWS::Cognito::UserPoolDomain"):
        world.resolver.physical[logical] = world.properties(logical).get("Domain", "")


def resolve_dynamic_references(world: World, value: Any) -> Any:
    """``{{resolve:secretsmanager:<id>:SecretString:<key>}}`` replaced by the secret's
    value, as CloudFormation does when it creates the resource."""
    if isinstance(value, dict):
        return {k: resolve_dynamic_references(world, v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_dynamic_references(world, v) for v in value]
    if not isinstance(value, str):
        return value
    manager = world.session.client("secretsmanager")

    def secret(match: re.Match[str]) -> str:
        content = manager.get_secret_value(SecretId=match[1])["SecretString"]
        return str(json.loads(content)[match[2]])

    return re.sub(
        r"\{\{resolve:secretsmanager:(.+?):SecretString:([^:}]+)(?::[^}]*)?\}\}", secret, value
    )


def _generated(spec: Mapping[str, Any]) -> dict[str, Any]:
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "".join(
            c for c in string.punctuation if c not in spec.get("ExcludeCharacters", "")
        )
    value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    content = json.loads(spec.get("SecretStringTemplate") or "{}")
    content[spec["GenerateStringKey"]] = value
    return content


def _secrets(world: World) -> None:
    """Each secret with what CloudFormation would generate."""
    manager = world.session.client("secretsmanager")
    for logical in world.of_type("AWS::SecretsManager::Secret"):
        if not world.active(logical):
            continue
        props = world.properties(logical)
        content = _generated(props["GenerateSecretString"])
        arn = manager.create_secret(
            Name=props["Name"], SecretString=json.dumps(content), KmsKeyId=props.get("KmsKeyId", "")
        )["ARN"]
        world.resolver.physical[logical] = arn


def _database(world: World, database: Mapping[str, str]) -> None:
    """The created database's stand-ins: Aurora's master-user secret (RDS names it
    ``rds!cluster-…``) holds the rehearsal database's credentials, and the RDS Proxy's
    endpoint is that database's host."""
    if not world.resolver.condition("CreateDatabase"):
        return
    manager = world.session.client("secretsmanager")
    key = world.properties("DatabaseCluster")["MasterUserSecret"]["KmsKeyId"]
    arn = manager.create_secret(
        Name="rds!cluster-rehearsal", SecretString=json.dumps(dict(database)), KmsKeyId=key
    )["ARN"]
    world.resolver.physical["DatabaseCluster"] = FUNCTION
    world.resolver.attributes[("DatabaseCluster", "MasterUserSecret.SecretArn")] = arn
    host = database.get("host", "127.0.0.1")
    world.resolver.attributes[("DatabaseCluster", "Endpoint.Address")] = host
    world.resolver.attributes[("DatabaseProxy", "Endpoint")] = host


def _websocket_api(world: World) -> None:
    gateway = world.session.client("apigatewayv2")
    for logical in world.of_type("AWS::ApiGatewayV2::Api"):
        props = world.properties(logical)
        api = gateway.create_api(
            Name=props["Name"],
            ProtocolType=props["ProtocolType"],
            RouteSelectionExpression=props["RouteSelectionExpression"],
        )
        world.websocket_api_id = api["ApiId"]
        world.resolver.physical[logical] = api["ApiId"]
        world.resolver.attributes[(logical, "ApiEndpoint")] = (
            f"wss://{api['ApiId']}.execute-api.{REGION}.amazonaws.com"
        )
    for logical in world.of_type("AWS::ApiGatewayV2::Stage"):
        props = world.properties(logical)
        gateway.create_stage(ApiId=world.websocket_api_id, StageName=props["StageName"])
        world.resolver.physical[logical] = props["StageName"]
    for logical in world.of_type("AWS::ApiGatewayV2::DomainName"):
        if not world.active(logical):
            continue
        props = world.properties(logical)
        domain = gateway.create_domain_name(**props)
        world.resolver.physical[logical] = domain["DomainName"]
        (config,) = domain["DomainNameConfigurations"]
        for attribute in ("RegionalDomainName", "RegionalHostedZoneId"):
            world.resolver.attributes[(logical, attribute)] = str(config.get(attribute, ""))
    for logical in world.of_type("AWS::ApiGatewayV2::ApiMapping"):
        if world.active(logical):
            props = world.properties(logical)
            mapping = gateway.create_api_mapping(**props)
            world.resolver.physical[logical] = mapping["ApiMappingId"]


def _state_machines(world: World) -> None:
    """Each machine through the Step Functions API, from the template's definition."""
    states = world.session.client("stepfunctions")
    for logical in world.of_type("AWS::StepFunctions::StateMachine"):
        props = world.properties(logical)
        definition = props.get("Definition") or json.loads(props["DefinitionString"])
        text = json.dumps(definition)
        for name, value in props.get("DefinitionSubstitutions", {}).items():
            text = text.replace("${" + name + "}", str(value))
        arn = states.create_state_machine(
            name=props["StateMachineName"],
            definition=text,
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        world.state_machines[props["StateMachineName"]] = arn
        world.resolver.physical[logical] = arn
        world.resolver.attributes[(logical, "Arn")] = arn
        world.resolver.attributes[(logical, "Name")] = props["StateMachineName"]


def _bucket_notifications(world: World) -> None:
    """The EventBridge notification moto's CloudFormation drops from the buckets."""
    s3 = world.session.client("s3")
    for logical in world.of_type("AWS::S3::Bucket"):
        props = world.properties(logical)
        config = props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration")
        if config and config.get("EventBridgeEnabled"):
            s3.put_bucket_notification_configuration(
                Bucket=world.resolver.physical[logical],
                NotificationConfiguration={"EventBridgeConfiguration": {}},
            )


def _function_environment(world: World) -> dict[str, str]:
    """The stack's outputs as the function's variables (what ``infra outputs`` writes)."""
    from infra.inputs import collect
    from infra.template import build

    stack = build(collect("dev"))
    outputs = {
        key: str(world.resolver(output["Value"]))
        for key, output in world.template["Outputs"].items()
        if "Condition" not in output or world.resolver.condition(output["Condition"])
    }
    return {
        variable: outputs[key] for variable, (key, _) in stack.environment.items() if key in outputs
    }


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""
