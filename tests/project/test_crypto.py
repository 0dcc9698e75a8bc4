"""Envelope encryption: local keyring, KMS (moto), data-key cache, rotation, model fields."""

from __future__ import annotations

import base64
import os

import boto3
import pytest
from django.core.exceptions import FieldError
from django.db import connection, models
from django.test.utils import isolate_apps
from moto import mock_aws

from project import crypto
from project.fields import EncryptedJSONField, EncryptedTextField

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()


def _local(settings, *keys: str) -> None:
    settings.NIMBUS_FIELD_ENCRYPTION = {
        "default": {"BACKEND": "project.crypto.LocalKeyring", "OPTIONS": {"keys": list(keys)}}
    }


def test_local_round_trip_is_randomised_and_bound_to_its_purpose(settings):
    _local(settings, KEY_A)
    one = crypto.encrypt("callback secret", purpose="workflows.Callback.secret")
    two = crypto.encrypt("callback secret", purpose="workflows.Callback.secret")
    assert one.startswith("enc:v1:")
    assert one != two
    assert "callback secret" not in one
    assert crypto.decrypt(one, purpose="workflows.Callback.secret") == "callback secret"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(one, purpose="users.Profile.note")


def test_tampered_or_foreign_values_do_not_decrypt(settings):
    _local(settings, KEY_A)
    token = crypto.encrypt("x", purpose="p")
    raw = bytearray(base64.urlsafe_b64decode(token[len("enc:v1:") :]))
    raw[-1] ^= 1
    tampered = "enc:v1:" + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(tampered, purpose="p")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt("plain text", purpose="p")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt("enc:v1:!!!", purpose="p")
    _local(settings, KEY_B)
    with pytest.raises(crypto.DecryptionError, match="no longer has"):
        crypto.decrypt(token, purpose="p")


def test_local_key_rotation_keeps_old_values_readable(settings):
    _local(settings, KEY_A)
    old = crypto.encrypt("s3cret", purpose="p")
    assert not crypto.needs_rotation(old)
    _local(settings, KEY_B, KEY_A)  # B is current, A still decrypts
    assert crypto.decrypt(old, purpose="p") == "s3cret"
    assert crypto.needs_rotation(old)
    new = crypto.rotate(old, purpose="p")
    assert not crypto.needs_rotation(new)
    _local(settings, KEY_B)  # A retired
    assert crypto.decrypt(new, purpose="p") == "s3cret"


def test_without_keys_the_local_keyring_follows_secret_key_rotation(settings):
    settings.NIMBUS_FIELD_ENCRYPTION = {
        "default": {"BACKEND": "project.crypto.LocalKeyring", "OPTIONS": {}}
    }
    settings.SECRET_KEY = "old-secret-key-" + "o" * 40
    token = crypto.encrypt("v", purpose="p")
    settings.SECRET_KEY = "new-secret-key-" + "n" * 40
    settings.SECRET_KEY_FALLBACKS = ["old-secret-key-" + "o" * 40]
    crypto.keyrings.reset()
    assert crypto.decrypt(token, purpose="p") == "v"
    assert crypto.needs_rotation(token)


def test_bad_local_keys_are_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    _local(settings, base64.b64encode(b"short").decode())
    with pytest.raises(ImproperlyConfigured, match="32 bytes"):
        crypto.encrypt("x", purpose="p")


@pytest.fixture
def kms(settings):
    with mock_aws():
        client = boto3.client("kms", region_name="us-east-1")
        key_id = client.create_key(Description="nimbus-test")["KeyMetadata"]["Arn"]
        settings.NIMBUS_FIELD_ENCRYPTION = {
            "default": {
                "BACKEND": "project.crypto.KmsKeyring",
                "OPTIONS": {"key_id": key_id, "region_name": "us-east-1"},
            }
        }
        yield client, key_id


def _count_calls(operation: str) -> list[str]:
    calls: list[str] = []
    client = crypto.keyrings.default.client
    client.meta.events.register(
        f"before-call.kms.{operation}", lambda **kwargs: calls.append(operation)
    )
    return calls


