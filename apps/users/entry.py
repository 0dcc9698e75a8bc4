"""Lambda glue for Cognito user-pool triggers (``NIMBUS_LAMBDA_ROUTES["cognito_trigger"]``).

Parses the trigger event, calls one service, and returns the event (with its ``response``
filled in) as Cognito expects. An exception fails the Cognito operation with its message,
which is how a trigger refuses; an unknown ``triggerSource`` raises rather than being
waved through.
"""

from __future__ import annotations

import logging
from typing import Any

from apps.users import triggers

logger = logging.getLogger("nimbus.users.entry")


def handle_cognito_trigger(event: dict[str, Any], context: Any) -> dict[str, Any]:
    source = str(event.get("triggerSource", ""))
    issuer = f"https://cognito-idp.{event['region']}.amazonaws.com/{event['userPoolId']}"
    attributes = dict((event.get("request") or {}).get("userAttributes") or {})
    logger.info("Cognito trigger %s", source)
    if source.startswith("PreSignUp_"):
        triggers.trigger_pre_sign_up(email=str(attributes.get("email", "")))
        return event
    if (
        source == "PostConfirmation_ConfirmSignUp"
        or source == "PostConfirmation_ConfirmForgotPassword"
    ):
        triggers.trigger_post_confirmation(issuer=issuer, attributes=attributes)
        return event
    if source.startswith("TokenGeneration_"):
        # Refuses disabled accounts; the event goes back as it came (no claims changed).
        triggers.trigger_pre_token_generation(issuer=issuer, attributes=attributes)
        return event
    raise ValueError(f"Nimbus does not handle the Cognito trigger {source!r}.")
