"""`make run`: the embedded defaults — SQLite, local disk, local backends, no AWS."""

from __future__ import annotations

from project.env import env
from project.settings.base import *  # noqa: F403
from project.settings.base import BASE_DIR, SECRET_KEY

DEBUG = env.bool("DEBUG", default=True)
# A development key, generated once per checkout and kept out of git.
_key_file = BASE_DIR / "var" / "secret_key"
if not SECRET_KEY:
    _key_file.parent.mkdir(parents=True, exist_ok=True)
    if not _key_file.exists():
        import secrets

        _key_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = _key_file.read_text().strip()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

# The local identity provider's RS256 signing key, generated once per checkout like the
# SECRET_KEY above (env NIMBUS_IDENTITY_SIGNING_KEY wins).
_identity_key_file = BASE_DIR / "var" / "identity_signing_key.pem"
if not NIMBUS_IDENTITY["default"]["OPTIONS"].get("signing_key"):
    if not _identity_key_file.exists():
        from apps.users.keys import signing_key_generate

        _identity_key_file.parent.mkdir(parents=True, exist_ok=True)
        _identity_key_file.write_text(signing_key_generate())
        _identity_key_file.chmod(0o600)
    NIMBUS_IDENTITY["default"]["OPTIONS"]["signing_key"] = _identity_key_file.read_text()
# "Sign in with …" locally: the local provider's stand-ins for the federated IdPs a stack
# can put behind its user pool (Google, an OIDC and a SAML provider; DEPLOY.md).
NIMBUS_IDENTITY["default"]["OPTIONS"].setdefault(
    "identity_providers",
    env.list("NIMBUS_IDENTITY_PROVIDERS", default=["Google", "ExampleOIDC", "ExampleSAML"]),
)
