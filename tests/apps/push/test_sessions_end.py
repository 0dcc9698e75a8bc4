"""Every way an account's sessions end closes its open WebSockets, and only its own."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from apps.users import services
from apps.users.models import User
from tests.apps.users.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "N3w-pass-w0rd!"


def _reset(user: User) -> None:
    services.password_forgot(email=user.email)
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body)
    assert code
    services.password_reset(email=user.email, code=code.group(1), new_password=NEW_PASSWORD)


def _admin_action(admin_client, action: str, user: User) -> None:
    data = {"action": action, "_selected_action": [user.pk]}
    if action == "delete_selected":
        data["post"] = "yes"
    assert admin_client.post("/admin/users/user/", data).status_code == 302


ENDINGS = {
    "sign_out": lambda user, admin: services.account_sign_out(user=user),
    "disable": lambda user, admin: services.account_disable(user=user),
    "delete": lambda user, admin: services.account_delete(user=user),
    "password_change": lambda user, admin: services.password_change(
        user=user, old_password=PASSWORD, new_password=NEW_PASSWORD
    ),
    "password_reset": lambda user, admin: _reset(user),
    "admin_sign_out": lambda user, admin: _admin_action(admin, "sign_out_everywhere", user),
    "admin_disable": lambda user, admin: _admin_action(admin, "disable_accounts", user),
    "admin_delete": lambda user, admin: _admin_action(admin, "delete_selected", user),
    "admin_delete_view": lambda user, admin: admin.post(
        f"/admin/users/user/{user.pk}/delete/", {"post": "yes"}
    ),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_the_accounts_sockets_are_closed_after_commit(
    ending, alice, bob, dummy_push, admin_client, django_capture_on_commit_callbacks
):
    alice_id = alice.pk
    with django_capture_on_commit_callbacks(execute=True):
        ENDINGS[ending](alice, admin_client)
    assert dummy_push.closed == [alice_id]


def test_nothing_is_closed_when_the_provider_refuses(alice, dummy_push, monkeypatch):
    from apps.users.backends import identity
    from apps.users.exceptions import IdentityUnavailable

    def refuse(**kwargs):
        raise IdentityUnavailable("The identity provider is unavailable.")

    monkeypatch.setattr(identity(), "admin_delete", refuse)
    with pytest.raises(IdentityUnavailable):
        services.account_delete(user=alice)
    assert User.objects.filter(pk=alice.pk).exists()
    assert dummy_push.closed == []


def test_a_rolled_back_sign_out_closes_nothing(
    alice, dummy_push, django_capture_on_commit_callbacks
):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                services.account_sign_out(user=alice)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == []
    assert dummy_push.closed == []
