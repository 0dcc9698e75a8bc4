"""E-mail about a person's files: an approval or a rejection, with an unsubscribe link.

Mail goes through Django's mail (``MAILERS``: the console locally, Amazon SES on AWS).
Each message carries a signed unsubscribe link in its body and in ``List-Unsubscribe``
(with ``List-Unsubscribe-Post``, RFC 8058, so mail clients can offer one-click
unsubscribe); the link only turns these e-mails off, for that account, and needs no
sign-in. The preference is the account settings page's "Email me about my files"
(``apps.users.models.Profile.email_notifications``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core import signing
from django.core.mail import EmailMessage
from django.urls import reverse

from project.site import absolute

logger = logging.getLogger("nimbus.push")

UNSUBSCRIBE_SALT = "nimbus.push.unsubscribe"

_SUBJECTS = {"approved": "{name} was approved", "rejected": "{name} was rejected"}


def unsubscribe_token(*, user_id: int) -> str:
    """A signed token naming the account whose file e-mails it turns off (no expiry:
    it must work from any old message)."""
    return signing.dumps({"u": int(user_id)}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_user_id(token: str) -> int | None:
    """The account a token names, or None when it was not signed by this site."""
    try:
        return int(signing.loads(token, salt=UNSUBSCRIBE_SALT)["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def file_outcome_email_send(*, user_id: int, detail: dict[str, Any]) -> bool:
    """Send the owner the outcome of a file (``approved``/``rejected``); returns whether a
    message went out (not when the owner turned such e-mails off or has no address)."""
    from apps.users.models import User

    status = str(detail.get("status", ""))
    user = User.objects.filter(pk=user_id, is_active=True).select_related("profile").first()
    if status not in _SUBJECTS or user is None or not user.email:
        return False
    profile = getattr(user, "profile", None)
    if profile is not None and not profile.email_notifications:
        return False
    name = str(detail.get("name") or "Your file")
    unsubscribe = absolute(reverse("push:unsubscribe", args=[unsubscribe_token(user_id=user_id)]))
    lines = [f"{_SUBJECTS[status].format(name=name)}."]
    if status == "rejected" and detail.get("reason_message"):
        lines.append(f"Reason: {detail['reason_message']}")
    lines += [
        "",
        f"See it on your files page: {absolute(reverse('files:detail', args=[detail['file_id']]))}",
        "",
        "You get these e-mails because “Email me about my files” is on in your account",
        f"settings. To stop them: {unsubscribe}",
    ]
    message = EmailMessage(
        subject=_SUBJECTS[status].format(name=name),
        body="\n".join(lines),
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.send()
    logger.info("E-mailed the owner that a file was %s", status)
    return True
