"""The rendered stack keeps Nimbus's rules, for the real registries and for sample ones."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from infra.checks import lint, problems
from infra.inputs import EventTypeSpec, StackInputs, collect
from infra.parts.workflows import substitute_tasks
from infra.template import build, render
from tests.infra.conftest import REVIEW_ASL, sample_inputs

REPO = Path(__file__).resolve().parents[2]
ZAPPA = json.loads((REPO / "zappa_settings.json").read_text())


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource.get("Properties", {})
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def _checked(inputs: StackInputs) -> dict[str, Any]:
    """The arguments ``infra lint`` passes to :func:`problems` besides the template."""
    return {"function_timeout": inputs.function_timeout, "event_types": inputs.declared_types}


def _stage_settings(stage: str) -> dict[str, Any]:
    return {**ZAPPA.get(ZAPPA[stage].get("extends", ""), {}), **ZAPPA[stage]}


@pytest.fixture(params=["dev", "prod"])
def registry_template(request) -> tuple[StackInputs, dict[str, Any]]:
    """The template for a stage from the project's real registries (as `infra render`)."""
    inputs = collect(request.param, _stage_settings(request.param))
    return inputs, render(inputs)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_sample_stack_is_cfn_lint_clean_and_keeps_the_rules(stage):
    inputs = sample_inputs(stage)
    template = render(inputs)
    assert lint(template) == []
    assert problems(template, **_checked(inputs)) == []


def test_project_stack_is_cfn_lint_clean_and_keeps_the_rules(registry_template):
    inputs, template = registry_template
    assert lint(template) == []
    assert problems(template, **_checked(inputs)) == []


def test_an_empty_registry_still_renders_a_clean_stack():
    inputs = StackInputs(stage="dev")
    template = render(inputs)
    assert lint(template) == []
    assert problems(template, **_checked(inputs)) == []
    # Django Tasks still get their queue, DLQ and mapping.
    assert {"QueueTasks", "QueueTasksDlq", "MappingTasks"} <= set(template["Resources"])


def test_zappa_timeout_is_below_api_gateways():
    for stage in ("dev", "prod"):
        assert _stage_settings(stage)["timeout_seconds"] < 29


def test_every_receiver_group_gets_a_queue_dlq_alarm_and_batch_failure_mapping(inputs):
    template = render(inputs)
    mappings = _resources(template, "AWS::Lambda::EventSourceMapping")
    queues = _resources(template, "AWS::SQS::Queue")
    for group in ("files", "push", "tasks"):
        queue = queues[f"Queue{group.capitalize()}"]
        assert queue["QueueName"] == f"nimbus-dev-{group}"
        assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
            "Fn::GetAtt": [f"Queue{group.capitalize()}Dlq", "Arn"]
        }
        mapping = mappings[f"Mapping{group.capitalize()}"]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert template["Resources"][f"Mapping{group.capitalize()}"]["Condition"] == "FunctionReady"
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    assert {"QueueFilesDlqAlarm", "QueuePushDlqAlarm", "QueueTasksDlqAlarm"} <= set(alarms)
    assert alarms["QueueFilesDlqAlarm"]["AlarmActions"] == [{"Ref": "OperatorsTopic"}]


def test_each_receiver_is_a_rule_on_the_bus_targeting_its_groups_queue(inputs):
    rules = _resources(render(inputs), "AWS::Events::Rule")
    rule = rules["RulePushFileStatus"]
    assert rule["Name"] == "nimbus-dev-push-file-status"
    assert rule["EventPattern"] == inputs.receivers[1].pattern
    assert rule["EventBusName"] == {"Fn::GetAtt": ["EventBus", "Name"]}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["QueuePush", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["RulesDeadLetterQueue", "Arn"]}


