"""The effect is a row whose name is unique per run; the receiver hangs once, after writing
it and before committing, on the event numbered NIMBUS_KILLTEST_HANG, so the test can kill
the worker exactly mid-delivery."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Group

from apps.events.registry import receiver


@receiver("killtest.Work", name="killtest.effect")
def effect(event: Any) -> None:
    n = event.detail["n"]
    Group.objects.create(name=f"effect:{n}:{uuid.uuid4()}")
    flag = Path(os.environ["NIMBUS_KILLTEST_DIR"]) / "hanging"
    if n == int(os.environ["NIMBUS_KILLTEST_HANG"]) and not flag.exists():
        flag.write_text(str(os.getpid()))
        time.sleep(120)
