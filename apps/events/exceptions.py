"""Errors of the events app. Each carries a machine-readable code (project.errors)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from project.errors import InvalidInput, NimbusError, NotFound


class InvalidPatternError(NimbusError, ImproperlyConfigured):
    """An EventBridge event pattern EventBridge itself would refuse at ``PutRule``."""

    code = "invalid_event_pattern"
    status = 400


class UnknownEventTypeError(NimbusError, LookupError):
    """``publish()`` was called with a detail-type nobody declared."""

    code = "unknown_event_type"
    status = 400


class InvalidEventDetailError(InvalidInput):
    """The ``detail`` of a published event does not satisfy its declared JSON schema."""

    code = "invalid_event_detail"


class EventSourceMismatchError(NimbusError, ValueError):
    """``publish()`` named a source other than the one the event type was declared with."""

    code = "event_source_mismatch"
    status = 400


class UnknownReceiverError(NotFound):
    code = "unknown_receiver"


class DeliveryStateError(NimbusError):
    """An operator action (redrive, discard, replay) does not fit the delivery's state."""

    code = "delivery_state"
    status = 409


class MalformedEventError(NimbusError, ValueError):
    """A record reaching the Lambda entry is not an event or task Nimbus can run."""

    code = "malformed_event"
    status = 400


class InvalidScheduleError(NimbusError, ImproperlyConfigured):
    """A ``@scheduled`` expression is not a valid EventBridge ``rate()``/``cron()``."""

    code = "invalid_schedule"
    status = 400