def test_step_functions_status_changes_reach_the_workflows_queue_from_the_default_bus(inputs):
    template = render(inputs)
    resources = template["Resources"]
    forward = resources["ForwardAwsStatesStepFunctionsExecutionStatusChange"]["Properties"]
    assert "EventBusName" not in forward  # the default bus, where Step Functions sends them
    assert forward["Name"] == "nimbus-dev-aws-states-step-functions-execution-status-change"
    assert forward["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "stateMachineArn": [
                {
                    "prefix": {
                        "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:"
                        "${AWS::AccountId}:stateMachine:nimbus-dev-"
                    }
                }
            ]
        },
    }
    (target,) = forward["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    assert target["RoleArn"] == {"Fn::GetAtt": ["ForwardEventsRole", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["RulesDeadLetterQueue", "Arn"]}
    put = resources["ForwardEventsRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert put["Statement"] == [
        {"Effect": "Allow", "Action": "events:PutEvents", "Resource": target["Arn"]}
    ]
    # On the Nimbus bus, the receiver's rule -> the workflows queue -> DLQ, alarm, mapping.
    rule = resources["RuleWorkflowsExecutionStatus"]["Properties"]
    assert rule["EventBusName"] == {"Fn::GetAtt": ["EventBus", "Name"]}
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["QueueWorkflows", "Arn"]}
    queue = resources["QueueWorkflows"]["Properties"]
    assert queue["QueueName"] == "nimbus-dev-workflows"
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["QueueWorkflowsDlq", "Arn"]
    }
    alarm = resources["QueueWorkflowsDlqAlarm"]["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": "OperatorsTopic"}]
    mapping = resources["MappingWorkflows"]
    assert mapping["Condition"] == "FunctionReady"
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["QueueWorkflows", "Arn"]}
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # The function reads the queue; the event carries all it records (no extra API call).
    role = resources["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    consume = next(s for s in role["Statement"] if s["Sid"] == "ConsumeQueues")
    assert {"Fn::GetAtt": ["QueueWorkflows", "Arn"]} in consume["Resource"]
    assert "sqs:ReceiveMessage" in consume["Action"]


def test_s3_uploads_are_forwarded_from_the_default_bus_for_the_uploads_bucket_only(inputs):
    forward = render(inputs)["Resources"]["ForwardAwsS3ObjectCreated"]["Properties"]
    assert "EventBusName" not in forward
    assert forward["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [{"Ref": "UploadsBucket"}]}},
    }


def test_the_project_forwards_step_functions_status_changes_to_its_receiver(registry_template):
    inputs, template = registry_template
    stage = inputs.stage
    resources = template["Resources"]
    assert "ForwardAwsStatesStepFunctionsExecutionStatusChange" in resources
    rule = resources["RuleWorkflowsExecutionStatus"]["Properties"]
    assert rule["Name"] == f"nimbus-{stage}-workflows-execution-status"
    assert rule["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
    }
    assert {"QueueWorkflows", "QueueWorkflowsDlq", "QueueWorkflowsDlqAlarm"} <= set(resources)
    assert "MappingWorkflows" in resources


def test_an_aws_event_type_the_stack_cannot_scope_is_refused(inputs):
    inputs.event_types.append(EventTypeSpec("EC2 Instance State-change Notification", "aws.ec2"))
    with pytest.raises(ValueError, match="cannot limit to this stack"):
        render(inputs)


def test_forwarding_rule_names_stay_within_eventbridges_limit():
    inputs = sample_inputs("abcdefghijkl")
    rules = _resources(render(inputs), "AWS::Events::Rule")
    name = rules["ForwardAwsStatesStepFunctionsExecutionStatusChange"]["Name"]
    assert len(name) == 64
    assert name.startswith("nimbus-abcdefghijkl-aws-states-step-functions-")


def test_a_rule_waiting_for_an_undeclared_detail_type_is_a_problem(inputs):
    from infra.inputs import ReceiverSpec

    # What the push app's workflow-step relay was: nothing publishes workflows.* events.
    inputs.receivers.append(
        ReceiverSpec("push.workflow_step", {"detail-type": [{"prefix": "workflows."}]}, "push")
    )
    found = problems(render(inputs), **_checked(inputs))
    assert found == [
        'rule RulePushWorkflowStep waits for detail-type {"prefix": "workflows."}, which no '
        "app declares (declare_event in apps/<app>/events.py)"
    ]
    inputs.event_types.append(EventTypeSpec("workflows.StepChanged", "nimbus.workflows"))
    assert problems(render(inputs), **_checked(inputs)) == []


def test_schedules_invoke_the_function_once_it_exists(inputs):
    template = render(inputs)
    rule = template["Resources"]["ScheduleEventsSweepOutbox"]
    assert rule["Condition"] == "FunctionReady"
    assert rule["Properties"]["Name"] == "nimbus-dev-events-sweep-outbox"
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert "function:nimbus-dev" in json.dumps(rule["Properties"]["Targets"][0]["Arn"])
    permission = template["Resources"]["ScheduleEventsSweepOutboxInvoke"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"


def test_task_states_invoke_the_function_with_the_step_payload():
    machine = substitute_tasks(REVIEW_ASL)
    inspect = machine["States"]["Inspect"]
    assert inspect["Resource"] == "${FunctionArn}"
    assert inspect["Parameters"] == {
        "workflow_step": "files.inspect",
        "execution_arn.$": "$$.Execution.Id",
        "input.$": "$",
    }
    assert inspect["ResultPath"] == "$.inspection"  # the author's paths are untouched
    approve = machine["States"]["Approve"]
    assert approve["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert approve["Parameters"] == {
        "FunctionName": "${FunctionArn}",
        "Payload": {
            "workflow_step": "files.await_approval",
            "execution_arn.$": "$$.Execution.Id",
            "input": {"file_id.$": "$.file_id"},
            "task_token.$": "$$.Task.Token",
        },
    }
    notify, queue = (b["States"] for b in machine["States"]["Fan"]["Branches"])
    assert notify["Notify"]["Parameters"]["workflow_step"] == "push.notify"
    assert queue["Queue"]["Resource"] == "arn:aws:states:::sqs:sendMessage"
    assert REVIEW_ASL["States"]["Inspect"]["Resource"] == "step:files.inspect"  # not mutated


def test_state_machines_are_named_traced_and_logged(inputs):
    template = render(inputs)
    machine = template["Resources"]["WorkflowFileReview"]["Properties"]
    assert machine["StateMachineName"] == "nimbus-dev-file-review"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert "FunctionArn" in machine["DefinitionSubstitutions"]
    role = template["Resources"]["StateMachineRole"]["Properties"]
    invoke = role["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert invoke["Action"] == "lambda:InvokeFunction"


def test_the_deployed_state_machine_retries_lambdas_service_errors(registry_template):
    """Read back from (moto's) Step Functions: the rendered definition keeps every Retry."""
    import boto3
    from moto import mock_aws

    from apps.workflows.engine.aws import LAMBDA_SERVICE_ERRORS

    _inputs, template = registry_template
    function = "arn:aws:lambda:us-east-1:123456789012:function:nimbus-dev"
    rendered = template["Resources"]["WorkflowFileReview"]["Properties"]["Definition"]
    definition = json.dumps(rendered).replace("${FunctionArn}", function)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="nimbus-dev-file-review",
            definition=definition,
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        deployed = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    tasks = {n: s for n, s in deployed["States"].items() if s["Type"] == "Task"}
    assert set(tasks) >= {"Prepare", "AwaitApproval", "Approve", "Reject", "Notify", "MarkFailed"}
    for name, state in tasks.items():
        assert function in (state["Resource"], state["Parameters"].get("FunctionName")), name
        assert state["Retry"][0] == {
            "ErrorEquals": list(LAMBDA_SERVICE_ERRORS),
            "IntervalSeconds": 1,
            "BackoffRate": 2.0,
            "MaxAttempts": 6,
            "JitterStrategy": "FULL",
        }, name


def test_user_pool_uses_the_users_apps_password_policy():
    from apps.users.password_policy import PASSWORD_POLICY

    template = render(collect("dev"))
    pool = template["Resources"]["UserPool"]["Properties"]
    assert pool["Policies"]["PasswordPolicy"] == PASSWORD_POLICY
    groups = _resources(template, "AWS::Cognito::UserPoolGroup")
    assert [g["GroupName"] for g in groups.values()] == ["operators"]
    assert "UserPoolDomain" in template["Resources"]


def test_the_app_client_does_not_tell_which_addresses_have_accounts():
    """Cognito answers sign-in, confirmation and reset for unknown users as for known ones."""
    client = render(collect("dev"))["Resources"]["UserPoolClient"]["Properties"]
    assert client["PreventUserExistenceErrors"] == "ENABLED"


def test_connections_table_has_ttl_and_the_push_apps_schema(inputs):
    table = render(collect("dev"))["Resources"]["ConnectionsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["KeySchema"] == [{"AttributeName": "connection_id", "KeyType": "HASH"}]


def test_custom_domain_resources_exist_only_under_conditions(inputs):
    template = render(inputs)
    assert template["Resources"]["Certificate"]["Condition"] == "IssueCertificate"
    assert template["Resources"]["SiteRecords"]["Condition"] == "HasHostedZone"
    config = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    assert config["Aliases"]["Fn::If"][0] == "UseCertificate"
    assert config["ViewerCertificate"]["Fn::If"][0] == "UseCertificate"


def test_static_is_served_through_origin_access_control_only(inputs):
    template = render(inputs)
    config = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    (static,) = config["CacheBehaviors"]
    assert static["PathPattern"] == "/static/*"
    assert static["TargetOriginId"] == "static"
    policy = template["Resources"]["StaticBucketPolicy"]["Properties"]["PolicyDocument"]
    reader = next(s for s in policy["Statement"] if s["Sid"] == "CloudFrontReadsStatic")
    assert reader["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert "AWS:SourceArn" in reader["Condition"]["StringEquals"]


def test_cloudfront_proves_to_the_function_that_a_request_came_through_it(inputs):
    template = render(inputs)
    resources = template["Resources"]
    config = resources["Distribution"]["Properties"]["DistributionConfig"]
    api = next(o for o in config["Origins"]["Fn::If"][1] if o["Id"] == "api")
    (header,) = api["OriginCustomHeaders"]
    assert header["HeaderName"] == "X-Nimbus-Origin"
    assert header["HeaderValue"] == {
        "Fn::Join": [
            "",
            [
                "{{resolve:secretsmanager:",
                {"Ref": "OriginSecret"},
                ":SecretString:NIMBUS_ORIGIN_SECRET}}",
            ],
        ]
    }
    generated = resources["OriginSecret"]["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "NIMBUS_ORIGIN_SECRET"
    # the function loads it with its other secrets, and may read it
    loaded = template["Outputs"]["NimbusSecretsArn"]["Value"]["Fn::Join"][1]
    assert {"Ref": "OriginSecret"} in loaded
    role = resources["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    secrets = next(s for s in role["Statement"] if s["Sid"] == "Secrets")
    assert {"Ref": "OriginSecret"} in secrets["Resource"]


def test_uploads_bucket_has_cors_multipart_cleanup_and_eventbridge(inputs):
    bucket = render(inputs)["Resources"]["UploadsBucket"]["Properties"]
    assert bucket["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    (cors,) = bucket["CorsConfiguration"]["CorsRules"]
    assert "POST" in cors["AllowedMethods"]
    assert cors["ExposedHeaders"] == ["ETag"]


def _production_required_variables() -> set[str]:
    """Names production settings read with no default: require(...) and env.X("NAME")."""
    tree = ast.parse((REPO / "project" / "settings" / "production.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        literal = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if isinstance(func, ast.Name) and func.id == "require":
            names.update(map(str, literal))
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "env"
            and not any(k.arg == "default" for k in node.keywords)
            and literal
        ):
            names.add(str(literal[0]))
    return names


def test_outputs_fill_every_variable_production_settings_require():
    environment = build(collect("dev")).environment
    # Secrets Manager fills these (NIMBUS_SECRETS_ARN); Lambda's runtime sets AWS_REGION.
    from_elsewhere = {"SECRET_KEY", "DATABASE_URL", "AWS_REGION"}
    missing = _production_required_variables() - set(environment) - from_elsewhere
    assert not missing, (
        f"production.py requires {sorted(missing)}, which no stack output provides: "
        "add them in infra/parts/ (Stack.export_env)."
    )
    assert {"NIMBUS_SECRETS_ARN", "NIMBUS_PARAMETERS_PATH"} <= set(environment)


@pytest.mark.parametrize(
    ("mutate", "finding"),
    [
        (
            lambda t: t["Resources"]["QueueFiles"]["Properties"].pop("RedrivePolicy"),
            "no dead-letter",
        ),
        (lambda t: t["Resources"].pop("QueueFilesDlqAlarm"), "no depth alarm"),
        (
            lambda t: t["Resources"]["RuleFilesInspectUpload"]["Properties"]["Targets"][0].pop(
                "DeadLetterConfig"
            ),
            "no DeadLetterConfig",
        ),
        (
            lambda t: t["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
                "Statement"
            ].append({"Effect": "Allow", "Action": "*", "Resource": "arn:x"}),
            "Action '*'",
        ),
        (
            lambda t: t["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
                "Statement"
            ].append({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}),
            "on Resource '*'",
        ),
        (
            lambda t: t["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
                "Statement"
            ].append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}),
            "on Resource '*'",
        ),
        (lambda t: t["Resources"]["FunctionLogs"]["Properties"].pop("RetentionInDays"), "forever"),
        (
            lambda t: t["Resources"]["UploadsBucket"]["Properties"][
                "PublicAccessBlockConfiguration"
            ].update(BlockPublicPolicy=False),
            "public access",
        ),
        (lambda t: t["Resources"].pop("StaticBucketPolicy"), "TLS-only"),
        (
            lambda t: t["Resources"]["RuleFilesInspectUpload"]["Properties"]["EventPattern"].update(
                {"detail-type": ["files.FileUploadd"]}
            ),
            "which no app declares",
        ),
    ],
)
def test_the_checks_catch_each_kind_of_violation(inputs, mutate, finding):
    template = copy.deepcopy(render(inputs))
    mutate(template)
    assert any(finding in line for line in problems(template, **_checked(inputs)))


def test_a_timeout_at_api_gateways_limit_is_refused(inputs):
    found = problems(render(inputs), function_timeout=29, event_types=inputs.declared_types)
    assert any("not below" in p for p in found)


def test_the_function_role_is_scoped_to_the_stacks_resources(inputs):
    role = render(inputs)["Resources"]["FunctionRole"]["Properties"]
    assert role["RoleName"] == "nimbus-dev-function"
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["Metrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "Nimbus"}
    }
    assert statements["PublishEvents"]["Resource"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    wildcard = {sid for sid, s in statements.items() if s["Resource"] == "*"}
    # Lambda creates and lists the function's network interfaces before they exist.
    assert wildcard == {"Tracing", "Metrics", "TaskTokens", "VpcNetworkInterfaces"}


def test_render_command_writes_the_template(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    (tmp_path / "zappa_settings.json").write_text((REPO / "zappa_settings.json").read_text())
    call_command("infra", "render", "prod")
    written = json.loads((tmp_path / "build" / "infra" / "prod.json").read_text())
    assert written["Resources"]["FunctionRole"]["Properties"]["RoleName"] == "nimbus-prod-function"


def test_lint_command_passes_for_both_stages(capsys):
    call_command("infra", "lint")
    out = capsys.readouterr().out
    assert "dev: clean" in out
    assert "prod: clean" in out


def test_diff_command_lists_the_changes_and_leaves_no_stack_behind(capsys):
    import boto3
    from moto import mock_aws

    with mock_aws():
        call_command("infra", "diff", "dev")
        summaries = boto3.client("cloudformation", region_name="us-east-1").list_stacks()
        statuses = {s["StackName"]: s["StackStatus"] for s in summaries["StackSummaries"]}
    out = capsys.readouterr().out
    assert "Add     FunctionRole [AWS::IAM::Role]" in out
    assert "Add     UploadsBucket [AWS::S3::Bucket]" in out
    assert statuses == {"nimbus-dev-infra": "DELETE_COMPLETE"}


def test_lint_still_refuses_unknown_fields_on_a_succeed_state(inputs):
    template = render(inputs)
    machine = template["Resources"]["WorkflowFileReview"]["Properties"]["Definition"]
    machine["States"]["Fan"]["Branches"][0]["States"]["Done"]["Bogus"] = 1
    assert any("E3601" in line and "Bogus" in line for line in lint(template))


def test_the_workflows_apps_converter_and_ours_agree():
    from apps.workflows.engine.aws import to_state_machine

    assert to_state_machine(json.loads(json.dumps(REVIEW_ASL)), "${FunctionArn}") == (
        substitute_tasks(REVIEW_ASL)
    )
