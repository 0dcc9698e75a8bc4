"""Background tasks retry with exponential backoff and jitter, then fail visibly."""

from __future__ import annotations

import pytest

from project.tasks import retry_delay
from tests.project import tasks_for_tests as t


def test_retry_delay_grows_exponentially_and_is_capped():
    ceilings = [retry_delay(n, base_delay=2.0, max_delay=30.0) for n in range(1, 8)]
    assert all(0 <= d <= c for d, c in zip(ceilings, [2, 4, 8, 16, 30, 30, 30], strict=True))


def test_a_failing_task_is_retried_until_it_succeeds():
    t.calls.clear()
    t.flaky.enqueue("job-1", fail_times=2)
    assert t.calls == ["job-1", "job-1", "job-1"]


def test_a_task_that_keeps_failing_stops_at_max_attempts(caplog):
    t.calls.clear()
    result = t.flaky.enqueue("job-2", fail_times=99)
    assert t.calls == ["job-2"] * 3  # NIMBUS_TASK_RETRY["max_attempts"] in test settings
    assert "failed for good after 3 attempts" in caplog.text
    assert result.status == "FAILED"


@pytest.mark.django_db(transaction=True)
def test_database_backend_defers_the_retry(settings):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.NIMBUS_TASK_RETRY = {"max_attempts": 3, "base_delay": 60.0, "max_delay": 60.0}
    from django.core.management import call_command

    t.calls.clear()
    t.flaky.enqueue("job-3", fail_times=1)
    call_command("worker", "--batch")
    assert t.calls == ["job-3"]
    pending = DBTaskResult.objects.filter(status="READY").get()
    assert pending.run_after is not None
    assert pending.args_kwargs["kwargs"]["_nimbus_attempt"] == 2
