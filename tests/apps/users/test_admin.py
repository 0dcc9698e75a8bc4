"""Operators' admin: search, groups (through the provider), actions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core import mail

from apps.users.backends import identity
from apps.users.models import Profile, User
from tests.apps.users.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client, make_user):
    operator = make_user(email="op@example.com", groups=["operators"])
    operator.is_superuser = True
    operator.save()
    client.force_login(operator)
    return client


def test_search_finds_by_email(operator_client, make_user):
    make_user(email="findme@example.com")
    make_user(email="other@example.com")
    page = operator_client.get("/admin/users/user/", {"q": "findme"}).content.decode()
    assert "findme@example.com" in page
    assert "other@example.com" not in page


def _change(operator_client, user, groups):
    Profile.objects.get_or_create(user=user)
    return operator_client.post(
        f"/admin/users/user/{user.pk}/change/",
        {
            "name": user.name,
            "groups": [g.pk for g in groups],
            "profile-TOTAL_FORMS": "1",
            "profile-INITIAL_FORMS": "1",
            "profile-MIN_NUM_FORMS": "0",
            "profile-MAX_NUM_FORMS": "1",
            "profile-0-id": str(user.profile.pk),
            "profile-0-user": str(user.pk),
            "profile-0-timezone": "UTC",
            "profile-0-email_notifications": "on",
        },
    )


def test_changing_groups_reaches_the_provider_and_makes_operators_staff(operator_client, make_user):
    user = make_user(email="bo@example.com")
    operators = Group.objects.get(name="operators")
    response = _change(operator_client, user, [operators])
    assert response.status_code == 302, response.content[:2000]
    user.refresh_from_db()
    assert user.is_staff
    assert identity().admin_list_groups(email=user.email) == ["operators"]
    _change(operator_client, user, [])
    user.refresh_from_db()
    assert not user.is_staff


def test_groups_change_under_cognito(operator_client, settings, cognito_pool):
    settings.NIMBUS_IDENTITY = cognito_pool.identity_setting()
    from apps.users import services

    services.account_sign_up(email="cara@example.com", password=PASSWORD)
    user = User.objects.get(email="cara@example.com")
    response = _change(operator_client, user, [Group.objects.get(name="operators")])
    assert response.status_code == 302
    pool_groups = cognito_pool.client().admin_list_groups_for_user(
        UserPoolId=cognito_pool.pool_id, Username="cara@example.com"
    )["Groups"]
    assert [g["GroupName"] for g in pool_groups] == ["operators"]


def test_resend_confirmation_action_mails_unconfirmed_accounts_only(operator_client, make_user):
    pending = make_user(email="pending@example.com", confirmed=False)
    done = make_user(email="done@example.com")
    operator_client.post(
        "/admin/users/user/",
        {"action": "resend_confirmation", "_selected_action": [pending.pk, done.pk]},
    )
    assert [m.to for m in mail.outbox] == [["pending@example.com"]]


def test_an_operator_cannot_disable_themselves(operator_client):
    me = User.objects.get(email="op@example.com")
    operator_client.post(
        "/admin/users/user/", {"action": "disable_accounts", "_selected_action": [me.pk]}
    )
    me.refresh_from_db()
    assert me.is_active


def test_accounts_cannot_be_added_in_the_admin(operator_client):
    assert operator_client.get("/admin/users/user/add/").status_code == 403


def test_non_staff_cannot_reach_the_admin(user_client):
    response = user_client.get("/admin/users/user/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


class _ProviderCalls:
    """Records the identity provider's admin calls (and can make it refuse them)."""

    def __init__(self, monkeypatch, refuse: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict]] = []
        backend_class = type(identity())
        for method in ("admin_set_name", "admin_set_groups"):
            original = getattr(backend_class, method)

            def record(backend, *, _method=method, _original=original, **kwargs):
                self.calls.append((_method, kwargs))
                if refuse is not None:
                    raise refuse
                return _original(backend, **kwargs)

            monkeypatch.setattr(backend_class, method, record)

    def names(self) -> list[str]:
        return [method for method, _ in self.calls]


def _change_name(operator_client, user, name, groups=()):
    Profile.objects.get_or_create(user=user)
    return operator_client.post(
        f"/admin/users/user/{user.pk}/change/",
        {
            "name": name,
            "groups": [g.pk for g in groups],
            "profile-TOTAL_FORMS": "1",
            "profile-INITIAL_FORMS": "1",
            "profile-MIN_NUM_FORMS": "0",
            "profile-MAX_NUM_FORMS": "1",
            "profile-0-id": str(user.profile.pk),
            "profile-0-user": str(user.pk),
            "profile-0-timezone": "UTC",
            "profile-0-email_notifications": "on",
        },
    )


def test_changing_the_name_reaches_the_provider_and_leaves_groups_alone(
    operator_client, make_user, monkeypatch
):
    user = make_user(email="dee@example.com", name="Dee")
    provider = _ProviderCalls(monkeypatch)
    response = _change_name(operator_client, user, "Dee Renamed")
    assert response.status_code == 302, response.content[:2000]
    assert provider.calls == [
        ("admin_set_name", {"email": "dee@example.com", "name": "Dee Renamed"})
    ]
    user.refresh_from_db()
    assert user.name == "Dee Renamed"


def test_saving_without_changes_does_not_call_the_provider(operator_client, make_user, monkeypatch):
    user = make_user(email="eve@example.com", name="Eve")
    provider = _ProviderCalls(monkeypatch)
    assert _change_name(operator_client, user, "Eve").status_code == 302
    assert provider.calls == []


def test_a_name_the_provider_refuses_is_not_saved(operator_client, make_user, monkeypatch):
    from project.errors import RateLimited

    user = make_user(email="fay@example.com", name="Fay")
    provider = _ProviderCalls(monkeypatch, refuse=RateLimited("Slow down."))
    response = _change_name(operator_client, user, "Someone Else")
    assert response.status_code == 302
    assert provider.names() == ["admin_set_name"]
    user.refresh_from_db()
    assert user.name == "Fay"
    shown = [str(m) for m in operator_client.get(response["Location"]).context["messages"]]
    assert any("the provider refused the name" in m for m in shown)


def test_name_change_under_cognito_reaches_the_pool(operator_client, settings, cognito_pool):
    settings.NIMBUS_IDENTITY = cognito_pool.identity_setting()
    from apps.users import services

    services.account_sign_up(email="gus@example.com", password=PASSWORD, name="Gus")
    user = User.objects.get(email="gus@example.com")
    assert _change_name(operator_client, user, "Gus Renamed").status_code == 302
    attributes = cognito_pool.client().admin_get_user(
        UserPoolId=cognito_pool.pool_id, Username="gus@example.com"
    )["UserAttributes"]
    assert {"Name": "name", "Value": "Gus Renamed"} in attributes
    user.refresh_from_db()
    assert user.name == "Gus Renamed"


def test_a_bulk_action_reports_provider_throttling_per_account(
    operator_client, make_user, monkeypatch
):
    from apps.users import services
    from project.errors import RateLimited

    first = make_user(email="hal@example.com")
    second = make_user(email="ida@example.com")

    def sign_out(*, user):
        if user.pk == first.pk:
            raise RateLimited("Too many requests to the identity provider.")
        services._revoke_local(user)

    monkeypatch.setattr(services, "account_sign_out", sign_out)
    response = operator_client.post(
        "/admin/users/user/",
        {"action": "sign_out_everywhere", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "hal@example.com: Too many requests to the identity provider. (rate_limited)",
        "Signed out 1 account(s).",
    ]
