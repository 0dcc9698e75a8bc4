"""The identity backend family (``settings.NIMBUS_IDENTITY``)."""

from __future__ import annotations

from apps.users.backends.base import IdentityBackend, TokenSet
from project.backends import DEFAULT_ALIAS, handler

identity_backends = handler("NIMBUS_IDENTITY", IdentityBackend)


def identity(alias: str = DEFAULT_ALIAS) -> IdentityBackend:
    """The configured identity backend (built lazily, rebuilt when the setting changes)."""
    return identity_backends[alias]


__all__ = ["IdentityBackend", "TokenSet", "identity", "identity_backends"]