def test_kms_envelope_round_trip_caches_data_keys(kms):
    generated = _count_calls("GenerateDataKey")
    decrypted = _count_calls("Decrypt")
    tokens = [crypto.encrypt(f"secret {i}", purpose="files.File.note") for i in range(50)]
    assert len(generated) == 1  # one data key for 50 values
    crypto.keyrings.default.cache.clear()
    assert [crypto.decrypt(t, purpose="files.File.note") for t in tokens] == [
        f"secret {i}" for i in range(50)
    ]
    assert len(decrypted) == 1  # unwrapped once, then cached
    crypto.keyrings.default.cache.clear()
    with pytest.raises(crypto.DecryptionError, match="KMS refused"):
        crypto.decrypt(tokens[0], purpose="files.File.other")


def test_kms_data_keys_expire_after_max_uses(kms, settings):
    settings.NIMBUS_FIELD_ENCRYPTION["default"]["OPTIONS"]["cache_max_uses"] = 3
    crypto.keyrings.reset()
    generated = _count_calls("GenerateDataKey")
    for _ in range(7):
        crypto.encrypt("x", purpose="p")
    assert len(generated) == 3


def test_kms_key_rotation_keeps_old_values_readable(kms, settings):
    client, _first_key = kms
    old = crypto.encrypt("token-signing-secret", purpose="p")
    second_key = client.create_key(Description="nimbus-test-2")["KeyMetadata"]["Arn"]
    settings.NIMBUS_FIELD_ENCRYPTION = {
        "default": {
            "BACKEND": "project.crypto.KmsKeyring",
            "OPTIONS": {"key_id": second_key, "region_name": "us-east-1"},
        }
    }
    assert crypto.decrypt(old, purpose="p") == "token-signing-secret"
    new = crypto.rotate(old, purpose="p")
    wrapped = crypto._parse(new)[1]
    assert (
        client.decrypt(CiphertextBlob=wrapped, EncryptionContext={"nimbus:purpose": "p"})["KeyId"]
        == second_key
    )


def test_a_local_value_is_refused_by_the_kms_keyring(kms, settings):
    local_settings = {
        "default": {"BACKEND": "project.crypto.LocalKeyring", "OPTIONS": {"keys": [KEY_A]}}
    }
    kms_settings = settings.NIMBUS_FIELD_ENCRYPTION
    settings.NIMBUS_FIELD_ENCRYPTION = local_settings
    token = crypto.encrypt("x", purpose="p")
    settings.NIMBUS_FIELD_ENCRYPTION = kms_settings
    with pytest.raises(crypto.DecryptionError, match="another keyring"):
        crypto.decrypt(token, purpose="p")


# --- model fields ------------------------------------------------------------------------


@pytest.fixture
def secret_model(settings):
    """A throwaway model with encrypted fields and its table (dropped afterwards)."""
    _local(settings, KEY_A)
    with isolate_apps("project"):

        class Vault(models.Model):
            note = EncryptedTextField(null=True, blank=True)
            data = EncryptedJSONField(null=True, blank=True)

            class Meta:
                app_label = "nimbus"
                db_table = f"nimbus_test_vault_{os.getpid()}"

            def __str__(self) -> str:
                return f"vault {self.pk}"

        with connection.schema_editor() as editor:
            editor.create_model(Vault)
        try:
            yield Vault
        finally:
            with connection.schema_editor() as editor:
                editor.delete_model(Vault)


@pytest.mark.django_db(transaction=True)
def test_encrypted_fields_store_ciphertext_and_read_plaintext(secret_model):
    row = secret_model.objects.create(note="my api key 12345", data={"token": "t-1", "n": [1, 2]})
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT note, data FROM {secret_model._meta.db_table}")  # noqa: S608
        note, data = cursor.fetchone()
    assert note.startswith("enc:v1:")
    assert "12345" not in note
    assert "t-1" not in data
    fresh = secret_model.objects.get(pk=row.pk)
    assert fresh.note == "my api key 12345"
    assert fresh.data == {"token": "t-1", "n": [1, 2]}
    empty = secret_model.objects.create()
    assert secret_model.objects.get(pk=empty.pk).note is None
    assert list(secret_model.objects.filter(note__isnull=True)) == [empty]
    with pytest.raises(FieldError, match="encrypted"):
        list(secret_model.objects.filter(note="my api key 12345"))


@pytest.mark.django_db(transaction=True)
def test_a_value_copied_to_another_column_does_not_decrypt(secret_model):
    row = secret_model.objects.create(note="for the note column")
    table = secret_model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET data = note WHERE id = %s", [row.pk])  # noqa: S608
    with pytest.raises(crypto.DecryptionError):
        secret_model.objects.get(pk=row.pk)
