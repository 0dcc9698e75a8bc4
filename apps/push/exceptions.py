"""Errors of the push app."""

from __future__ import annotations

from project.errors import InvalidInput, NimbusError, NotFound


class InvalidMessage(InvalidInput, ValueError):
    """A pushed message must be a JSON object with a string ``type``."""

    code = "push_invalid_message"


class MessageTooLarge(NimbusError, ValueError):
    """A live message (not stored as a notification) over the WebSocket size limit."""

    code = "push_message_too_large"
    status = 413


class UnknownGroup(NotFound):
    code = "push_unknown_group"


class NotificationNotFound(NotFound):
    code = "notification_not_found"


class UnknownRecipient(NotFound):
    """A notification for a user who does not exist."""

    code = "push_unknown_recipient"
