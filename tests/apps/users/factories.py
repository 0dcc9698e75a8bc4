"""Accounts for any app's tests.

Fixtures (available everywhere: tests/conftest.py imports them):

* ``user`` — a confirmed, active account on the local identity provider;
* ``other_user`` — a second one (for "cannot see each other's data" tests);
* ``user_client`` — a Django test ``Client`` signed in as ``user`` through the session
  (CSRF checks off, as Django's test client does by default);
* ``bearer_client`` — a ``Client`` sending ``Authorization: Bearer <access token>`` of
  ``user`` on every request (a real RS256 token from the local provider);
* ``make_user`` — the factory behind them: ``make_user(email=..., groups=["operators"])``.

Plain functions for non-fixture use: :func:`user_create`, :func:`access_token_for`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.test import Client

PASSWORD = "Corr3ct-Horse!"
_numbers = itertools.count(1)


def user_create(
    *,
    email: str | None = None,
    password: str = PASSWORD,
    name: str = "",
    groups: Iterable[str] = (),
    confirmed: bool = True,
    is_active: bool = True,
) -> Any:
    """A local-provider account (keyed by the provider's issuer and a fresh subject)."""
    import uuid

    from django.contrib.auth.models import Group

    from apps.users.backends import identity
    from apps.users.models import User

    user = User(
        email=email or f"person{next(_numbers)}@example.com",
        name=name,
        issuer=identity().issuer,
        subject=str(uuid.uuid4()),
        email_verified=confirmed,
        is_active=is_active,
    )
    user.set_password(password)
    user.save()
    group_names = list(groups)
    if group_names:
        user.groups.set([Group.objects.get_or_create(name=n)[0] for n in group_names])
    if "operators" in group_names:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


def access_token_for(user: Any, *, password: str = PASSWORD) -> str:
    """An access token for ``user``, signed in through the configured identity provider."""
    from apps.users.backends import identity

    return identity().sign_in(email=user.email, password=password).access_token


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    return user_create


@pytest.fixture
def user(db: None) -> Any:
    return user_create(name="Ana Example")


@pytest.fixture
def other_user(db: None) -> Any:
    return user_create(name="Bo Other")


@pytest.fixture
def user_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def bearer_client(user: Any) -> Client:
    return Client(headers={"Authorization": f"Bearer {access_token_for(user)}"})
