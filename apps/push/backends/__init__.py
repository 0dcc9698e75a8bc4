"""The push backend family (``settings.NIMBUS_PUSH``)."""

from __future__ import annotations

from project.backends import handler

from .base import MAX_MESSAGE_BYTES, PushBackend, user_group

push_backends = handler("NIMBUS_PUSH", PushBackend)


def push_backend(alias: str = "default") -> PushBackend:
    """The configured push backend (built on first use, per thread)."""
    return push_backends[alias]


__all__ = ["MAX_MESSAGE_BYTES", "PushBackend", "push_backend", "push_backends", "user_group"]
