"""Production configuration from Parameter Store and Secrets Manager.

Locally every value comes from the environment or ``.env``. On AWS the Lambda environment
carries only pointers, and :func:`load_aws_configuration` (called by
``project/settings/production.py`` before it ``require()``\\s anything) fills each value
that is *missing* from the environment:

* ``NIMBUS_PARAMETERS_PATH`` (e.g. ``/nimbus/prod/``): every parameter under the path,
  recursively, SecureStrings decrypted. ``/nimbus/prod/ALLOWED_HOSTS`` becomes
  ``ALLOWED_HOSTS``; nested names join with ``_`` (``/nimbus/prod/cognito/POOL_ID`` ->
  ``COGNITO_POOL_ID``).
* ``NIMBUS_SECRETS_ARN``: one or more (comma-separated) Secrets Manager secrets holding a
  JSON object. Keys become variables (``{"SECRET_KEY": ...}``). A secret shaped like the
  ones RDS/Aurora manage (``username``, ``password``, and ``host``, ``port``, ``dbname``,
  ``engine`` when it has them) becomes ``DATABASE_URL``. The master-user secret Aurora
  keeps for a cluster the stack created holds only ``username`` and ``password``: the host
  is then ``NIMBUS_DATABASE_HOST`` (the stack's RDS Proxy endpoint), which also wins over a
  ``host`` in the secret (the proxy in front of an existing database).

The environment always wins, so an operator can override one value without touching the
store. Reads go through aws-lambda-powertools Parameters, which caches values for
``POWERTOOLS_PARAMETERS_MAX_AGE`` seconds (``max_age`` here); :func:`config_value` serves
values that rotate (signing keys) at run time through the same cache.

boto3 is imported only when one of the pointers is set, so local runs never load it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("nimbus.config")

PARAMETERS_PATH_VAR = "NIMBUS_PARAMETERS_PATH"
SECRETS_ARN_VAR = "NIMBUS_SECRETS_ARN"
DATABASE_HOST_VAR = "NIMBUS_DATABASE_HOST"
#: Seconds a fetched value is reused before Parameter Store / Secrets Manager is asked again.
DEFAULT_MAX_AGE = 300

_DB_SCHEMES = {"postgres": "postgres", "postgresql": "postgres", "aurora-postgresql": "postgres"}
_NAME = re.compile(r"[^A-Za-z0-9]+")


def _max_age() -> int:
    return int(os.environ.get("NIMBUS_CONFIG_MAX_AGE", DEFAULT_MAX_AGE))


def variable_name(parameter: str) -> str:
    """``cognito/pool-id`` -> ``COGNITO_POOL_ID``: the environment name of a parameter."""
    return _NAME.sub("_", parameter.strip("/")).strip("_").upper()


def database_url(secret: dict[str, Any], host: str | None = None) -> str:
    """A ``DATABASE_URL`` from an RDS-managed secret (credentials are URL-quoted);
    ``host``, when given, instead of the secret's."""
    engine = str(secret.get("engine", "postgres"))
    scheme = _DB_SCHEMES.get(engine)
    if scheme is None:
        raise ImproperlyConfigured(f"Unsupported database engine {engine!r} in the secret.")
    user = quote(str(secret["username"]), safe="")
    password = quote(str(secret["password"]), safe="")
    port = secret.get("port") or 5432
    name = secret.get("dbname") or secret.get("dbName") or "nimbus"
    host = host or secret.get("host")
    if not host:
        raise ImproperlyConfigured(
            f"The database secret names no host and {DATABASE_HOST_VAR} is not set."
        )
    return f"{scheme}://{user}:{password}@{host}:{port}/{name}"


def _is_database_secret(secret: dict[str, Any]) -> bool:
    return {"username", "password"} <= set(secret)


def fetch_parameters(path: str) -> dict[str, str]:
    """Every parameter under ``path`` as ``{VARIABLE_NAME: value}`` (cached)."""
    from aws_lambda_powertools.utilities import parameters

    values = parameters.get_parameters(path, recursive=True, decrypt=True, max_age=_max_age())
    return {variable_name(name): str(value) for name, value in values.items()}


def fetch_secret(arn: str, *, database_host: str | None = None) -> dict[str, str]:
    """One Secrets Manager secret as ``{VARIABLE_NAME: value}`` (cached); a database
    secret's ``DATABASE_URL`` names ``database_host`` when given."""
    from aws_lambda_powertools.utilities import parameters

    raw = parameters.get_secret(arn, transform="json", max_age=_max_age())
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(f"Secret {arn} must hold a JSON object.")
    if _is_database_secret(raw):
        return {"DATABASE_URL": database_url(raw, database_host)}
    return {variable_name(key): str(value) for key, value in raw.items()}


def load_aws_configuration(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Fill missing variables from Parameter Store and Secrets Manager.

    Returns the names filled (never their values). Does nothing, and imports nothing,
    when neither ``NIMBUS_PARAMETERS_PATH`` nor ``NIMBUS_SECRETS_ARN`` is set.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    if path := environ.get(PARAMETERS_PATH_VAR, "").strip():
        found.update(fetch_parameters(path))
    host = environ.get(DATABASE_HOST_VAR, "").strip() or None
    for arn in filter(None, (a.strip() for a in environ.get(SECRETS_ARN_VAR, "").split(","))):
        found.update(fetch_secret(arn, database_host=host))
    filled = sorted(name for name, value in found.items() if not environ.get(name) and value)
    for name in filled:
        environ[name] = found[name]
    if filled:
        logger.info("Configuration filled from AWS", extra={"variables": filled})
    return filled


def config_value(name: str, *, default: str | None = None) -> str:
    """A value that may rotate while a Lambda container lives (e.g. a signing key).

    The environment wins; otherwise the parameter ``<NIMBUS_PARAMETERS_PATH><name>`` is read
    through the Powertools cache (refetched after ``max_age`` seconds).
    """
    if value := os.environ.get(name):
        return value
    path = os.environ.get(PARAMETERS_PATH_VAR, "")
    if path:
        from aws_lambda_powertools.utilities import parameters
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = parameters.get_parameter(
                path.rstrip("/") + "/" + name, decrypt=True, max_age=_max_age()
            )
        except GetParameterError as exc:
            # Powertools wraps every client error; only "not there" may fall back.
            if "ParameterNotFound" not in str(exc):
                raise
            value = None
        if value:
            return str(value)
    if default is not None:
        return default
    raise ImproperlyConfigured(f"No configuration value {name!r} in the environment or store.")


def clear_cache() -> None:
    """Forget cached parameters and secrets (tests, or after a rotation)."""
    from aws_lambda_powertools.utilities import parameters

    # Also drops the providers, and with them boto3 clients bound to an old endpoint.
    parameters.clear_caches()
