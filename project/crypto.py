"""Envelope encryption for sensitive model fields (KMS on AWS, a local keyring elsewhere).

Each value is encrypted with AES-256-GCM under a *data key*; the data key itself is stored
next to the ciphertext, wrapped by a *master key* that never leaves its keyring:

* ``KmsKeyring`` (AWS): KMS ``GenerateDataKey`` / ``Decrypt`` with an encryption context
  naming the field, so a ciphertext copied to another column does not decrypt;
* ``LocalKeyring`` (embedded default): master keys from ``OPTIONS["keys"]`` (base64, 32
  bytes) or, when empty, derived from ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``.

Rotation: encryption always uses the current master key (the KMS key named in settings;
the first local key), decryption finds the key a value was written with (KMS reads it from
the blob; locally a key id is stored), so old values keep decrypting. :func:`rotate`
re-encrypts a value under the current key.

Data keys are cached (``DataKeyCache``): one KMS call per field per ``max_age`` seconds or
``max_uses`` encryptions, and unwrapped keys are remembered, so reading a page of rows
does not make a KMS call per row.

Stored form: ``enc:v1:<base64url>`` of ``provider (1) | wrapped length (2) | wrapped | nonce
(12) | ciphertext+tag``. Settings: ``NIMBUS_FIELD_ENCRYPTION`` (alias dict).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from project.backends import Backend, handler
from project.errors import NimbusError

PREFIX = "enc:v1:"
_LOCAL, _KMS = 1, 2


class DecryptionError(NimbusError):
    """A stored value could not be decrypted (wrong key, tampered, another field's value)."""

    code = "decryption_failed"
    status = 500


class DataKeyCache:
    """Thread-safe cache of plaintext data keys: for encryption and for unwrapping."""

    def __init__(self, *, max_age: float = 300.0, max_uses: int = 1000, max_keys: int = 512):
        self.max_age, self.max_uses, self.max_keys = max_age, max_uses, max_keys
        self._lock = threading.Lock()
        self._current: dict[str, tuple[bytes, bytes, float, int]] = {}
        self._unwrapped: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()

    def for_encryption(self, context: str) -> tuple[bytes, bytes] | None:
        with self._lock:
            entry = self._current.get(context)
            if entry is None:
                return None
            key, wrapped, born, uses = entry
            if time.monotonic() - born > self.max_age or uses >= self.max_uses:
                del self._current[context]
                return None
            self._current[context] = (key, wrapped, born, uses + 1)
            return key, wrapped

    def remember(self, context: str, key: bytes, wrapped: bytes) -> None:
        with self._lock:
            self._current[context] = (key, wrapped, time.monotonic(), 1)
            self._store(wrapped + context.encode(), key)

    def unwrapped(self, wrapped: bytes, context: str) -> bytes | None:
        with self._lock:
            entry = self._unwrapped.get(wrapped + context.encode())
            if entry is None or time.monotonic() - entry[1] > self.max_age:
                return None
            return entry[0]

    def store_unwrapped(self, wrapped: bytes, context: str, key: bytes) -> None:
        with self._lock:
            self._store(wrapped + context.encode(), key)

    def _store(self, cache_key: bytes, key: bytes) -> None:
        self._unwrapped[cache_key] = (key, time.monotonic())
        self._unwrapped.move_to_end(cache_key)
        while len(self._unwrapped) > self.max_keys:
            self._unwrapped.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._current.clear()
            self._unwrapped.clear()


class Keyring(Backend):
    """Makes and unwraps data keys. ``context`` is a canonical JSON string."""

    provider: ClassVar[int]
    default_options: ClassVar[Mapping[str, Any]] = {"cache_max_age": 300.0, "cache_max_uses": 1000}

    def __init__(self, alias: str = "default", **options: Any) -> None:
        super().__init__(alias, **options)
        self.cache = DataKeyCache(
            max_age=float(self.options["cache_max_age"]),
            max_uses=int(self.options["cache_max_uses"]),
        )

    def generate(self, context: str) -> tuple[bytes, bytes]:
        """A new ``(plaintext data key, wrapped data key)`` under the current master key."""
        raise NotImplementedError

    def unwrap(self, wrapped: bytes, context: str) -> bytes:
        raise NotImplementedError

    def is_current(self, wrapped: bytes) -> bool:
        """True when ``wrapped`` was made with the current master key."""
        raise NotImplementedError

    def data_key(self, context: str) -> tuple[bytes, bytes]:
        cached = self.cache.for_encryption(context)
        if cached is not None:
            return cached
        key, wrapped = self.generate(context)
        self.cache.remember(context, key, wrapped)
        return key, wrapped

    def cached_unwrap(self, wrapped: bytes, context: str) -> bytes:
        key = self.cache.unwrapped(wrapped, context)
        if key is None:
            key = self.unwrap(wrapped, context)
            self.cache.store_unwrapped(wrapped, context, key)
        return key


def _aesgcm(key: bytes) -> Any:
    """cryptography's AES-GCM with ``key``. cryptography is imported on the first
    encryption or decryption, not with the models whose fields use it: that import is
    ~15 ms of every cold start, and /healthz or most pages decrypt nothing."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _derive(secret: str) -> bytes:
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(
        algorithm=SHA256(), length=32, salt=b"nimbus", info=b"nimbus-field-encryption"
    ).derive(secret.encode())


class LocalKeyring(Keyring):
    """Master keys from settings; the first encrypts, all decrypt (rotation)."""

    provider = _LOCAL
    is_local = True
    default_options: ClassVar[Mapping[str, Any]] = {**Keyring.default_options, "keys": []}

    def __init__(self, alias: str = "default", **options: Any) -> None:
        super().__init__(alias, **options)
        configured = [base64.b64decode(k) for k in self.options["keys"]]
        if any(len(k) != 32 for k in configured):
            raise ImproperlyConfigured("NIMBUS_FIELD_ENCRYPTION keys must be 32 bytes (base64).")
        if not configured:
            secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
            configured = [_derive(s) for s in secrets if s]
        if not configured:
            raise ImproperlyConfigured("LocalKeyring needs OPTIONS['keys'] or a SECRET_KEY.")
        self.keys = {hashlib.sha256(k).digest()[:8]: k for k in configured}
        self.current_id = hashlib.sha256(configured[0]).digest()[:8]

    def generate(self, context: str) -> tuple[bytes, bytes]:
        key = os.urandom(32)  # what AESGCM.generate_key(bit_length=256) returns
        nonce = os.urandom(12)
        wrapped = _aesgcm(self.keys[self.current_id]).encrypt(nonce, key, context.encode())
        return key, self.current_id + nonce + wrapped

    def unwrap(self, wrapped: bytes, context: str) -> bytes:
        master = self.keys.get(wrapped[:8])
        if master is None:
            raise DecryptionError("The value was encrypted with a key this site no longer has.")
        return _aesgcm(master).decrypt(wrapped[8:20], wrapped[20:], context.encode())

    def is_current(self, wrapped: bytes) -> bool:
        return wrapped[:8] == self.current_id


class KmsKeyring(Keyring):
    """AWS KMS: ``GenerateDataKey`` under ``key_id``; ``Decrypt`` finds the key in the blob."""

    provider = _KMS
    default_options: ClassVar[Mapping[str, Any]] = {
        **Keyring.default_options,
        "key_id": "",
        "region_name": None,
        "endpoint_url": None,
    }

    def __init__(self, alias: str = "default", **options: Any) -> None:
        super().__init__(alias, **options)
        if not self.options["key_id"]:
            raise ImproperlyConfigured("KmsKeyring needs OPTIONS['key_id'] (a KMS key ARN).")
        self._current_arn: str | None = None

    @property
    def client(self) -> Any:
        return self.aws_client("kms")

    def generate(self, context: str) -> tuple[bytes, bytes]:
        response = self.client.generate_data_key(
            KeyId=self.options["key_id"], KeySpec="AES_256", EncryptionContext=json.loads(context)
        )
        self._current_arn = response["KeyId"]
        return response["Plaintext"], response["CiphertextBlob"]

    def unwrap(self, wrapped: bytes, context: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.decrypt(
                CiphertextBlob=wrapped, EncryptionContext=json.loads(context)
            )
        except ClientError as exc:
            raise DecryptionError(
                f"KMS refused to decrypt: {exc.response['Error']['Code']}"
            ) from exc
        key: bytes = response["Plaintext"]
        return key

    def is_current(self, wrapped: bytes) -> bool:
        # Asking KMS which key a blob belongs to costs a call; rotation re-encrypts anyway.
        return False


keyrings = handler("NIMBUS_FIELD_ENCRYPTION", Keyring)


def _context(purpose: str) -> str:
    return json.dumps({"nimbus:purpose": purpose}, sort_keys=True, separators=(",", ":"))


def encrypt(plaintext: str, *, purpose: str) -> str:
    """``plaintext`` encrypted for ``purpose`` (e.g. ``"workflows.Callback.secret"``)."""
    keyring: Keyring = keyrings.default
    context = _context(purpose)
    key, wrapped = keyring.data_key(context)
    nonce = os.urandom(12)
    sealed = _aesgcm(key).encrypt(nonce, plaintext.encode(), context.encode() + wrapped)
    blob = struct.pack(">BH", keyring.provider, len(wrapped)) + wrapped + nonce + sealed
    return PREFIX + base64.urlsafe_b64encode(blob).decode()


def _parse(token: str) -> tuple[int, bytes, bytes, bytes]:
    if not token.startswith(PREFIX):
        raise DecryptionError("Not an encrypted value.")
    try:
        blob = base64.urlsafe_b64decode(token[len(PREFIX) :])
        provider, length = struct.unpack(">BH", blob[:3])
        wrapped, nonce, sealed = (
            blob[3 : 3 + length],
            blob[3 + length : 15 + length],
            blob[15 + length :],
        )
    except (ValueError, struct.error) as exc:
        raise DecryptionError("Malformed encrypted value.") from exc
    return provider, wrapped, nonce, sealed


def decrypt(token: str, *, purpose: str) -> str:
    """The plaintext of ``token``; :class:`DecryptionError` when it cannot be recovered."""
    from cryptography.exceptions import InvalidTag

    keyring: Keyring = keyrings.default
    provider, wrapped, nonce, sealed = _parse(token)
    if provider != keyring.provider:
        raise DecryptionError("The value was encrypted by another keyring.")
    context = _context(purpose)
    try:
        key = keyring.cached_unwrap(wrapped, context)
        return _aesgcm(key).decrypt(nonce, sealed, context.encode() + wrapped).decode()
    except InvalidTag as exc:
        raise DecryptionError("The value does not decrypt for this field.") from exc


def needs_rotation(token: str) -> bool:
    """True when ``token`` was not written with the current master key."""
    _, wrapped, _, _ = _parse(token)
    return not keyrings.default.is_current(wrapped)


def rotate(token: str, *, purpose: str) -> str:
    """``token`` re-encrypted under the current master key (and a fresh data key)."""
    return encrypt(decrypt(token, purpose=purpose), purpose=purpose)
