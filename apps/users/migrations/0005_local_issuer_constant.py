"""Accounts of the local identity provider keyed by its constant issuer.

The local provider used to name itself ``<NIMBUS_SITE_URL>/identity``, so serving the site
on another address issued tokens whose ``iss`` matched no account, and signing in then
refused the person with "Another account already uses this email address". Accounts it
made under any address are re-keyed to ``urn:nimbus:identity:local`` (Cognito issuers
never end in ``/identity``).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

LOCAL_ISSUER = "urn:nimbus:identity:local"


def rekey(apps: Any, schema_editor: Any) -> None:
    User = apps.get_model("users", "User")
    User.objects.filter(issuer__endswith="/identity").update(issuer=LOCAL_ISSUER)


class Migration(migrations.Migration):
    dependencies = [("users", "0004_identity_link")]
    operations = [migrations.RunPython(rekey, migrations.RunPython.noop)]
