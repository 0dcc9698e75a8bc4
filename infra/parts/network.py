"""The function's network: a VPC with private subnets in two AZs, or the operator's own.

By default the stack creates the VPC (``VpcId`` empty): two private subnets (one per AZ,
no public addresses), free gateway endpoints for S3 and DynamoDB, and the way out to the
other AWS APIs the function calls, chosen by ``Egress``:

* ``nat`` (default): one NAT gateway in a small public subnet. Every API is reachable,
  including the WebSocket API's ``@connections`` (push), which no VPC endpoint serves:
  API Gateway's ``execute-api`` endpoint reaches private REST APIs only, and with private
  DNS on it would capture every public ``execute-api`` host of the VPC.
* ``endpoints``: an interface endpoint per API in :data:`INTERFACE_SERVICES`, no route to
  the internet. Pushing to WebSocket connections does not work from there (see above).

``VpcId`` + ``SubnetIds`` put the function (and a created database) in an existing VPC
instead; its subnets must already reach the AWS APIs (the stack adds no routes there).

Security groups allow exactly function → RDS Proxy → database on PostgreSQL's port, the
function to the AWS APIs on HTTPS, and nothing else (:mod:`infra.parts.database` adds the
proxy's and the database's). The function's subnets and group are stack outputs, which
``infra outputs`` writes into the Zappa stage's ``vpc_config``.
"""

from __future__ import annotations

from troposphere import (
    And,
    Condition,
    Equals,
    GetAtt,
    GetAZs,
    If,
    Join,
    Output,
    Parameter,
    Ref,
    Select,
    Sub,
    Tags,
    ec2,
)

from infra.context import Stack

POSTGRES_PORT = 5432
VPC_CIDR = "10.40.0.0/16"
PRIVATE_CIDRS = ("10.40.0.0/19", "10.40.32.0/19")
PUBLIC_CIDR = "10.40.64.0/24"
#: AWS APIs the function calls, by interface endpoint service name (``Egress=endpoints``).
#: S3 and DynamoDB use gateway endpoints (free); X-Ray takes the trace segments.
INTERFACE_SERVICES = (
    "sqs",
    "events",
    "states",
    "secretsmanager",
    "ssm",
    "kms",
    "xray",
    "cognito-idp",
)
GATEWAY_SERVICES = ("s3", "dynamodb")
#: Output ids that ``infra outputs`` turns into the Zappa stage's ``vpc_config``.
SUBNETS_OUTPUT = "FunctionSubnetIds"
SECURITY_GROUP_OUTPUT = "FunctionSecurityGroupId"


def add_network_parameters(stack: Stack) -> None:
    t = stack.template
    stack.named["VpcId"] = t.add_parameter(
        Parameter(
            "VpcId",
            Type="String",
            Default="",
            Description="An existing VPC for the function; empty: the stack creates one",
        )
    )
    stack.named["SubnetIds"] = t.add_parameter(
        Parameter(
            "SubnetIds",
            Type="CommaDelimitedList",
            Default="",
            Description="With VpcId: its private subnets (two or more AZs) for the function",
        )
    )
    stack.named["Egress"] = t.add_parameter(
        Parameter(
            "Egress",
            Type="String",
            Default="nat",
            AllowedValues=["nat", "endpoints"],
            Description="Created VPC: one NAT gateway, or interface endpoints (no WebSocket push)",
        )
    )
    t.add_condition("CreateNetwork", Equals(Ref("VpcId"), ""))
    t.add_condition("UseNatGateway", And(Condition("CreateNetwork"), Equals(Ref("Egress"), "nat")))
    t.add_condition(
        "UseInterfaceEndpoints",
        And(Condition("CreateNetwork"), Equals(Ref("Egress"), "endpoints")),
    )


def vpc_id(stack: Stack) -> If:
    return If("CreateNetwork", Ref("Vpc"), Ref("VpcId"))


def private_subnets(stack: Stack) -> If:
    return If(
        "CreateNetwork",
        [Ref("PrivateSubnetA"), Ref("PrivateSubnetB")],
        Ref("SubnetIds"),
    )


def _tags(stack: Stack, name: str) -> Tags:
    return Tags(Name=f"{stack.prefix}-{name}", **{"nimbus:stage": stack.inputs.stage})


def add_network(stack: Stack) -> None:
    """The VPC (when created), the function's security group and the outputs for Zappa."""
    _add_vpc(stack)
    _add_nat_gateway(stack)
    _add_endpoints(stack)
    _add_function_security_group(stack)
    stack.template.add_output(
        Output(
            SUBNETS_OUTPUT,
            Value=Join(",", private_subnets(stack)),
            Description="vpc_config SubnetIds: the function's private subnets",
        )
    )
    stack.template.add_output(
        Output(
            SECURITY_GROUP_OUTPUT,
            Value=Ref("FunctionSecurityGroup"),
            Description="vpc_config SecurityGroupIds: the function's security group",
        )
    )


def _add_vpc(stack: Stack) -> None:
    stack.add(
        ec2.VPC(
            "Vpc",
            Condition="CreateNetwork",
            CidrBlock=VPC_CIDR,
            EnableDnsHostnames=True,  # interface endpoints' private DNS needs both
            EnableDnsSupport=True,
            Tags=_tags(stack, "vpc"),
        ),
        name="Vpc",
    )
    stack.add(
        ec2.RouteTable(
            "PrivateRouteTable",
            Condition="CreateNetwork",
            VpcId=Ref("Vpc"),
            Tags=_tags(stack, "private"),
        )
    )
    for index, (suffix, cidr) in enumerate(zip("AB", PRIVATE_CIDRS, strict=True)):
        stack.add(
            ec2.Subnet(
                f"PrivateSubnet{suffix}",
                Condition="CreateNetwork",
                VpcId=Ref("Vpc"),
                CidrBlock=cidr,
                AvailabilityZone=Select(index, GetAZs("")),
                MapPublicIpOnLaunch=False,
                Tags=_tags(stack, f"private-{suffix.lower()}"),
            )
        )
        stack.add(
            ec2.SubnetRouteTableAssociation(
                f"PrivateSubnet{suffix}Routes",
                Condition="CreateNetwork",
                SubnetId=Ref(f"PrivateSubnet{suffix}"),
                RouteTableId=Ref("PrivateRouteTable"),
            )
        )


