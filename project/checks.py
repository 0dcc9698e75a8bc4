"""System checks: every backend family registered through project.backends.handler(), and
the Zappa settings the Lambda entry relies on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core import checks

from project import backends


@checks.register("nimbus")
def check_backends(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for handler in backends.registry:
        messages.extend(handler.check(**kwargs))
    return messages


@checks.register("nimbus")
def check_zappa_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """zappa_settings.json must not ask for HTTP handling Nimbus's adapter does not do."""
    from django.conf import settings

    from project.entrypoints.apigateway import ZAPPA_HTTP_SETTINGS

    path = Path(settings.BASE_DIR) / "zappa_settings.json"
    if not path.exists():  # inside the Lambda package: checked before it was built
        return []
    messages: list[checks.CheckMessage] = []
    for stage, options in json.loads(path.read_text()).items():
        for key, supported in ZAPPA_HTTP_SETTINGS.items():
            if options.get(key, supported) != supported:
                messages.append(
                    checks.Error(
                        f"zappa_settings.json stage {stage!r} sets {key!r}, which Nimbus's "
                        "API Gateway adapter (project/entrypoints/apigateway.py) does not "
                        "implement.",
                        hint=f"Remove it{'' if supported is None else f' or set it to {supported!r}'}.",
                        id="nimbus.E004",
                    )
                )
    return messages


@checks.register("nimbus", deploy=True)
def check_origin_secret(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Behind CloudFront the client address is only trustworthy with the origin secret."""
    from django.conf import settings

    if getattr(settings, "NIMBUS_ORIGIN_SECRET", ""):
        return []
    return [
        checks.Warning(
            "NIMBUS_ORIGIN_SECRET is not set: requests cannot be told to have come through "
            "CloudFront, so client addresses (per-address rate limits, the audit trail) "
            "fall back to X-Forwarded-For, which a direct caller can forge.",
            hint="The infra stack generates it (Secrets Manager, <stage>/origin).",
            id="nimbus.W005",
        )
    ]
