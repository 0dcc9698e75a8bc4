"""``manage.py operators grant|revoke|list``: locally, through the Lambda entry, on Cognito.

The provider side of grant and revoke is in the identity contract (both backends); here:
the command and its refusals, the audit trail, the admin it opens, the ``zappa manage``
path, and that every Cognito call it makes is one the function's role allows.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.test import Client

from apps.users import services
from apps.users.backends import identity
from apps.users.models import User
from project.models import AuditEntry
from tests.apps.users.factories import user_create
from tests.conftest import load_aws_event

pytestmark = pytest.mark.django_db


def operators(*args: str) -> str:
    out = StringIO()
    call_command("operators", *args, stdout=out)
    return out.getvalue()


def test_grant_makes_an_audited_operator_who_reaches_the_admin(user):
    output = operators("grant", user.email.upper())
    assert f"{user.email} is now an operator." in output
    user.refresh_from_db()
    assert user.is_staff
    assert not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["operators"]
    entry = AuditEntry.objects.get()
    assert entry.action == AuditEntry.Action.OPERATOR_GRANT
    assert entry.actor_repr.startswith("manage.py operators")
    assert (entry.target_type, entry.target_id, entry.target_repr) == (
        "users.user",
        str(user.pk),
        user.email,
    )
    assert entry.detail == {"group": "operators", "changed": True}
    client = Client()
    client.force_login(user)
    assert client.get("/admin/workflows/execution/").status_code == 200


def test_granting_again_changes_nothing_but_is_audited(user):
    operators("grant", user.email)
    output = operators("grant", user.email)
    assert "already" in output
    assert list(user.groups.values_list("name", flat=True)) == ["operators"]
    details = list(AuditEntry.objects.order_by("pk").values_list("detail", flat=True))
    assert [d["changed"] for d in details] == [True, False]


def test_an_unknown_email_is_refused_with_a_non_zero_exit(capsys, monkeypatch):
    from django.db import connections

    # manage.py closes the database connections as it exits: keep the test's open.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_:
        execute_from_command_line(["manage.py", "operators", "grant", "nobody@example.com"])
    assert exit_.value.code != 0
    assert "sign up and confirm it on the site first. (user_not_found)" in capsys.readouterr().err
    assert not AuditEntry.objects.exists()
    with pytest.raises(CommandError, match="user_not_found"):
        operators("revoke", "nobody@example.com")


def test_a_disabled_account_is_not_made_an_operator():
    disabled = user_create(is_active=False)
    with pytest.raises(CommandError, match="user_disabled"):
        operators("grant", disabled.email)
    disabled.refresh_from_db()
    assert not disabled.is_staff
    assert not disabled.groups.exists()
    assert identity().admin_list_groups(email=disabled.email) == []
    assert not AuditEntry.objects.exists()


def test_revoke_ends_admin_access_and_is_audited(user):
    operators("grant", user.email)
    assert "is no longer an operator." in operators("revoke", user.email)
    user.refresh_from_db()
    assert not user.is_staff
    assert not user.groups.exists()
    entry = AuditEntry.objects.order_by("pk").last()
    assert entry is not None
    assert entry.action == AuditEntry.Action.OPERATOR_REVOKE
    assert entry.detail["changed"] is True
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 302


def test_revoking_a_superusers_operator_group_keeps_it_staff():
    root = User.objects.create_superuser("root@example.com", "R00t-password!")
    services.operator_grant(email=root.email, actor_repr="test")
    services.operator_revoke(email=root.email, actor_repr="test")
    root.refresh_from_db()
    assert root.is_staff
    assert not root.groups.exists()


def test_list_shows_operators_and_superusers(user):
    operators("grant", user.email)
    User.objects.create_superuser("root@example.com", "R00t-password!")
    assert operators("list").splitlines() == [
        f"{user.email}: in the provider's group",
        "root@example.com: NOT in the provider's group, superuser, not in the operators group",
        "2 account(s) reach the admin.",
    ]


def test_the_demo_operator_is_an_operator_by_the_group_not_a_superuser():
    from project.management.commands.devserver import DEMO_OPERATOR, Command

    Command(stdout=StringIO()).ensure_demo_operator()
    demo = User.objects.get(email=DEMO_OPERATOR)
    assert demo.is_staff
    assert not demo.is_superuser
    assert not demo.user_permissions.exists()
    assert demo.has_perm("workflows.change_tasktoken")  # through the group
    assert AuditEntry.objects.get().actor_repr == "manage.py devserver"


# -- through the Lambda entry (`zappa manage <stage> "operators grant ..."`) ---------------


def test_the_lambda_entry_runs_operators_grant(lambda_entry, lambda_context, user):
    event = load_aws_event("zappa_manage_operators_grant")
    User.objects.filter(pk=user.pk).update(email=event["manage"].split()[-1])
    assert lambda_entry(event, lambda_context) == {}
    user.refresh_from_db()
    assert user.is_staff
    assert user.groups.filter(name="operators").exists()
    assert AuditEntry.objects.get().action == AuditEntry.Action.OPERATOR_GRANT


def test_the_lambda_entry_fails_the_invocation_for_an_unknown_email(lambda_entry, lambda_context):
    with pytest.raises(CommandError, match="user_not_found"):
        lambda_entry({"manage": "operators grant nobody@example.com"}, lambda_context)


# -- on Cognito (moto) --------------------------------------------------------------------


@pytest.fixture
def on_cognito(settings, cognito_pool) -> Any:
    settings.NIMBUS_IDENTITY = cognito_pool.identity_setting()
    return cognito_pool


def _cognito_account(pool: Any, email: str) -> User:
    """An account confirmed at the pool and known here, as sign-up and confirmation leave it."""
    subject = services.account_sign_up(email=email, password="Sup3r-secret!").subject
    pool.client().admin_confirm_sign_up(UserPoolId=pool.pool_id, Username=email)
    return User.objects.get(subject=subject)


def test_an_account_the_pool_does_not_know_is_refused_and_nothing_changes(on_cognito):
    stranger = user_create(email="stranger@example.com")  # a row here, no user in the pool
    with pytest.raises(CommandError, match="user_not_found"):
        operators("grant", stranger.email)
    stranger.refresh_from_db()
    assert not stranger.is_staff
    assert not stranger.groups.exists()
    assert not AuditEntry.objects.exists()


def test_list_reads_the_pools_groups(on_cognito):
    ana = _cognito_account(on_cognito, "ana@example.com")
    operators("grant", ana.email)
    bo = _cognito_account(on_cognito, "bo@example.com")
    bo.groups.add(*ana.groups.all())  # Django's group only: the pool disagrees
    assert operators("list").splitlines() == [
        "ana@example.com: in the provider's group",
        "bo@example.com: NOT in the provider's group",
        "2 account(s) reach the admin.",
    ]


def test_every_cognito_call_it_makes_is_allowed_by_the_functions_role(on_cognito):
    from infra.template import render
    from tests.infra.conftest import sample_inputs

    ana = _cognito_account(on_cognito, "ana@example.com")
    calls: set[str] = set()
    identity().client.meta.events.register(
        "before-call.cognito-idp", lambda model, **kwargs: calls.add(model.name)
    )
    operators("grant", ana.email)
    operators("list")
    operators("revoke", ana.email)
    assert calls == {"AdminAddUserToGroup", "AdminListGroupsForUser", "AdminRemoveUserFromGroup"}

    role = render(sample_inputs())["Resources"]["FunctionRole"]["Properties"]
    (identity_statement,) = [
        s for s in role["Policies"][0]["PolicyDocument"]["Statement"] if s["Sid"] == "Identity"
    ]
    assert identity_statement["Resource"] == {"Fn::GetAtt": ["UserPool", "Arn"]}
    assert {f"cognito-idp:{c}" for c in calls} <= set(identity_statement["Action"])


def test_the_pool_actions_the_role_grants_are_every_signed_call_the_backend_makes():
    """The Cognito backend's IAM-authorised calls are declared once (POOL_ACTIONS), and the
    role's Identity statement is made from that declaration; a new admin call that is not
    declared fails here, before it fails on AWS."""
    import re

    import botocore.session
    from botocore import xform_name

    from apps.users.backends import aws
    from infra.template import render
    from tests.infra.conftest import sample_inputs

    model = botocore.session.get_session().get_service_model("cognito-idp")
    by_method = {xform_name(name): name for name in model.operation_names}
    source = Path(aws.__file__).read_text()
    called = {by_method[m] for m in re.findall(r"self\.client\.([a-z_]+)\(", source)}
    signed = {n for n in called if model.operation_model(n).auth_type != "none"}
    assert signed == aws.POOL_ACTIONS
    role = render(sample_inputs())["Resources"]["FunctionRole"]["Properties"]
    (statement,) = [
        s for s in role["Policies"][0]["PolicyDocument"]["Statement"] if s["Sid"] == "Identity"
    ]
    assert set(statement["Action"]) == {f"cognito-idp:{a}" for a in aws.POOL_ACTIONS}
