"""SnapStart's runtime hooks (project/snapshot.py), run the way the Lambda runtime runs them.

The runtime imports the handler module (init), calls every hook registered with
``snapshot_restore_py`` for *before snapshot*, snapshots, and in each restored environment
calls the *after restore* hooks. A fresh interpreter stands in for one environment: the
probe imports ``project.entrypoints``, runs the registered hooks from the runtime's
registry, and reports what the snapshot would carry and what a restore renewed.
"""

from __future__ import annotations

import sys

import boto3
import pytest
from moto import mock_aws

from project import secrets, snapshot
from tests.support import fresh_python

_RESTORE = """
import json, random, sys
import snapshot_restore_py as runtime

import project.entrypoints  # Lambda's init: registers the hooks
registered = [f.__name__ for f, _, _ in runtime.get_before_snapshot()]
for func, args, kwargs in runtime.get_before_snapshot():
    func(*args, **kwargs)

from django.apps import apps
from django.db import connection
from project import backends
from project.entrypoints import apigateway

warmed = {
    "django_ready": apps.ready,
    "wsgi_handler": apigateway._application is not None,
    "modules": [m for m in ("ninja", "jwt", "django.core.handlers.wsgi") if m in sys.modules],
    "connection_closed": connection.connection is None,
}

# What the snapshot would carry into every environment restored from it:
connection.ensure_connection()
opened = connection.connection
backend = backends.registry[0].default
random.seed(7)
state = random.getstate()
same_sequence = random.random()
random.setstate(state)
from aws_xray_sdk.core import xray_recorder
xray_recorder.configure(context_missing="LOG_ERROR")
xray_recorder.begin_segment("init")
emitter = xray_recorder.emitter

for func, args, kwargs in runtime.get_after_restore():
    func(*args, **kwargs)

first = random.random()
renewed_connection = connection.connection is None
# A second environment restored from the same snapshot draws another sequence.
random.setstate(state)
for func, args, kwargs in runtime.get_after_restore():
    func(*args, **kwargs)
second = random.random()
renewed = {
    "connection": renewed_connection,
    "backend": backends.registry[0].default is not backend,
    "random": len({first, second, same_sequence}) == 3,
    "xray_segment": not getattr(xray_recorder.context._local, "entities", None),
    "xray_emitter": xray_recorder.emitter is not emitter,
}
connection.ensure_connection()
print(json.dumps({
    "registered": registered,
    "after": [f.__name__ for f, _, _ in runtime.get_after_restore()],
    "warmed": warmed,
    "renewed": renewed,
    "usable_after_restore": connection.connection is not opened,
}))
"""


def test_a_simulated_restore_renews_connections_clients_seeds_and_the_trace():
    result = fresh_python(_RESTORE)
    assert result["registered"] == ["before_snapshot"]
    assert result["after"] == ["after_restore"]
    warmed = result["warmed"]
    assert warmed["django_ready"]
    assert warmed["wsgi_handler"]
    assert warmed["modules"] == ["ninja", "jwt", "django.core.handlers.wsgi"]
    assert warmed["connection_closed"]  # no connection is captured open
    assert result["renewed"] == {
        "connection": True,
        "backend": True,
        "random": True,
        "xray_segment": True,
        "xray_emitter": True,
    }
    assert result["usable_after_restore"]  # a new connection, not the snapshot's


@mock_aws
def test_after_a_restore_configuration_is_fetched_again_with_fresh_clients(monkeypatch):
    """Powertools caches values and the clients (with the snapshot's credentials) that
    fetched them; a restored environment asks again."""
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/nimbus/dev/SIGNING_KEY", Value="before", Type="SecureString")
    monkeypatch.setenv("NIMBUS_PARAMETERS_PATH", "/nimbus/dev/")
    monkeypatch.delenv("SIGNING_KEY", raising=False)
    secrets.clear_cache()
    assert secrets.config_value("SIGNING_KEY") == "before"
    ssm.put_parameter(
        Name="/nimbus/dev/SIGNING_KEY", Value="after", Type="SecureString", Overwrite=True
    )
    assert secrets.config_value("SIGNING_KEY") == "before"  # cached for max_age
    snapshot.after_restore()
    assert secrets.config_value("SIGNING_KEY") == "after"


def test_without_the_runtimes_module_nothing_is_registered(monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails
    assert snapshot.register(lambda: None) is False


@pytest.mark.parametrize("module", snapshot.WARM_MODULES)
def test_every_warmed_module_exists(module):
    import importlib.util

    assert importlib.util.find_spec(module) is not None
