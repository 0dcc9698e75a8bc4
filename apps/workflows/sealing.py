"""Hashing and sealing of task tokens: the raw token is never stored or shown in clear."""

from __future__ import annotations

import base64
import hashlib

from django.conf import settings

from apps.workflows.engine.interpreter import token_hash

__all__ = ["open_sealed", "seal", "token_hash"]


def _fernet():  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet

    key = hashlib.sha256(f"nimbus.workflows.tokens:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(token: str) -> str:
    return str(_fernet().encrypt(token.encode()).decode())


def open_sealed(sealed: str) -> str:
    return str(_fernet().decrypt(sealed.encode()).decode())
