"""Tokens sealed before 0002 (Fernet under SECRET_KEY) are readable after it."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("workflows", "0001_initial")]
AFTER = [("workflows", "0002_task_token_encrypted")]


def _fernet_sealed(token: str) -> str:
    from cryptography.fernet import Fernet

    key = hashlib.sha256(f"nimbus.workflows.tokens:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key)).encrypt(token.encode()).decode()


def test_waiting_tokens_are_reencrypted_with_the_sites_keyring():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("workflows", "TaskToken")
    old.objects.create(token_hash="a" * 64, sealed=_fernet_sealed("sfn-token-1"), state_name="S")
    old.objects.create(token_hash="b" * 64, sealed="", state_name="S")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)

    from apps.workflows.models import TaskToken

    assert TaskToken.objects.get(token_hash="a" * 64).sealed == "sfn-token-1"
    assert TaskToken.objects.get(token_hash="b" * 64).sealed == ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sealed FROM workflows_tasktoken")
        stored = [row[0] for row in cursor.fetchall()]
    assert all(value and "sfn-token-1" not in value for value in stored)
