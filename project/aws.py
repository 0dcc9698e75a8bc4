"""The one way Nimbus's code reaches AWS: a boto3 client per thread and configuration.

:func:`aws_client` returns the calling thread's client for one (service, region,
endpoint, botocore ``Config``) and makes it on first use: boto3 clients are not safe to
share between threads, and making one costs milliseconds, so each thread keeps its own.
Backends reach it through :meth:`project.backends.Backend.aws_client` (their region and
endpoint options filled in) or the :class:`AWSClient` attribute; code without a backend
(the dead-letter queues, the SQS tasks backend) calls :func:`aws_client` itself.

boto3 is imported on the first call, never at module level: a Lambda invocation that
calls no AWS service does not pay its ~130 ms import (``bench/`` and
``tests/project/test_cold_imports.py`` check this). Clients are dropped when settings
change (tests) and when a SnapStart snapshot is restored (:func:`clients_reset`: they
hold the credentials of the environment that took the snapshot).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from django.core.signals import setting_changed

from project.tracing import configure_tracing

_local = threading.local()
#: Bumped by :func:`clients_reset`; a thread's clients of an older generation are dropped.
_generation = 0


def aws_session(region_name: str | None = None) -> Any:
    """A new ``boto3.session.Session``, with the X-Ray patch applied first on Lambda.

    The patch (like boto3 itself) is loaded only by an invocation that calls AWS.
    """
    configure_tracing()
    import boto3  # cold start: boto3 costs ~130 ms, paid only by code that calls AWS

    return boto3.session.Session(region_name=region_name)


def _clients() -> dict[str, Any]:
    if getattr(_local, "generation", None) != _generation:
        _local.generation, _local.clients = _generation, {}
    clients: dict[str, Any] = _local.clients
    return clients


def aws_client(
    service: str,
    *,
    region_name: str | None = None,
    endpoint_url: str | None = None,
    **config: Any,
) -> Any:
    """This thread's boto3 client for ``service``; ``config`` is botocore ``Config``'s."""
    key = json.dumps([service, region_name, endpoint_url, config], sort_keys=True, default=str)
    clients = _clients()
    client = clients.get(key)
    if client is None:
        from botocore.config import Config  # loaded with boto3, on the first AWS call

        client = clients[key] = aws_session().client(
            service,
            region_name=region_name,
            endpoint_url=endpoint_url,
            config=Config(**config) if config else None,
        )
    return client


def cached_services() -> list[str]:
    """The services this thread holds a client for (what has reached AWS so far)."""
    return sorted({json.loads(key)[0] for key in _clients()})


def clients_reset() -> None:
    """Forget every thread's clients; each makes new ones on its next call."""
    global _generation
    _generation += 1


def _on_setting_changed(**kwargs: Any) -> None:
    clients_reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="project.aws.clients_reset")


class AWSClient:
    """A backend attribute that is this thread's client: ``dynamodb = AWSClient("dynamodb")``.

    ``endpoint_option`` names the backend option holding the endpoint (``None``: AWS's own
    endpoint); an assignment on the instance replaces the client for that backend (a
    wrapped or stubbed client), as for any attribute.
    """

    def __init__(
        self, service: str, *, endpoint_option: str | None = "endpoint_url", **config: Any
    ):
        self.service = service
        self.endpoint_option = endpoint_option
        self.config = config

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        options = instance.options
        return aws_client(
            self.service,
            region_name=options.get("region_name"),
            endpoint_url=options.get(self.endpoint_option) if self.endpoint_option else None,
            **self.config,
        )
