"""The alias-dict backend mechanism every Nimbus capability is built on."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.core.exceptions import ImproperlyConfigured

from project.backends import Backend, BackendHandler


class GreeterBackend(Backend):
    """A tiny backend family used only to exercise the handler."""

    default_options: ClassVar[dict[str, Any]] = {"greeting": "hello", "punctuation": "!"}

    def greet(self, name: str) -> str:
        return f"{self.options['greeting']} {name}{self.options['punctuation']}"


class LocalGreeter(GreeterBackend):
    is_local = True


class NotAGreeter:
    pass


@pytest.fixture
def greeters(settings):
    settings.NIMBUS_GREETERS = {
        "default": {"BACKEND": f"{__name__}.GreeterBackend", "OPTIONS": {"greeting": "hi"}},
        "local": {"BACKEND": f"{__name__}.LocalGreeter"},
    }
    handler = BackendHandler("NIMBUS_GREETERS", GreeterBackend)
    return handler


def test_backend_is_built_lazily_with_options_merged_over_defaults(greeters):
    assert greeters.default.greet("Ana") == "hi Ana!"
    assert greeters["local"].greet("Ana") == "hello Ana!"


def test_backend_instance_is_reused_per_alias(greeters):
    assert greeters["default"] is greeters["default"]


def test_changing_the_setting_rebuilds_backends(greeters, settings):
    first = greeters.default
    settings.NIMBUS_GREETERS = {
        "default": {"BACKEND": f"{__name__}.GreeterBackend", "OPTIONS": {"greeting": "hey"}}
    }
    assert greeters.default is not first
    assert greeters.default.greet("Bo") == "hey Bo!"


def test_unknown_option_is_rejected_with_the_accepted_ones_named(greeters, settings):
    settings.NIMBUS_GREETERS = {
        "default": {"BACKEND": f"{__name__}.GreeterBackend", "OPTIONS": {"greting": "typo"}}
    }
    with pytest.raises(
        ImproperlyConfigured, match=r"unknown OPTIONS greting; accepted: greeting, punctuation"
    ):
        greeters.default  # noqa: B018


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "must be a dict with a 'default' alias"),
        ({"default": {"OPTIONS": {}}}, "needs a 'BACKEND' dotted path"),
        ({"default": {"BACKEND": "x", "OPTONS": {}}}, "unknown keys OPTONS"),
        ({"default": {"BACKEND": "no.such.Module"}}, "cannot import backend 'no.such.Module'"),
        ({"default": {"BACKEND": f"{__name__}.NotAGreeter"}}, "is not a"),
    ],
)
def test_bad_configuration_fails_with_a_clear_message(greeters, settings, value, message):
    settings.NIMBUS_GREETERS = value
    with pytest.raises(ImproperlyConfigured, match=message):
        greeters.default  # noqa: B018


def test_unknown_alias_is_refused(greeters):
    with pytest.raises(ImproperlyConfigured, match="doesn't exist"):
        greeters["nope"]


def test_check_flags_local_backends_under_deploy_checks(greeters):
    ids = [m.id for m in greeters.check(deploy=True)]
    assert ids == ["nimbus.E003"]
    assert greeters.check() == []


class AwsGreeter(GreeterBackend):
    default_options: ClassVar[dict[str, Any]] = {
        **GreeterBackend.default_options,
        "region_name": "eu-west-1",
        "endpoint_url": None,
    }


def test_aws_client_is_made_once_per_thread_from_the_backends_options():
    import threading

    backend = AwsGreeter("default", region_name="eu-central-1")
    client = backend.aws_client("sqs")
    assert client.meta.region_name == "eu-central-1"
    assert backend.aws_client("sqs") is client
    assert (
        backend.aws_client("s3", signature_version="s3v4").meta.config.signature_version == "s3v4"
    )

    other: list[Any] = []
    thread = threading.Thread(target=lambda: other.append(backend.aws_client("sqs")))
    thread.start()
    thread.join()
    assert other[0] is not client
    assert AwsGreeter("default").aws_client("sqs") is not client
