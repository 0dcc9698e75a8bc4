"""X-Ray tracing on Lambda: the botocore patch and subsegments (nothing elsewhere).

On Lambda (and only there) :func:`configure_tracing` patches boto3/botocore and requests
for X-Ray, and :func:`traced` opens a subsegment; elsewhere both do nothing. The patch is
applied by :func:`project.aws.aws_session`, before the first AWS client.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


def on_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def tracing_enabled() -> bool:
    return on_lambda() and os.environ.get("NIMBUS_TRACING", "true").lower() != "false"


_patched = False


def configure_tracing() -> None:
    """Patch boto3/botocore/requests for X-Ray once per container; only on Lambda.

    The recorder itself is configured by ``project.xray`` from
    ``XRAY_RECORDER`` (production settings), which patches nothing at start-up.
    """
    global _patched
    if _patched or not tracing_enabled():
        return
    from aws_xray_sdk.core import patch

    patch(("boto3", "botocore", "requests"))
    _patched = True


@contextlib.contextmanager
def traced(name: str, **annotations: Any) -> Iterator[None]:
    """An X-Ray subsegment around the block on Lambda; nothing elsewhere."""
    if not tracing_enabled():
        yield
        return
    from aws_xray_sdk.core import xray_recorder

    with xray_recorder.in_subsegment(name) as subsegment:
        if subsegment is not None:
            for key, value in annotations.items():
                if value is not None:
                    subsegment.put_annotation(key, str(value))
        yield
