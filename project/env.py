"""The one place that turns the process environment into settings values.

Local runs read an optional ``.env`` file at the repository root; production reads the
Lambda environment (filled from the infra stack's outputs) and never falls back to a
default for a value it needs: :func:`require` names every missing variable at once.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

_dotenv = BASE_DIR / ".env"
if _dotenv.is_file():
    environ.Env.read_env(str(_dotenv), overwrite=False)


def require(*names: str) -> dict[str, str]:
    """Return the named variables, or fail naming every one that is missing or empty."""
    missing = [name for name in names if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(
            "Nimbus production settings need these environment variables, which are "
            f"missing or empty: {', '.join(missing)}. They come from the infra stack's "
            "outputs (python manage.py infra outputs <stage>)."
        )
    return {name: env.str(name) for name in names}
