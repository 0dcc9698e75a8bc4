"""The database: Aurora PostgreSQL Serverless v2 behind an RDS Proxy, or the operator's own.

With ``DatabaseSecretArn`` empty (default) the stack creates, in the function's subnets:

* an Aurora PostgreSQL Serverless v2 cluster scaling from 0 ACU (it pauses after
  :data:`AUTO_PAUSE_SECONDS` without connections and costs storage only at rest), its
  master password generated and rotated by RDS in a Secrets Manager secret (the
  ``MasterUserSecret``), storage and secret encrypted with the stack's key; in ``prod``
  deletion protection, a snapshot when the stack deletes or replaces it, and 7 days of
  backups;
* an RDS Proxy in front of it (``RdsProxy=true``, default) authenticating with that
  secret and requiring TLS: Lambda opens many short connections, the proxy pools them.

Security groups: function → proxy → database on PostgreSQL's port only (or function →
database without the proxy). The function reads the managed secret (user name and
password) through ``NIMBUS_SECRETS_ARN`` and the host from ``NIMBUS_DATABASE_HOST`` (the
proxy's endpoint), which ``project.secrets`` joins into ``DATABASE_URL``.

``DatabaseSecretArn`` uses an existing database instead: an RDS-shaped secret (``host``
in it, or ``DatabaseHost``); ``DatabaseSecurityGroupId`` lets the function's group in.
"""

from __future__ import annotations

from troposphere import (
    And,
    Condition,
    Equals,
    GetAtt,
    If,
    Not,
    Or,
    Output,
    Parameter,
    Ref,
    Sub,
    Tags,
    ec2,
    iam,
    rds,
)

from infra.context import Stack
from infra.parts.network import POSTGRES_PORT, _no_egress, private_subnets, vpc_id

ENGINE = "aurora-postgresql"
#: Auto-pause (MinCapacity 0) needs Aurora PostgreSQL 13.15, 14.12, 15.7, 16.3 or later.
ENGINE_VERSION = "17.7"
AUTO_PAUSE_SECONDS = 600
DATABASE_NAME = "nimbus"
MASTER_USER = "nimbus"
HOST_VARIABLE = "NIMBUS_DATABASE_HOST"


def add_database_parameters(stack: Stack) -> None:
    t = stack.template
    for name, description, default, allowed in (
        (
            "RdsProxy",
            "Created database: an RDS Proxy in front of it (Aurora: billed as 8 ACUs)",
            "true",
            ["true", "false"],
        ),
        (
            "DatabaseMaxCapacity",
            "Created database: the most Aurora capacity units it scales to",
            "4",
            ["1", "2", "4", "8", "16", "32", "64"],
        ),
        (
            "DatabaseSecurityGroupId",
            "Existing database: its security group, which the function's group may enter",
            "",
            None,
        ),
    ):
        extra = {"AllowedValues": allowed} if allowed else {}
        stack.named[name] = t.add_parameter(
            Parameter(name, Type="String", Default=default, Description=description, **extra)
        )
    t.add_condition("CreateDatabase", Equals(Ref("DatabaseSecretArn"), ""))
    t.add_condition(
        "UseDatabaseProxy", And(Condition("CreateDatabase"), Equals(Ref("RdsProxy"), "true"))
    )
    t.add_condition(
        "HasDatabaseHost",
        Or(Condition("CreateDatabase"), Not(Equals(Ref("DatabaseHost"), ""))),
    )
    t.add_condition(
        "EnterExistingDatabase",
        And(
            Not(Condition("CreateDatabase")),
            Not(Equals(Ref("DatabaseSecurityGroupId"), "")),
        ),
    )


def database_secret(stack: Stack) -> If:
    """The secret the function reads the database credentials from."""
    return If(
        "CreateDatabase",
        GetAtt("DatabaseCluster", "MasterUserSecret.SecretArn"),
        Ref("DatabaseSecretArn"),
    )


def _tags(stack: Stack, name: str) -> Tags:
    return Tags(Name=f"{stack.prefix}-{name}", **{"nimbus:stage": stack.inputs.stage})


def add_database(stack: Stack) -> None:
    _add_security_groups(stack)
    _add_cluster(stack)
    _add_proxy(stack)


