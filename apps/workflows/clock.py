"""The time the local workflow engine sees. Tests move it to drive Waits and timeouts."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
