"""Lambda SnapStart: warm the function before its snapshot, renew what must not be shared.

With SnapStart (``snap_start: PublishedVersions`` in ``zappa_settings.json``) Lambda runs
the function's init once per published version, snapshots the memory, and starts every
later execution environment from that snapshot. Two things follow:

* work done before the snapshot is free for every cold start that restores it, so
  :func:`before_snapshot` does what the first invocation would otherwise pay for:
  ``django.setup()``, the WSGI handler, the URLconf, the JSON API and its OpenAPI schema,
  the token verifier's crypto, boto3's modules (no clients: see below);
* anything captured in the snapshot is shared by every environment restored from it, so
  :func:`after_restore` renews what must be unique or fresh per environment: the
  ``random`` module's state (reseeded from the OS), database connections, boto3 clients
  and the Powertools parameter cache (they hold the credentials of the environment that
  took the snapshot, which expire; Lambda gives each restored one its own), cache
  connections, and the X-Ray recorder's trace entities and emitter socket. The same
  connections are also closed before the snapshot, so none is captured open.

``os.urandom``, ``secrets`` and ``uuid.uuid4`` read the kernel's generator, which Lambda
reseeds on restore; Python's ``hash()`` seed stays that of the snapshot (Nimbus keys
nothing secret on it).

The hooks go through ``snapshot_restore_py``, which the Lambda runtime provides (Python
3.12+); it is imported only if present, so local runs and tests without it do nothing.
:func:`register` is called by :mod:`project.entrypoints` at import, i.e. during init.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable
from importlib import import_module

logger = logging.getLogger("nimbus.snapshot")

#: Imported before the snapshot: what requests otherwise load on first use.
WARM_MODULES = (
    "project.entrypoints.apigateway",
    "project.api",
    "jwt",
    "cryptography.hazmat.primitives.asymmetric.rsa",
    "cryptography.hazmat.primitives.ciphers.aead",  # encrypted fields (project.crypto)
    "filetype",  # upload inspection
    "boto3",
    "botocore.session",
)


def register(prepare: Callable[[], None]) -> bool:
    """Register the hooks with the runtime; ``prepare`` sets Django up. False (and
    nothing registered) where the runtime's ``snapshot_restore_py`` is absent."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(before_snapshot, prepare)
    register_after_restore(after_restore)
    return True


def before_snapshot(prepare: Callable[[], None]) -> None:
    prepare()
    warm()
    forget_environment()
    logger.info("Warmed for the snapshot")


def after_restore() -> None:
    forget_environment()
    random.seed()  # from os.urandom: each restored environment its own sequence
    logger.info("Restored from a snapshot: connections, clients and seeds renewed")


def warm() -> None:
    """Load and build what the first requests would (Django must be set up)."""
    from django.urls import get_resolver

    for module in WARM_MODULES:
        try:
            import_module(module)
        except ImportError:  # an optional part (e.g. boto3 outside Lambda's runtime)
            logger.warning("Not warmed: %s is not importable", module)
    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018 - imports every app's urls
    _ = resolver.reverse_dict  # populates the resolver's lookup tables
    from project.api import api

    api.get_openapi_schema()
    from project.entrypoints import apigateway

    apigateway.application()


def forget_environment() -> None:
    """Close and drop every connection and client made so far (they are rebuilt on use)."""
    from django.core.cache import caches
    from django.db import connections

    from project import aws, backends

    connections.close_all()
    for cache in caches.all(initialized_only=True):
        cache.close()
    for handler in backends.registry:
        handler.reset()
    aws.clients_reset()
    _forget_storages()
    if "aws_lambda_powertools.utilities.parameters" in sys.modules:
        from project.secrets import clear_cache

        clear_cache()
    if "aws_xray_sdk.core" in sys.modules:
        _renew_xray()


def _forget_storages() -> None:
    """django-storages' S3 storages keep their boto3 resources per storage object."""
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.files.storage import default_storage, storages
    from django.utils.functional import empty

    # Django's StorageHandler caches built storages here (django-stubs leaves it out).
    storages._storages.clear()  # type: ignore[attr-defined]
    for lazy in (default_storage, staticfiles_storage):
        lazy._wrapped = empty  # type: ignore[attr-defined]  # LazyObject's slot


def _renew_xray() -> None:
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter

    xray_recorder.clear_trace_entities()
    xray_recorder.configure(emitter=UDPEmitter())