def _add_security_groups(stack: Stack) -> None:
    port = {"IpProtocol": "tcp", "FromPort": POSTGRES_PORT, "ToPort": POSTGRES_PORT}
    stack.add(
        ec2.SecurityGroup(
            "DatabaseSecurityGroup",
            Condition="CreateDatabase",
            GroupDescription=f"{stack.prefix}: the database, PostgreSQL from the proxy only",
            VpcId=vpc_id(stack),
            SecurityGroupIngress=[
                ec2.SecurityGroupRule(
                    SourceSecurityGroupId=If(
                        "UseDatabaseProxy",
                        Ref("ProxySecurityGroup"),
                        Ref("FunctionSecurityGroup"),
                    ),
                    Description="PostgreSQL from the RDS Proxy (or the function)",
                    **port,
                )
            ],
            SecurityGroupEgress=[_no_egress()],
            Tags=_tags(stack, "database"),
        )
    )
    stack.add(
        ec2.SecurityGroup(
            "ProxySecurityGroup",
            Condition="UseDatabaseProxy",
            GroupDescription=f"{stack.prefix}: the RDS Proxy, PostgreSQL from the function",
            VpcId=vpc_id(stack),
            SecurityGroupIngress=[
                ec2.SecurityGroupRule(
                    SourceSecurityGroupId=Ref("FunctionSecurityGroup"),
                    Description="PostgreSQL from the function",
                    **port,
                )
            ],
            SecurityGroupEgress=[_no_egress()],
            Tags=_tags(stack, "proxy"),
        )
    )
    # Separate rules: the groups name each other.
    stack.add(
        ec2.SecurityGroupEgress(
            "ProxyToDatabase",
            Condition="UseDatabaseProxy",
            GroupId=Ref("ProxySecurityGroup"),
            DestinationSecurityGroupId=Ref("DatabaseSecurityGroup"),
            Description="PostgreSQL to the database",
            **port,
        )
    )
    stack.add(
        ec2.SecurityGroupEgress(
            "FunctionToDatabase",
            Condition="CreateDatabase",
            GroupId=Ref("FunctionSecurityGroup"),
            DestinationSecurityGroupId=If(
                "UseDatabaseProxy", Ref("ProxySecurityGroup"), Ref("DatabaseSecurityGroup")
            ),
            Description="PostgreSQL to the RDS Proxy (or the database)",
            **port,
        )
    )
    stack.add(
        ec2.SecurityGroupEgress(
            "FunctionToExistingDatabase",
            Condition="EnterExistingDatabase",
            GroupId=Ref("FunctionSecurityGroup"),
            DestinationSecurityGroupId=Ref("DatabaseSecurityGroupId"),
            Description="PostgreSQL to the existing database",
            **port,
        )
    )
    stack.add(
        ec2.SecurityGroupIngress(
            "ExistingDatabaseFromFunction",
            Condition="EnterExistingDatabase",
            GroupId=Ref("DatabaseSecurityGroupId"),
            SourceSecurityGroupId=Ref("FunctionSecurityGroup"),
            Description=f"PostgreSQL from {stack.prefix}",
            **port,
        )
    )


def _add_cluster(stack: Stack) -> None:
    prod = stack.inputs.stage == "prod"
    # Deleting or replacing the prod stack's cluster keeps a final snapshot.
    keep = "Snapshot" if prod else "Delete"
    stack.add(
        rds.DBSubnetGroup(
            "DatabaseSubnets",
            Condition="CreateDatabase",
            DBSubnetGroupDescription=f"{stack.prefix}: the function's private subnets",
            SubnetIds=private_subnets(stack),
        )
    )
    stack.add(
        rds.DBCluster(
            "DatabaseCluster",
            Condition="CreateDatabase",
            DeletionPolicy=keep,
            UpdateReplacePolicy=keep,
            DBClusterIdentifier=stack.prefix,
            Engine=ENGINE,
            EngineVersion=ENGINE_VERSION,
            DatabaseName=DATABASE_NAME,
            Port=POSTGRES_PORT,
            MasterUsername=MASTER_USER,
            # RDS generates the password, keeps it in Secrets Manager and rotates it.
            ManageMasterUserPassword=True,
            MasterUserSecret=rds.MasterUserSecret(KmsKeyId=Ref("Key")),
            StorageEncrypted=True,
            KmsKeyId=Ref("Key"),
            ServerlessV2ScalingConfiguration=_scaling(),
            DBSubnetGroupName=Ref("DatabaseSubnets"),
            VpcSecurityGroupIds=[Ref("DatabaseSecurityGroup")],
            DeletionProtection=prod,
            BackupRetentionPeriod=7 if prod else 1,
            CopyTagsToSnapshot=True,
            Tags=_tags(stack, "database"),
        ),
        name="DatabaseCluster",
    )
    stack.add(
        rds.DBInstance(
            "DatabaseInstance",
            Condition="CreateDatabase",
            DeletionPolicy="Delete",  # the cluster holds the data (and its snapshot)
            UpdateReplacePolicy="Delete",
            DBClusterIdentifier=Ref("DatabaseCluster"),
            DBInstanceClass="db.serverless",
            Engine=ENGINE,
            PubliclyAccessible=False,
            Tags=_tags(stack, "database"),
        )
    )


