"""Cognito user-pool triggers, fed as real payloads through the Lambda entry and Zappa."""

from __future__ import annotations

import pytest

from apps.users.exceptions import EmailTaken, UserDisabled
from apps.users.models import User

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE"
SUB = "4a5b6c7d-1111-2222-3333-444455556666"

pytestmark = pytest.mark.django_db


def test_post_confirmation_creates_the_local_account(lambda_entry, aws_event, lambda_context):
    event = aws_event("cognito_post_confirmation")
    result = lambda_entry(event, lambda_context)
    assert result == event  # Cognito wants the event back
    user = User.objects.get(email="ana@example.com")
    assert (user.issuer, user.subject) == (ISSUER, SUB)
    assert user.email_verified
    assert not user.has_usable_password()


def test_post_confirmation_is_idempotent_and_keeps_groups(
    lambda_entry, aws_event, lambda_context, make_user
):
    lambda_entry(aws_event("cognito_post_confirmation"), lambda_context)
    user = User.objects.get(email="ana@example.com")
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.create(name="editors"))
    lambda_entry(aws_event("cognito_post_confirmation"), lambda_context)
    assert User.objects.filter(email="ana@example.com").count() == 1
    assert list(user.groups.values_list("name", flat=True)) == ["editors"]


def test_post_confirmation_adopts_an_unkeyed_account_with_its_email(
    lambda_entry, aws_event, lambda_context
):
    existing = User.objects.create_superuser("ana@example.com", "Adm1n-password!")
    lambda_entry(aws_event("cognito_post_confirmation"), lambda_context)
    existing.refresh_from_db()
    assert (existing.issuer, existing.subject) == (ISSUER, SUB)


def test_post_confirmation_never_takes_over_another_identitys_account(
    lambda_entry, aws_event, lambda_context, make_user
):
    existing = make_user(email="ana@example.com")  # keyed by the local provider
    with pytest.raises(EmailTaken):
        lambda_entry(aws_event("cognito_post_confirmation"), lambda_context)
    existing.refresh_from_db()
    assert existing.subject != SUB


def test_pre_sign_up_passes_a_new_address(lambda_entry, aws_event, lambda_context):
    event = aws_event("cognito_pre_sign_up")
    assert lambda_entry(event, lambda_context)["response"]["autoConfirmUser"] is False
    assert not User.objects.exists()  # nothing is written before confirmation


def test_pre_sign_up_refuses_a_disabled_accounts_address(
    lambda_entry, aws_event, lambda_context, make_user
):
    make_user(email="ana@example.com", is_active=False)
    with pytest.raises(UserDisabled):
        lambda_entry(aws_event("cognito_pre_sign_up"), lambda_context)


def test_pre_token_generation_passes_an_active_account_and_writes_nothing(
    lambda_entry, aws_event, lambda_context, make_user, django_assert_max_num_queries
):
    user = make_user(email="ana@example.com", name="Old name")
    User.objects.filter(pk=user.pk).update(issuer=ISSUER, subject=SUB)
    event = aws_event("cognito_pre_token_generation")
    with django_assert_max_num_queries(1):  # one exists() read, no sync
        result = lambda_entry(event, lambda_context)
    assert result["response"] == {"claimsOverrideDetails": None}  # no claims added
    user.refresh_from_db()
    assert user.name == "Old name"  # the id token's name arrives through the request's sync
    assert not user.groups.exists()
    assert not user.is_staff


def test_pre_token_generation_creates_no_account(lambda_entry, aws_event, lambda_context):
    lambda_entry(aws_event("cognito_pre_token_generation"), lambda_context)
    assert not User.objects.exists()


def test_pre_token_generation_v2_returns_the_event_unchanged(
    lambda_entry, aws_event, lambda_context
):
    event = aws_event("cognito_pre_token_generation")
    event["version"] = "2"
    event["response"] = {"claimsAndScopeOverrideDetails": None}
    result = lambda_entry(event, lambda_context)
    assert result["response"] == {"claimsAndScopeOverrideDetails": None}


def test_pre_token_generation_refuses_a_disabled_account(
    lambda_entry, aws_event, lambda_context, make_user
):
    user = make_user(email="ana@example.com")
    User.objects.filter(pk=user.pk).update(issuer=ISSUER, subject=SUB, is_active=False)
    with pytest.raises(UserDisabled):
        lambda_entry(aws_event("cognito_pre_token_generation"), lambda_context)


def test_pre_token_generation_refuses_a_disabled_unkeyed_account_with_its_email(
    lambda_entry, aws_event, lambda_context
):
    User.objects.create_superuser("ana@example.com", "Adm1n-password!", is_active=False)
    with pytest.raises(UserDisabled):
        lambda_entry(aws_event("cognito_pre_token_generation"), lambda_context)


def test_unknown_trigger_source_raises(lambda_entry, aws_event, lambda_context):
    event = aws_event("cognito_post_confirmation")
    event["triggerSource"] = "CustomMessage_SignUp"
    with pytest.raises(ValueError, match="CustomMessage_SignUp"):
        lambda_entry(event, lambda_context)
