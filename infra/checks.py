"""Policy checks on a rendered template (a JSON dict), beyond what cfn-lint knows.

``problems(template, function_timeout=..., event_types=...)`` returns human-readable
findings; an empty list means the template keeps Nimbus's rules: every queue has a DLQ,
every DLQ an alarm, every rule target a DLQ, no rule waiting for a ``detail-type`` no app
declares, no IAM wildcard action and no wildcard resource except for actions that need
one, the function timeout under API Gateway's, log retention everywhere, and buckets that
block public access and refuse plain HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from typing import Any

from infra.parts.function import STAR_ACTIONS

API_GATEWAY_TIMEOUT = 29


def _resources(template: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") == kind:
            yield name, resource.get("Properties", {})


def _ref_target(value: Any) -> str | None:
    """The logical id a ``Ref`` / ``GetAtt`` points to."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def queue_problems(template: dict[str, Any]) -> list[str]:
    found = []
    queues = dict(_resources(template, "AWS::SQS::Queue"))
    dead_letter_ids = {
        _ref_target(props["RedrivePolicy"]["deadLetterTargetArn"])
        for props in queues.values()
        if "RedrivePolicy" in props
    }
    for _, props in _resources(template, "AWS::Events::Rule"):
        for target in props.get("Targets", []):
            dead_letter_ids.add(_ref_target(target.get("DeadLetterConfig", {}).get("Arn")))
    alarmed = set()
    for _, props in _resources(template, "AWS::CloudWatch::Alarm"):
        for dimension in props.get("Dimensions", []):
            if dimension.get("Name") == "QueueName":
                alarmed.add(_ref_target(dimension["Value"]))
    for name, props in queues.items():
        is_dlq = name in dead_letter_ids
        if not is_dlq and "RedrivePolicy" not in props:
            found.append(f"queue {name} has no dead-letter queue")
        if is_dlq and name not in alarmed:
            found.append(f"dead-letter queue {name} has no depth alarm")
    for name, props in _resources(template, "AWS::Events::Rule"):
        for target in props.get("Targets", []):
            if "DeadLetterConfig" not in target:
                found.append(f"rule {name} target {target.get('Id')} has no DeadLetterConfig")
    return found


def event_type_problems(template: dict[str, Any], event_types: Collection[str]) -> list[str]:
    """Rules with a ``detail-type`` alternative that matches none of ``event_types`` (the
    declared ones, ``apps.events.registry.event_types``): nothing publishes such an event,
    so the rule never fires and its receiver is dead code."""
    from apps.events.patterns import matches

    found = []
    for name, props in _resources(template, "AWS::Events::Rule"):
        pattern = props.get("EventPattern")
        if not isinstance(pattern, dict) or "detail-type" not in pattern:
            continue
        for alternative in _as_list(pattern["detail-type"]):
            wanted = {"detail-type": [alternative]}
            if not any(matches(wanted, {"detail-type": declared}) for declared in event_types):
                found.append(
                    f"rule {name} waits for detail-type {json.dumps(alternative)}, "
                    "which no app declares (declare_event in apps/<app>/events.py)"
                )
    return found


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement, except key policies' (there ``Resource: "*"`` means the key)."""
    for name, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        documents = [props.get("PolicyDocument")]
        policies = props.get("Policies", [])  # a user pool's Policies is not IAM
        if isinstance(policies, list):
            documents += [policy.get("PolicyDocument") for policy in policies]
        documents.append(props.get("AssumeRolePolicyDocument"))
        for document in documents:
            if isinstance(document, dict):
                for statement in document.get("Statement", []):
                    yield name, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iam_problems(template: dict[str, Any]) -> list[str]:
    found = []
    for name, statement in _statements(template):
        if statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action", []))
        if "*" in actions:
            found.append(f"{name}: statement {statement.get('Sid', '?')} allows Action '*'")
        if "*" in _as_list(statement.get("Resource", [])):
            broad = [action for action in actions if action not in STAR_ACTIONS]
            if broad:
                found.append(
                    f"{name}: statement {statement.get('Sid', '?')} grants {broad} on Resource '*'"
                )
    return found


