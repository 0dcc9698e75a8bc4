"""Personas and helpers for the push app's tests."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth import get_user_model

_seq = itertools.count(1)


def make_user(email: str | None = None, **extra):
    email = email or f"user{next(_seq)}@example.com"
    return get_user_model().objects.create_user(email=email, password="pw-for-tests-only", **extra)


@pytest.fixture
def alice(db):
    return make_user("alice@example.com")


@pytest.fixture
def bob(db):
    return make_user("bob@example.com")


@pytest.fixture
def dummy_push(settings):
    """Swap in the recording backend; returns it."""
    settings.NIMBUS_PUSH = {"default": {"BACKEND": "apps.push.backends.dummy.DummyPushBackend"}}
    from apps.push.backends import push_backend

    return push_backend()
