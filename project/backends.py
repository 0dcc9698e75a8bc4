"""One mechanism for every pluggable capability of Nimbus.

Each family (identity, uploads, events, workflows, push, ...) is configured the way Django
configures ``STORAGES`` and ``CACHES``::

    NIMBUS_UPLOADS = {
        "default": {"BACKEND": "apps.files.backends.local.LocalUploadBackend",
                    "OPTIONS": {"max_bytes": 10_000_000}},
    }

and reached through a :class:`BackendHandler`. Backends are created on first use, one per
alias, and thrown away when the setting changes (``override_settings`` in tests). Every
backend subclasses :class:`Backend`, declares the ``OPTIONS`` it accepts, and refuses any
other key at construction so a typo fails loudly rather than silently using a default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, cast

from asgiref.local import Local
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.connection import BaseConnectionHandler
from django.utils.module_loading import import_string

from project.aws import aws_client

DEFAULT_ALIAS = "default"


class Backend:
    """Base class of every backend family.

    Subclasses list accepted option names and their defaults in ``default_options``;
    the merged values are available as ``self.options``. ``check()`` returns Django system
    check messages (e.g. a local backend selected under production settings).
    """

    #: Accepted ``OPTIONS`` keys and their defaults.
    default_options: ClassVar[Mapping[str, Any]] = {}
    #: True for backends that only make sense on a laptop (refused in production).
    is_local: ClassVar[bool] = False

    def __init__(self, alias: str = DEFAULT_ALIAS, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            accepted = ", ".join(sorted(self.default_options)) or "none"
            raise ImproperlyConfigured(
                f"{type(self).__name__} (alias {alias!r}) got unknown OPTIONS "
                f"{', '.join(unknown)}; accepted: {accepted}."
            )
        self.alias = alias
        self.options: dict[str, Any] = {**self.default_options, **options}

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return []

    def aws_client(self, service: str, **config: Any) -> Any:
        """This thread's boto3 client for ``service`` in this backend's region and endpoint
        (``region_name`` / ``endpoint_url`` options); ``config`` is botocore ``Config``'s.
        The one client path: :func:`project.aws.aws_client`."""
        return aws_client(
            service,
            region_name=self.options.get("region_name"),
            endpoint_url=self.options.get("endpoint_url"),
            **config,
        )


class BackendHandler[B: Backend](BaseConnectionHandler):
    """Lazily builds and caches the backends named in one alias-dict setting.

    ``handler["alias"]`` and ``handler.default`` are typed as the family's base class.
    """

    exception_class = ImproperlyConfigured
    settings_name: str

    def __init__(self, settings_name: str, base_class: type[B]) -> None:
        super().__init__()
        self.settings_name = settings_name
        self.base_class = base_class
        setting_changed.connect(self._on_setting_changed, weak=False)

    def __getitem__(self, alias: str) -> B:
        return cast(B, super().__getitem__(alias))

    @property
    def default(self) -> B:
        return self[DEFAULT_ALIAS]

    def configure_settings(self, settings_value: Any) -> dict[str, Any]:
        value = (
            getattr(settings, self.settings_name, None)
            if settings_value is None
            else settings_value
        )
        if not isinstance(value, Mapping) or DEFAULT_ALIAS not in value:
            raise ImproperlyConfigured(
                f"settings.{self.settings_name} must be a dict with a {DEFAULT_ALIAS!r} alias."
            )
        for alias, conf in value.items():
            if not isinstance(conf, Mapping) or "BACKEND" not in conf:
                raise ImproperlyConfigured(
                    f"settings.{self.settings_name}[{alias!r}] needs a 'BACKEND' dotted path."
                )
            extra = set(conf) - {"BACKEND", "OPTIONS"}
            if extra:
                raise ImproperlyConfigured(
                    f"settings.{self.settings_name}[{alias!r}] has unknown keys "
                    f"{', '.join(sorted(extra))}; only BACKEND and OPTIONS are allowed."
                )
        return dict(value)

    def create_connection(self, alias: str) -> B:
        conf = self.settings.get(alias)
        if conf is None:
            raise ImproperlyConfigured(f"settings.{self.settings_name} has no alias {alias!r}.")
        try:
            backend_class = import_string(conf["BACKEND"])
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"settings.{self.settings_name}[{alias!r}]: cannot import backend "
                f"{conf['BACKEND']!r}: {exc}"
            ) from exc
        if not (isinstance(backend_class, type) and issubclass(backend_class, self.base_class)):
            raise ImproperlyConfigured(
                f"settings.{self.settings_name}[{alias!r}]: {conf['BACKEND']} is not a "
                f"{self.base_class.__module__}.{self.base_class.__qualname__}."
            )
        return backend_class(alias, **conf.get("OPTIONS", {}))

    def reset(self) -> None:
        """Forget every built backend and the cached setting."""
        self._connections = Local(self.thread_critical)
        self.__dict__.pop("settings", None)
        self._settings = None

    def _on_setting_changed(self, *, setting: str, **kwargs: Any) -> None:
        if setting == self.settings_name:
            self.reset()

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        messages: list[checks.CheckMessage] = []
        try:
            aliases: Iterable[str] = list(self.settings)
        except ImproperlyConfigured as exc:
            return [checks.Error(str(exc), id="nimbus.E001")]
        for alias in aliases:
            try:
                backend = self[alias]
            except ImproperlyConfigured as exc:
                messages.append(checks.Error(str(exc), id="nimbus.E002"))
                continue
            messages.extend(backend.check(**kwargs))
            if backend.is_local and kwargs.get("deploy"):
                messages.append(
                    checks.Error(
                        f"settings.{self.settings_name}[{alias!r}] uses the local backend "
                        f"{type(backend).__name__} under deployment settings.",
                        hint="Production settings select the AWS backends.",
                        id="nimbus.E003",
                    )
                )
        return messages


#: Every handler built with :func:`handler`, for the system checks.
registry: list[BackendHandler[Any]] = []


def handler[B: Backend](settings_name: str, base_class: type[B]) -> BackendHandler[B]:
    """Create and register the handler of one backend family."""
    h = BackendHandler(settings_name, base_class)
    registry.append(h)
    return h