def _scaling() -> rds.ServerlessV2ScalingConfiguration:
    """0 to ``DatabaseMaxCapacity`` ACUs, pausing when idle."""
    scaling = rds.ServerlessV2ScalingConfiguration(
        MinCapacity=0.5,
        MaxCapacity=Ref("DatabaseMaxCapacity"),
        SecondsUntilAutoPause=AUTO_PAUSE_SECONDS,
    )
    # troposphere 4.11's validator predates auto-pause (0 ACU, Aurora since 2024-11);
    # cfn-lint's schema accepts 0.
    scaling.properties["MinCapacity"] = 0
    return scaling


def _add_proxy(stack: Stack) -> None:
    secret = GetAtt("DatabaseCluster", "MasterUserSecret.SecretArn")
    stack.add(
        iam.Role(
            "DatabaseProxyRole",
            Condition="UseDatabaseProxy",
            AssumeRolePolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "rds.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            Policies=[
                iam.Policy(
                    PolicyName="read-database-secret",
                    PolicyDocument={
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "secretsmanager:GetSecretValue",
                                "Resource": secret,
                            },
                            {
                                "Effect": "Allow",
                                "Action": "kms:Decrypt",
                                "Resource": GetAtt("Key", "Arn"),
                                "Condition": {
                                    "StringEquals": {
                                        "kms:ViaService": Sub(
                                            "secretsmanager.${AWS::Region}.amazonaws.com"
                                        )
                                    }
                                },
                            },
                        ],
                    },
                )
            ],
        )
    )
    stack.add(
        rds.DBProxy(
            "DatabaseProxy",
            Condition="UseDatabaseProxy",
            DBProxyName=stack.prefix,
            EngineFamily="POSTGRESQL",
            Auth=[rds.AuthFormat(AuthScheme="SECRETS", SecretArn=secret, IAMAuth="DISABLED")],
            RoleArn=GetAtt("DatabaseProxyRole", "Arn"),
            RequireTLS=True,
            IdleClientTimeout=1800,
            VpcSubnetIds=private_subnets(stack),
            VpcSecurityGroupIds=[Ref("ProxySecurityGroup")],
        ),
        name="DatabaseProxy",
    )
    stack.add(
        rds.DBProxyTargetGroup(
            "DatabaseProxyTargets",
            Condition="UseDatabaseProxy",
            DependsOn=["DatabaseInstance"],
            DBProxyName=Ref("DatabaseProxy"),
            TargetGroupName="default",
            DBClusterIdentifiers=[Ref("DatabaseCluster")],
            # No idle pooled connections: an idle stage lets Aurora pause at 0 ACU.
            ConnectionPoolConfigurationInfo=rds.ConnectionPoolConfigurationInfoFormat(
                MaxConnectionsPercent=90, MaxIdleConnectionsPercent=0
            ),
        )
    )


def export_host(stack: Stack) -> None:
    """``NIMBUS_DATABASE_HOST``: the proxy's (or cluster's) endpoint, or ``DatabaseHost``.

    An output and a function variable only (no Parameter Store copy): an existing
    database whose secret names its host has none.
    """
    host = If(
        "CreateDatabase",
        If(
            "UseDatabaseProxy",
            GetAtt("DatabaseProxy", "Endpoint"),
            GetAtt("DatabaseCluster", "Endpoint.Address"),
        ),
        Ref("DatabaseHost"),
    )
    output_id = "NimbusDatabaseHost"
    stack.environment[HOST_VARIABLE] = (output_id, host)
    stack.template.add_output(
        Output(
            output_id,
            Condition="HasDatabaseHost",
            Value=host,
            Description=f"env {HOST_VARIABLE}: the database host (RDS Proxy endpoint)",
        )
    )