def function_problems(template: dict[str, Any], function_timeout: int) -> list[str]:
    found = []
    if function_timeout >= API_GATEWAY_TIMEOUT:
        found.append(
            f"function timeout {function_timeout}s is not below API Gateway's {API_GATEWAY_TIMEOUT}s"
        )
    for name, props in _resources(template, "AWS::Logs::LogGroup"):
        if not props.get("RetentionInDays"):
            found.append(f"log group {name} keeps logs forever (no RetentionInDays)")
    return found


def bucket_problems(template: dict[str, Any]) -> list[str]:
    found = []
    tls_only = set()
    for _, props in _resources(template, "AWS::S3::BucketPolicy"):
        for statement in props.get("PolicyDocument", {}).get("Statement", []):
            condition = statement.get("Condition", {}).get("Bool", {})
            if statement.get("Effect") == "Deny" and condition.get("aws:SecureTransport") in (
                "false",
                False,
            ):
                tls_only.add(_ref_target(props.get("Bucket")))
    for name, props in _resources(template, "AWS::S3::Bucket"):
        block = props.get("PublicAccessBlockConfiguration", {})
        flags = (
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        )
        if not all(block.get(flag) is True for flag in flags):
            found.append(f"bucket {name} does not block all public access")
        if name not in tls_only:
            found.append(f"bucket {name} has no TLS-only bucket policy")
    return found


def problems(
    template: dict[str, Any], *, function_timeout: int, event_types: Collection[str]
) -> list[str]:
    """Every finding of the checks above; ``event_types``: the declared detail-types."""
    return [
        *queue_problems(template),
        *event_type_problems(template, event_types),
        *iam_problems(template),
        *function_problems(template, function_timeout),
        *bucket_problems(template),
    ]


def lint_variants(template: dict[str, Any]) -> list[str]:
    """cfn-lint's findings on each :func:`variants` of the template, naming the variant.

    A parameter the variant's branch does not use is expected there (W2001 is skipped).
    """
    found = []
    for parameters, variant in variants(template):
        label = ", ".join(f"{k}={v or '(empty)'}" for k, v in parameters.items())
        found += [f"[{label}] {line}" for line in lint(variant) if not line.startswith("W2001 ")]
    return found


def lint_scenarios() -> dict[str, dict[str, str]]:
    """Named stack-parameter sets ``infra lint`` checks the template under, besides the
    defaults: what each part's conditions switch on (its ``lint_scenarios()``)."""
    from infra.parts import federation, websocket_domain

    scenarios: dict[str, dict[str, str]] = {}
    for part in (federation, websocket_domain):
        scenarios.update(part.lint_scenarios())
    return scenarios


def lint(
    template: dict[str, Any],
    *,
    regions: tuple[str, ...] = ("us-east-1",),
    parameters: dict[str, str] | None = None,
) -> list[str]:
    """cfn-lint's findings (through its in-process API), as ``"<rule> <path>: <message>"``.

    With ``parameters``, cfn-lint checks the template as deployed with those values (the
    conditions they switch on, the values' own patterns) as well.
    """
    import json
    import logging

    from cfnlint.api import ManualArgs
    from cfnlint.api import lint as cfn_lint

    logging.getLogger("cfnlint").setLevel(logging.WARNING)
    args = ManualArgs(regions=list(regions))
    if parameters:
        args = ManualArgs(regions=list(regions), parameters=[dict(parameters)])
    matches = cfn_lint(json.dumps(template), config=args)
    return [
        f"{m.rule.id} {'/'.join(map(str, m.path))}: {m.message}"
        for m in matches
        if not _known_false_positive(template, m.rule.id, list(m.path), m.message)
    ]


def _known_false_positive(
    template: dict[str, Any], rule: str, path: list[Any], message: str
) -> bool:
    """cfn-lint 1.58's ASL schema refuses InputPath/OutputPath on Succeed states, which the
    States Language allows (and Step Functions accepts): only that finding is ignored."""
    if (
        rule != "E3601"
        or "States" not in path
        or not ("'OutputPath'" in message or "'InputPath'" in message)
    ):
        return False
    last = len(path) - 1 - path[::-1].index("States")
    node: Any = template
    for key in path[: last + 2]:
        if isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            node = node.get(key, {}) if isinstance(node, dict) else {}
    return isinstance(node, dict) and node.get("Type") == "Succeed"


