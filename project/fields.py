"""Model fields whose values are stored encrypted (project.crypto envelope encryption).

    from project.fields import EncryptedTextField
    class Callback(models.Model):
        secret = EncryptedTextField()

The column holds ``enc:v1:...``; Python code sees plaintext. The encryption context names
the field (``app_label.Model.field``), so a value copied into another column does not
decrypt. Encrypted values are randomised, so only ``isnull`` lookups make sense; any
other lookup raises ``FieldError`` rather than silently matching nothing.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import FieldError
from django.db import models

from project import crypto


class EncryptedTextField(models.TextField):
    """Text encrypted at rest with the site's keyring (KMS on AWS)."""

    description = "Text (encrypted)"
    _allowed_lookups = frozenset({"isnull"})

    @property
    def purpose(self) -> str:
        return f"{self.model._meta.label}.{self.name}"

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name not in self._allowed_lookups:
            raise FieldError(f"{self.purpose} is encrypted: only isnull lookups are possible.")
        return super().get_lookup(lookup_name)

    def encode(self, value: Any) -> str:
        return value if isinstance(value, str) else str(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return None
        return crypto.encrypt(self.encode(value), purpose=self.purpose)

    def decode(self, plaintext: str) -> Any:
        return plaintext

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return self.decode(crypto.decrypt(value, purpose=self.purpose))


class EncryptedJSONField(EncryptedTextField):
    """A JSON value (dict, list, ...) encrypted at rest."""

    description = "JSON (encrypted)"

    def encode(self, value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def decode(self, plaintext: str) -> Any:
        return json.loads(plaintext)

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return crypto.encrypt(self.encode(value), purpose=self.purpose)
