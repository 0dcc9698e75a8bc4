"""Background work on Django's Tasks framework, with retries and exponential backoff.

``@background()`` declares a task like ``django.tasks.task`` does, but a failed attempt is
re-enqueued with a delay of ``base_delay * 2**(attempt-1)`` (capped, with full jitter) up to
``max_attempts`` (``settings.NIMBUS_TASK_RETRY``). Each failed attempt is still recorded as a
failed task result, with its traceback, where operators can see it (the tasks admin);
the last one is logged as an error.

Locally the database backend queues the work and ``manage.py worker`` runs it; on AWS the
same ``enqueue()`` goes through SQS to the Lambda entry.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.tasks import Task, task
from django.utils import timezone

logger = logging.getLogger("nimbus.tasks")

ATTEMPT_KWARG = "_nimbus_attempt"


def retry_delay(attempt: int, *, base_delay: float, max_delay: float) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (full jitter, AWS style)."""
    ceiling = min(max_delay, base_delay * (2 ** (attempt - 1)))
    return random.uniform(0, ceiling) if ceiling > 0 else 0.0


def background(
    *, queue_name: str = "default", priority: int = 0, max_attempts: int | None = None
) -> Callable[[Callable[..., Any]], Task]:
    """Declare a background task that retries with backoff. Arguments must be JSON."""

    def decorate(func: Callable[..., Any]) -> Task:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            attempt = int(kwargs.pop(ATTEMPT_KWARG, 1))
            policy = settings.NIMBUS_TASK_RETRY
            limit = max_attempts or int(policy["max_attempts"])
            try:
                return func(*args, **kwargs)
            except Exception:
                if attempt >= limit:
                    logger.error(
                        "Task %s failed for good after %d attempts",
                        func.__qualname__,
                        attempt,
                        exc_info=True,
                    )
                    raise
                delay = retry_delay(
                    attempt,
                    base_delay=float(policy["base_delay"]),
                    max_delay=float(policy["max_delay"]),
                )
                logger.warning(
                    "Task %s failed (attempt %d of %d); retrying in %.1fs",
                    func.__qualname__,
                    attempt,
                    limit,
                    delay,
                    exc_info=True,
                )
                _enqueue_retry(defined, delay, args, {**kwargs, ATTEMPT_KWARG: attempt + 1})
                raise

        defined: Task = task(queue_name=queue_name, priority=priority)(run)
        return defined

    return decorate


def _enqueue_retry(defined: Task, delay: float, args: Any, kwargs: dict[str, Any]) -> None:
    backend = defined.get_backend()
    if delay > 0 and backend.supports_defer:
        defined = defined.using(run_after=timezone.now() + timedelta(seconds=delay))
    defined.enqueue(*args, **kwargs)