#: Stack parameters whose values switch parts of the template on and off, with a value
#: for each side; :func:`variants` lints every combination (``infra lint``).
SWITCHES: dict[str, tuple[str, ...]] = {
    "VpcId": ("", "vpc-0123456789abcdef0"),
    "SubnetIds": ("", "subnet-0123456789abcdef0,subnet-0fedcba9876543210"),
    "Egress": ("nat", "endpoints"),
    "DatabaseSecretArn": (
        "",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:existing-db-AbCdEf",
    ),
    "RdsProxy": ("true", "false"),
    "DatabaseSecurityGroupId": ("", "sg-0123456789abcdef0"),
    "DatabaseHost": ("", "db.example.internal"),
}
#: Switches set together: an existing VPC comes with its subnets; an existing database's
#: security group and host are linted both given and both left out.
_TOGETHER = (("VpcId", "SubnetIds"), ("DatabaseSecurityGroupId", "DatabaseHost"))


def variants(template: dict[str, Any]) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    """``(parameters, template)`` for each combination of :data:`SWITCHES` the template
    declares, specialised (:func:`specialise`); combinations that leave the same
    conditions true are given once."""
    import itertools

    declared = [name for name in SWITCHES if name in template.get("Parameters", {})]
    seen: set[tuple[bool, ...]] = set()
    for values in itertools.product(*(SWITCHES[name] for name in declared)):
        chosen = dict(zip(declared, values, strict=True))
        if any(len({bool(chosen.get(n)) for n in group if n in chosen}) > 1 for group in _TOGETHER):
            continue
        conditions = _conditions(template, chosen)
        key = tuple(conditions[name] for name in sorted(conditions))
        if key in seen:
            continue
        seen.add(key)
        yield chosen, specialise(template, chosen)


def _conditions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    values = {
        name: spec.get("Default", "") for name, spec in template.get("Parameters", {}).items()
    } | parameters
    definitions = template.get("Conditions", {})
    found: dict[str, bool] = {}

    def evaluate(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return values.get(arg, arg)
            if key == "Condition":
                return condition(arg)
            if key == "Fn::Equals":
                return _as_text(evaluate(arg[0])) == _as_text(evaluate(arg[1]))
            if key == "Fn::Not":
                return not evaluate(arg[0])
            if key == "Fn::And":
                return all(evaluate(item) for item in arg)
            if key == "Fn::Or":
                return any(evaluate(item) for item in arg)
        return node

    def condition(name: str) -> bool:
        if name not in found:
            found[name] = bool(evaluate(definitions[name]))
        return found[name]

    for name in definitions:
        condition(name)
    return found


def _as_text(value: Any) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


def specialise(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """The template as CloudFormation sees it with ``parameters``: resources and outputs
    whose condition is false removed, every ``Fn::If`` replaced by the branch taken,
    the parameters' defaults set to the given values.

    cfn-lint then checks the references of what is left: a resource that names one its
    condition removes fails the lint, as it would fail the deploy.
    """
    conditions = _conditions(template, parameters)

    def pick(node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1 and "Fn::If" in node:
                name, yes, no = node["Fn::If"]
                return pick(yes if conditions[name] else no)
            return {k: pick(v) for k, v in node.items() if v != {"Ref": "AWS::NoValue"}}
        if isinstance(node, list):
            return [pick(item) for item in node if item != {"Ref": "AWS::NoValue"}]
        return node

    def kept(section: dict[str, Any]) -> dict[str, Any]:
        return {
            name: {k: v for k, v in pick(item).items() if k != "Condition"}
            for name, item in section.items()
            if conditions.get(item.get("Condition", ""), True)
        }

    result = {k: v for k, v in template.items() if k not in ("Conditions", "Resources", "Outputs")}
    result["Parameters"] = {
        name: {**spec, "Default": parameters.get(name, spec.get("Default", ""))}
        for name, spec in template.get("Parameters", {}).items()
    }
    result["Resources"] = kept(template.get("Resources", {}))
    result["Outputs"] = kept(template.get("Outputs", {}))
    return result
