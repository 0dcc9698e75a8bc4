"""Task tokens move from a Fernet key derived from SECRET_KEY to the site's keyring
(project.fields.EncryptedTextField: KMS envelope encryption on AWS, with rotation).

Waiting tokens are re-encrypted in place, so tasks paused across the deploy can still be
approved from the admin. Both columns are text: only the stored values change.
"""

import base64
import hashlib

from django.conf import settings
from django.db import migrations

import project.fields

PURPOSE = "workflows.TaskToken.sealed"  # EncryptedTextField.purpose of the new field


def _opened(sealed, secret_keys):
    """The token Fernet-sealed under SECRET_KEY (or one of its fallbacks)."""
    from cryptography.fernet import Fernet, InvalidToken

    for secret_key in secret_keys:
        key = hashlib.sha256(f"nimbus.workflows.tokens:{secret_key}".encode()).digest()
        try:
            return Fernet(base64.urlsafe_b64encode(key)).decrypt(sealed.encode()).decode()
        except InvalidToken:
            continue
    raise RuntimeError("A waiting task token cannot be read with SECRET_KEY or its fallbacks.")


def reencrypt(apps, schema_editor):
    from project import crypto

    TaskToken = apps.get_model("workflows", "TaskToken")
    rows = TaskToken.objects.using(schema_editor.connection.alias)
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    for pk, sealed in rows.values_list("pk", "sealed"):
        token = _opened(sealed, secret_keys) if sealed else ""
        rows.filter(pk=pk).update(sealed=crypto.encrypt(token, purpose=PURPOSE))


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(reencrypt, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="tasktoken",
            name="sealed",
            field=project.fields.EncryptedTextField(blank=True),
        ),
    ]
