"""The environment a production-settings subprocess needs, tracking what production.py requires.

Other apps add ``require(...)`` calls to production.py as they land; every required name
gets a placeholder here so a test about one concern (secrets, hardening) does not fail for
another app's new variable. ``PRODUCTION_ENV`` (tests/project/test_settings.py) wins.
"""

from __future__ import annotations

import ast
import os

from tests.project.test_settings import PRODUCTION_ENV, REPO


def required_names() -> set[str]:
    """Every variable name production.py passes to ``require()``."""
    tree = ast.parse((REPO / "project" / "settings" / "production.py").read_text())
    return {
        arg.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "require"
        for arg in node.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    }


def production_env(*, without: set[str] = frozenset(), **extra: str) -> dict[str, str]:
    """This process's environment plus production values, minus the names in ``without``."""
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    env.update({name: f"https://{name.lower()}.example.com" for name in required_names()})
    env.update(PRODUCTION_ENV)
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, **extra)
    for name in without:
        env.pop(name, None)
    return env
