"""Reads of the users app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from apps.users import exceptions as exc
from apps.users.backends import identity
from apps.users.models import User

OPERATORS_GROUP = "operators"


@dataclass(frozen=True)
class OperatorRow:
    """One account that reaches the admin, as this database and the provider see it."""

    email: str
    is_active: bool
    is_superuser: bool
    in_group: bool
    #: In the provider's ``operators`` group; None when the provider does not know it.
    at_provider: bool | None


def operator_list() -> list[OperatorRow]:
    """Members of ``operators`` and superusers, by email, each checked at the provider.

    One provider call per account (Cognito ``AdminListGroupsForUser``): operators are few.
    """
    users = (
        User.objects.filter(Q(groups__name=OPERATORS_GROUP) | Q(is_superuser=True))
        .distinct()
        .order_by("email")
    )
    members = set(User.objects.filter(groups__name=OPERATORS_GROUP).values_list("pk", flat=True))
    return [
        OperatorRow(
            email=user.email,
            is_active=user.is_active,
            is_superuser=user.is_superuser,
            in_group=user.pk in members,
            at_provider=_at_provider(user.email),
        )
        for user in users
    ]


def _at_provider(email: str) -> bool | None:
    try:
        return OPERATORS_GROUP in identity().admin_list_groups(email=email)
    except exc.UserNotFound:
        return None
