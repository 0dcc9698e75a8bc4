"""Is each AWS call the function made allowed by its role in the rendered template?

moto never enforces IAM, so the rehearsal checks it: every call the boxes recorded
(``box.py``) becomes the IAM action it needs (``s3:GetObject`` for ``HeadObject``, ...)
and the resource it touches (an ARN built from its parameters), and must be allowed by a
statement of ``FunctionRole`` whose intrinsics are resolved with the physical ids of the
emulated stack. Calls the service does not sign (Cognito's public APIs: sign-up, sign-in
with the app client, token refresh) need no permission.

What this cannot see: calls made outside botocore (X-Ray segments go over UDP to the
daemon, metrics as EMF log lines), resource policies (bucket, key and queue policies), and
conditions other than the ones named in :data:`CONDITION_KEYS`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.rehearsal.world import ACCOUNT, REGION, World

#: botocore operation -> IAM action, where the names differ.
ACTIONS = {
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "CopyObject"): "s3:PutObject",
    ("s3", "ListParts"): "s3:ListMultipartUploadParts",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListMultipartUploads"): "s3:ListBucketMultipartUploads",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("execute-api", "PostToConnection"): "execute-api:ManageConnections",
    ("execute-api", "GetConnection"): "execute-api:ManageConnections",
    ("execute-api", "DeleteConnection"): "execute-api:ManageConnections",
}
BUCKET_LEVEL = {"s3:ListBucket", "s3:ListBucketMultipartUploads"}
CONDITION_KEYS = {"cloudwatch:namespace": "Namespace"}


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    context: dict[str, str]
    call: str

    def __str__(self) -> str:
        return f"{self.call} needs {self.action} on {self.resource}"


def needs(call: dict[str, Any], world: World) -> list[Need]:
    """The permissions one recorded call needs ([] for calls that are not signed)."""
    if call.get("unsigned"):
        return []
    prefix = call["signing"] or call["service"]
    operation = call["operation"]
    action = ACTIONS.get((prefix, operation), f"{prefix}:{operation}")
    if (prefix, operation) == ("s3", "CreateBucket") and not call.get("url"):
        action = "s3:PutObject"  # a presigned POST (see _resources)
    params = call.get("params", {})
    name = f"{call['service']}.{operation}"
    context = {key: str(params[p]) for key, p in CONDITION_KEYS.items() if p in params}
    return [
        Need(action, resource, context, name)
        for resource in _resources(prefix, action, params, call, world)
    ]


def _arn(service: str, rest: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"


def _resources(
    prefix: str, action: str, params: dict[str, Any], call: dict[str, Any], world: World
) -> list[str]:
    if prefix == "s3" and "Bucket" in params:
        if call["operation"] == "CreateBucket" and not call.get("url"):
            # botocore builds a presigned POST from CreateBucket's model and sends nothing:
            # the browser's POST needs s3:PutObject on the keys the policy allows.
            return [f"arn:aws:s3:::{params['Bucket']}/*"]
        if action in BUCKET_LEVEL:
            return [f"arn:aws:s3:::{params['Bucket']}"]
        return [f"arn:aws:s3:::{params['Bucket']}/{params.get('Key', '*')}"]
    if prefix == "sqs" and ("QueueUrl" in params or "QueueName" in params):
        name = str(params.get("QueueUrl") or params["QueueName"]).rstrip("/").rsplit("/", 1)[-1]
        return [_arn("sqs", name)]
    if prefix == "dynamodb" and "TableName" in params:
        table = f"table/{params['TableName']}"
        return [
            _arn(
                "dynamodb",
                table + (f"/index/{params['IndexName']}" if "IndexName" in params else ""),
            )
        ]
    if prefix == "states":
        for key in ("stateMachineArn", "executionArn"):
            if key in params:
                return [str(params[key])]
        return ["*"]
    if prefix == "events" and "EventBusName" in params:
        buses = (
            params["EventBusName"]
            if isinstance(params["EventBusName"], list)
            else [params["EventBusName"]]
        )
        return [b if str(b).startswith("arn:") else _arn("events", f"event-bus/{b}") for b in buses]
    if prefix == "cognito-idp" and "UserPoolId" in params:
        return [_arn("cognito-idp", f"userpool/{params['UserPoolId']}")]
    if prefix == "kms":
        return [_key_arn(str(params.get("KeyId", "")), world)]
    if prefix == "secretsmanager" and "SecretId" in params:
        secret = str(params["SecretId"])
        if not secret.startswith("arn:"):
            secret = world.session.client("secretsmanager").describe_secret(SecretId=secret)["ARN"]
        return [secret]
    if prefix == "ssm":
        names = [params[k] for k in ("Path", "Name") if k in params] + list(params.get("Names", []))
        return [_arn("ssm", "parameter" + "/" + str(n).strip("/")) for n in names] or ["*"]
    if prefix == "execute-api" and call.get("url"):
        parts = urlsplit(call["url"])
        api = (parts.hostname or "").split(".", 1)[0]
        stage, _, connection = parts.path.strip("/").partition("/@connections/")
        method = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}
        return [
            _arn(
                "execute-api",
                f"{api}/{stage}/{method[call['operation']]}/@connections/{connection}",
            )
        ]
    return ["*"]


def _key_arn(key: str, world: World) -> str:
    if key.startswith("arn:") and ":key/" in key:
        return key
    if not key:  # Decrypt reads the key from the ciphertext: the stack has one key
        (logical,) = world.of_type("AWS::KMS::Key")
        return str(world.resolver.attributes[(logical, "Arn")])
    return str(world.session.client("kms").describe_key(KeyId=key)["KeyMetadata"]["Arn"])


def role_statements(world: World, role: str = "FunctionRole") -> list[dict[str, Any]]:
    """The role's statements with every intrinsic resolved against the emulated stack."""
    properties = world.properties(role)
    assert not properties.get("ManagedPolicyArns"), "managed policies are not checked here"
    statements = []
    for policy in properties.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            statements.append(statement)
    return statements


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _conditions_hold(statement: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in statement.get("Condition", {}).items():
        for key, expected in tests.items():
            actual = context.get(key)
            if actual is None:
                return False
            if operator == "StringEquals" and actual not in _listed(expected):
                return False
            if operator == "StringLike" and not any(
                fnmatch.fnmatchcase(actual, e) for e in _listed(expected)
            ):
                return False
            if operator not in ("StringEquals", "StringLike"):
                return False
    return True


def allowed(need: Need, statements: list[dict[str, Any]]) -> bool:
    """IAM's rule for one role: some Allow matches and no Deny does."""

    def matches(statement: dict[str, Any]) -> bool:
        return (
            any(
                fnmatch.fnmatch(need.action.lower(), a.lower())
                for a in _listed(statement["Action"])
            )
            and any(
                fnmatch.fnmatchcase(need.resource, r)
                for r in _listed(statement.get("Resource", "*"))
            )
            and _conditions_hold(statement, need.context)
        )

    if any(s["Effect"] == "Deny" and matches(s) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and matches(s) for s in statements)


def refused(calls: list[dict[str, Any]], world: World) -> list[str]:
    """Each distinct permission the recorded calls needed and the role does not grant."""
    statements = role_statements(world)
    missing = []
    for call in calls:
        for need in needs(call, world):
            if not allowed(need, statements) and str(need) not in missing:
                missing.append(str(need))
    return missing