def _add_nat_gateway(stack: Stack) -> None:
    """One NAT gateway in one public subnet (one AZ: cheaper; an AZ outage cuts egress)."""
    when = "UseNatGateway"
    stack.add(ec2.InternetGateway("InternetGateway", Condition=when, Tags=_tags(stack, "igw")))
    stack.add(
        ec2.VPCGatewayAttachment(
            "InternetGatewayAttachment",
            Condition=when,
            VpcId=Ref("Vpc"),
            InternetGatewayId=Ref("InternetGateway"),
        )
    )
    stack.add(
        ec2.Subnet(
            "PublicSubnet",
            Condition=when,
            VpcId=Ref("Vpc"),
            CidrBlock=PUBLIC_CIDR,
            AvailabilityZone=Select(0, GetAZs("")),
            MapPublicIpOnLaunch=False,
            Tags=_tags(stack, "public"),
        )
    )
    stack.add(
        ec2.RouteTable(
            "PublicRouteTable", Condition=when, VpcId=Ref("Vpc"), Tags=_tags(stack, "public")
        )
    )
    stack.add(
        ec2.Route(
            "PublicDefaultRoute",
            Condition=when,
            DependsOn=["InternetGatewayAttachment"],
            RouteTableId=Ref("PublicRouteTable"),
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=Ref("InternetGateway"),
        )
    )
    stack.add(
        ec2.SubnetRouteTableAssociation(
            "PublicSubnetRoutes",
            Condition=when,
            SubnetId=Ref("PublicSubnet"),
            RouteTableId=Ref("PublicRouteTable"),
        )
    )
    stack.add(
        ec2.EIP(
            "NatAddress",
            Condition=when,
            DependsOn=["InternetGatewayAttachment"],
            Domain="vpc",
            Tags=_tags(stack, "nat"),
        )
    )
    stack.add(
        ec2.NatGateway(
            "NatGateway",
            Condition=when,
            AllocationId=GetAtt("NatAddress", "AllocationId"),
            SubnetId=Ref("PublicSubnet"),
            Tags=_tags(stack, "nat"),
        )
    )
    stack.add(
        ec2.Route(
            "PrivateDefaultRoute",
            Condition=when,
            RouteTableId=Ref("PrivateRouteTable"),
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId=Ref("NatGateway"),
        )
    )


def _service(name: str) -> Sub:
    return Sub(f"com.amazonaws.${{AWS::Region}}.{name}")


def _add_endpoints(stack: Stack) -> None:
    for name in GATEWAY_SERVICES:
        stack.add(
            ec2.VPCEndpoint(
                f"{name.capitalize()}GatewayEndpoint",
                Condition="CreateNetwork",
                VpcEndpointType="Gateway",
                VpcId=Ref("Vpc"),
                ServiceName=_service(name),
                RouteTableIds=[Ref("PrivateRouteTable")],
            )
        )
    stack.add(
        ec2.SecurityGroup(
            "EndpointsSecurityGroup",
            Condition="UseInterfaceEndpoints",
            GroupDescription=f"{stack.prefix}: interface endpoints, HTTPS from the function",
            VpcId=Ref("Vpc"),
            SecurityGroupIngress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    SourceSecurityGroupId=Ref("FunctionSecurityGroup"),
                    Description="HTTPS from the function",
                )
            ],
            SecurityGroupEgress=[_no_egress()],
            Tags=_tags(stack, "endpoints"),
        )
    )
    for name in INTERFACE_SERVICES:
        stack.add(
            ec2.VPCEndpoint(
                _endpoint_id(name),
                Condition="UseInterfaceEndpoints",
                VpcEndpointType="Interface",
                VpcId=Ref("Vpc"),
                ServiceName=_service(name),
                PrivateDnsEnabled=True,
                SubnetIds=[Ref("PrivateSubnetA"), Ref("PrivateSubnetB")],
                SecurityGroupIds=[Ref("EndpointsSecurityGroup")],
            )
        )


def _endpoint_id(service: str) -> str:
    return "".join(part.capitalize() for part in service.split("-")) + "Endpoint"


def _no_egress() -> ec2.SecurityGroupRule:
    """A rule that matches nothing: a group with no egress rule would allow all egress."""
    return ec2.SecurityGroupRule(
        IpProtocol="icmp",
        FromPort=252,
        ToPort=86,
        CidrIp="255.255.255.255/32",
        Description="Disallow all traffic",
    )


def _add_function_security_group(stack: Stack) -> None:
    stack.add(
        ec2.SecurityGroup(
            "FunctionSecurityGroup",
            GroupDescription=f"{stack.prefix}: the Lambda function (no inbound)",
            VpcId=vpc_id(stack),
            # AWS APIs over HTTPS; in the created VPC the only routes out are the NAT
            # gateway or the endpoints. Database access is added by infra.parts.database.
            SecurityGroupEgress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    CidrIp="0.0.0.0/0",
                    Description="HTTPS to AWS APIs",
                )
            ],
            Tags=_tags(stack, "function"),
        ),
        name="FunctionSecurityGroup",
    )
