"""KMS key, secrets, Parameter Store values and the operators topic."""

from __future__ import annotations

from troposphere import GetAtt, Join, Ref, Sub, kms, secretsmanager, sns, ssm

from infra.context import Stack
from infra.parts import database


def add_key(stack: Stack) -> None:
    """One customer-managed key (rotated yearly) for secrets, the topic and field encryption."""
    account_root = Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
    stack.add(
        kms.Key(
            "Key",
            Description=f"{stack.prefix}: secrets, operators topic, field encryption",
            EnableKeyRotation=True,
            KeyPolicy={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        # IAM policies in this account decide who uses the key.
                        "Sid": "AccountAdministers",
                        "Effect": "Allow",
                        "Principal": {"AWS": account_root},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        # Alarms publish to the encrypted operators topic.
                        "Sid": "AlarmsAndRulesPublishEncrypted",
                        "Effect": "Allow",
                        "Principal": {
                            "Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
                        },
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                        "Resource": "*",
                    },
                ],
            },
        ),
        name="Key",
    )
    stack.add(kms.Alias("KeyAlias", AliasName=f"alias/{stack.prefix}", TargetKeyId=Ref("Key")))
    stack.export_env("NIMBUS_KMS_KEY_ARN", GetAtt("Key", "Arn"), "KMS key for field encryption")


def add_secrets(stack: Stack) -> None:
    """SECRET_KEY and the origin secret (both generated); the database's secret comes
    from the database (:func:`infra.parts.database.database_secret`)."""
    stack.add(
        secretsmanager.Secret(
            "AppSecret",
            Name=f"{stack.prefix}/app",
            Description="Django SECRET_KEY (JSON: SECRET_KEY)",
            KmsKeyId=Ref("Key"),
            GenerateSecretString=secretsmanager.GenerateSecretString(
                SecretStringTemplate="{}",
                GenerateStringKey="SECRET_KEY",
                PasswordLength=64,
                ExcludeCharacters="\"'\\$`",
            ),
        ),
        name="AppSecret",
    )
    stack.add(
        secretsmanager.Secret(
            "OriginSecret",
            Name=f"{stack.prefix}/origin",
            Description=(
                "The value CloudFront sends in X-Nimbus-Origin, proving a request came "
                "through it (JSON: NIMBUS_ORIGIN_SECRET)"
            ),
            KmsKeyId=Ref("Key"),
            GenerateSecretString=secretsmanager.GenerateSecretString(
                SecretStringTemplate="{}",
                GenerateStringKey="NIMBUS_ORIGIN_SECRET",
                PasswordLength=48,
                ExcludePunctuation=True,
            ),
        ),
        name="OriginSecret",
    )
    database_secret = database.database_secret(stack)
    stack.named["DatabaseSecretRef"] = database_secret
    stack.export_env(
        "NIMBUS_SECRETS_ARN",
        Join(",", [Ref("AppSecret"), database_secret, Ref("OriginSecret")]),
        "Secrets Manager secrets the settings load (SECRET_KEY, DATABASE_URL, "
        "NIMBUS_ORIGIN_SECRET)",
    )
    stack.export_env(
        "NIMBUS_PARAMETERS_PATH",
        f"/nimbus/{stack.inputs.stage}/",
        "Parameter Store path the settings load",
    )


def add_parameters_store(stack: Stack) -> None:
    """Every non-secret environment value also lives in Parameter Store under the stage path.

    The function's environment (from the outputs) wins; the parameters let an operator see
    and override configuration in one place, and serve ``project.secrets.config_value``.
    """
    for variable, (output_id, value) in sorted(stack.environment.items()):
        if variable in {"NIMBUS_PARAMETERS_PATH", "NIMBUS_SECRETS_ARN"}:
            continue
        stack.add(
            ssm.Parameter(
                f"Param{output_id}",
                Name=f"/nimbus/{stack.inputs.stage}/{variable}",
                Type="String",
                Value=value,
                Description=f"{stack.prefix} configuration",
            )
        )


def add_operators_topic(stack: Stack) -> None:
    stack.add(
        sns.Topic(
            "OperatorsTopic",
            TopicName=f"{stack.prefix}-operators",
            KmsMasterKeyId=Ref("Key"),
        ),
        name="OperatorsTopic",
    )
    stack.add(
        sns.TopicPolicy(
            "OperatorsTopicPolicy",
            Topics=[Ref("OperatorsTopic")],
            PolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AlarmsPublish",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": "sns:Publish",
                        "Resource": Ref("OperatorsTopic"),
                        "Condition": {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}},
                    },
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "sns:Publish",
                        "Resource": Ref("OperatorsTopic"),
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            },
        )
    )
    stack.add(
        sns.SubscriptionResource(
            "OperatorsEmail",
            Condition="HasAlarmEmail",
            TopicArn=Ref("OperatorsTopic"),
            Protocol="email",
            Endpoint=Ref("AlarmEmail"),
        )
    )
    stack.export_env("NIMBUS_OPERATORS_TOPIC_ARN", Ref("OperatorsTopic"), "SNS operators topic")
