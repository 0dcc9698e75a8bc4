"""Durable execution of local workflows on Django: the interpreter's runs kept in the DB.

:func:`execution_advance` (a background task on the ``workflows`` queue) takes a lease on
an execution, hands the interpreter any callback outcomes recorded since, advances the run
as far as it goes and persists it (snapshot + history events in one transaction) around
every task call and when the run stops or waits: one transaction per step, not one per
state (``Interpreter._save``). A Wait or a retry interval is a continuation task with ``run_after`` — no
worker is held while an execution waits, and a pending callback holds nothing at all.
:func:`reconcile` (every few seconds in ``manage.py worker``) re-enqueues executions whose
continuation was lost, e.g. when a worker was killed while running it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Field, Q
from django.tasks import default_task_backend
from django.utils.dateparse import parse_datetime

from apps.workflows import clock, registry
from apps.workflows.engine import Interpreter, StatesError
from apps.workflows.engine import errors as asl_errors
from apps.workflows.models import Execution, HistoryEvent, TaskToken
from project import telemetry
from project.logging import bind
from project.tasks import background
from project.worker import every

logger = logging.getLogger("nimbus.workflows")

LEASE = timedelta(minutes=5)
MAX_ROUNDS = 20


def run_step(resource: str, payload: Any, *, context: dict[str, Any], token: str | None) -> Any:
    """The local TaskRunner: ``step:<name>`` resources call the registered step in-process."""
    if not resource.startswith(registry.STEP_PREFIX):
        raise StatesError(asl_errors.RUNTIME, f"Resource {resource!r} cannot run locally")
    name = registry.step_of(resource)
    step = registry.steps.get(name)
    if step is None:
        raise StatesError(asl_errors.RUNTIME, f"No workflow step named {name!r}")
    with bind(workflow_step=name, execution_arn=context["Execution"]["Id"]):
        if token is not None:
            return step.func(payload, task_token=token)
        return step.func(payload)


def _parse(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


class _Persister:
    """Checkpoints an execution: snapshot, status and new history events, atomically."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution

    def on_token(self, token: str, info: dict[str, Any]) -> None:
        # Callback outcomes are looked for from now on (see _may_have_outcomes).
        self.execution.run[TOKENS_ISSUED] = True
        # Stored before the step sees the token, so an immediate callback finds it.
        expires = _parse(info.get("expires")) or clock.now() + timedelta(
            seconds=settings.NIMBUS_WORKFLOWS_CALLBACK_MAX_AGE
        )
        TaskToken.objects.create(
            token_hash=_hash(token),
            sealed=token,
            execution=self.execution,
            state_name=info["state"],
            expires_at=expires,
        )

    def save(self, run: dict[str, Any], events: list[dict[str, Any]]) -> None:
        execution = self.execution
        with transaction.atomic():
            run["seq"] = _history_insert(execution, int(run.get("seq", 0)), events)
            execution.run = run
            execution.status = run["status"]
            execution.output = run["output"]
            execution.error = run["error"] or ""
            execution.cause = run["cause"] or ""
            execution.wake_at = _parse(run["wake_at"])
            finished = run["status"] != Execution.Status.RUNNING and execution.stopped_at is None
            released = []
            if finished:
                execution.stopped_at = clock.now()
                # Nothing is left to drive: the driver's lease ends with the run.
                execution.lease_owner, execution.lease_until = "", None
                released = ["lease_owner", "lease_until"]
            execution.save(
                update_fields=[
                    *released,
                    "backend",
                    "arn",
                    "run",
                    "status",
                    "output",
                    "error",
                    "cause",
                    "wake_at",
                    "stopped_at",
                    "updated_at",
                ]
            )
        if finished:
            _record_outcome(execution)
        from apps.workflows import signals

        signals.notify_transitions(execution, events)


#: Key of the run snapshot the driver sets once the execution handed out a task token
#: (absent in runs started before it existed: those are treated as having tokens).
TOKENS_ISSUED = "tokens_issued"

_HISTORY_COLUMNS = ("execution", "seq", "type", "state_name", "timestamp", "details")


def _history_insert(execution: Execution, seq: int, events: list[dict[str, Any]]) -> int:
    """Append ``events`` to the history after ``seq`` (one ``executemany``); the last seq.

    A run's transitions write dozens of rows at a time; built by hand (the fields still
    convert their values for the database) they cost a fraction of ``bulk_create``.
    """
    if not events:
        return seq
    connection = connections[router.db_for_write(HistoryEvent)]
    fields = [cast("Field[Any, Any]", HistoryEvent._meta.get_field(n)) for n in _HISTORY_COLUMNS]
    quote = connection.ops.quote_name
    # Identifiers from the model's own metadata, quoted; every value is a parameter.
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        quote(HistoryEvent._meta.db_table),
        ", ".join(quote(str(field.column)) for field in fields),
        ", ".join(["%s"] * len(fields)),
    )
    execution_id = fields[0].get_db_prep_save(execution.pk, connection)
    # What DateTimeField / JSONField hand the driver, without their per-value checks: the
    # interpreter's timestamps are ISO 8601 in UTC, its details plain JSON.
    ops = connection.ops
    rows = []
    for event in events:
        seq += 1
        moment = _iso_utc(event["timestamp"]) or clock.now()
        details = {k: v for k, v in event.items() if k not in ("type", "state", "timestamp")}
        rows.append(
            (
                execution_id,
                seq,
                event["type"],
                event["state"] or "",
                ops.adapt_datetimefield_value(moment),
                ops.adapt_json_value(details, None),
            )
        )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return seq


def _iso_utc(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _record_outcome(execution: Execution) -> None:
    """Executions by outcome, their duration, and failures, for the local metrics page.

    On AWS Step Functions runs the executions; its own AWS/States metrics are alarmed.
    """
    outcome = str(execution.status).lower()
    telemetry.metric(telemetry.WORKFLOW_EXECUTIONS, workflow=execution.workflow, outcome=outcome)
    if execution.stopped_at is not None:
        duration = (execution.stopped_at - execution.started_at).total_seconds() * 1000
        telemetry.metric(telemetry.WORKFLOW_DURATION, duration, "Milliseconds", outcome=outcome)
    if execution.status != Execution.Status.SUCCEEDED:
        telemetry.metric(telemetry.WORKFLOW_FAILURES, workflow=execution.workflow)


def _hash(token: str) -> str:
    from apps.workflows.engine.interpreter import token_hash

    return token_hash(token)


def interpreter(execution: Execution, persister: _Persister) -> Interpreter:
    definition = registry.definitions[execution.workflow].asl
    assert definition is not None
    return Interpreter(
        definition,
        tasks=run_step,
        now=lambda: clock.now(),
        on_token=persister.on_token,
        checkpoint=persister.save,
    )


def execution_begin(execution: Execution) -> None:
    """Create the run of a new local execution and schedule its first advance."""
    persister = _Persister(execution)
    engine = interpreter(execution, persister)
    run = engine.start(
        execution.input,
        execution_id=execution.arn,
        name=execution.name,
        state_machine=f"arn:nimbus:states:local:stateMachine:{execution.workflow}",
    )
    run["wake_at"] = run["context"]["Execution"]["StartTime"]  # due now, until first advanced
    run[TOKENS_ISSUED] = False
    persister.save(run, engine.take_events())
    schedule(execution, now=True)


def schedule(execution: Execution, *, now: bool = False) -> None:
    """Enqueue the continuation of a running execution, after the current transaction."""
    if execution.status != Execution.Status.RUNNING:
        return
    when = None if now else execution.wake_at
    if not now and when is None:
        return  # waiting for a callback only: nothing to schedule
    execution_id = str(execution.pk)

    def enqueue() -> None:
        task = execution_advance
        if when is not None and when > clock.now() and default_task_backend.supports_defer:
            task = task.using(run_after=when)
        elif when is not None and when > clock.now():
            return  # no deferred tasks (tests): the reconciler or a test tick continues it
        task.enqueue(execution_id)

    transaction.on_commit(enqueue)


def _claim(execution_id: str, owner: str) -> bool:
    now = clock.now()
    return bool(
        Execution.objects.filter(pk=execution_id, status=Execution.Status.RUNNING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_owner=owner, lease_until=now + LEASE)
    )


def advance(execution_id: str) -> None:
    """Advance one execution as far as it goes (no-op if another driver holds it)."""
    owner = uuid.uuid4().hex
    if not _claim(execution_id, owner):
        return
    finished = False
    try:
        for _ in range(MAX_ROUNDS):
            execution = Execution.objects.get(pk=execution_id)
            was_running = execution.is_running
            with bind(execution_arn=execution.arn):
                progressed = _advance_once(execution)
            # Finished by this driver's own save (which released the lease with it).
            finished = was_running and not execution.is_running
            if not progressed:
                break
    finally:
        if not finished:  # a finished run's last save released the lease
            Execution.objects.filter(pk=execution_id, lease_owner=owner).update(
                lease_owner="", lease_until=None
            )
    if finished:
        return  # nothing left to schedule (this driver saved the final state)
    execution = Execution.objects.get(pk=execution_id)
    with transaction.atomic():
        schedule(execution)


def _advance_once(execution: Execution) -> bool:
    """One round; True when callback outcomes arrived meanwhile (advance again)."""
    if not execution.is_running:
        return False
    persister = _Persister(execution)
    engine = interpreter(execution, persister)
    run = execution.run
    applied = _apply_outcomes(engine, execution, run) if _may_have_outcomes(run) else []
    events = engine.advance(run)
    persister.save(run, events)
    if applied:
        TaskToken.objects.filter(pk__in=applied).update(applied=True)
    return execution.is_running and _may_have_outcomes(run) and _unapplied(execution).exists()


def _may_have_outcomes(run: dict[str, Any]) -> bool:
    """False for a run that never handed out a task token: no callback can have arrived."""
    return bool(run.get(TOKENS_ISSUED, True))


def _unapplied(execution: Execution) -> Any:
    return TaskToken.objects.filter(execution=execution, applied=False).filter(
        Q(consumed_at__isnull=False) | Q(heartbeat_at__isnull=False)
    )


def _apply_outcomes(engine: Interpreter, execution: Execution, run: dict[str, Any]) -> list[int]:
    applied = []
    for token in _unapplied(execution).order_by("consumed_at"):
        if token.consumed_at is None:  # a heartbeat only
            engine.resolve_token(run, token.token_hash, heartbeat=True)
            TaskToken.objects.filter(pk=token.pk).update(heartbeat_at=None)
            continue
        outcome = token.outcome or {}
        engine.resolve_token(
            run,
            token.token_hash,
            output=outcome.get("output"),
            error=outcome.get("error") if "error" in outcome else None,
            cause=outcome.get("cause"),
        )
        applied.append(token.pk)
    return applied


@background(queue_name="workflows")
def execution_advance(execution_id: str) -> None:
    """Background task: advance a local execution (see :func:`advance`)."""
    advance(execution_id)


def execution_abort(execution: Execution, *, error: str, cause: str) -> None:
    persister = _Persister(execution)
    engine = interpreter(execution, persister)
    run = execution.run
    persister.save(run, engine.abort(run, error=error, cause=cause))


def execution_redrive_run(execution: Execution) -> None:
    persister = _Persister(execution)
    engine = interpreter(execution, persister)
    run = execution.run
    events = engine.redrive(run)
    run["wake_at"] = events[-1]["timestamp"]  # due now, until advanced
    persister.save(run, events)
    execution.stopped_at = None
    execution.save(update_fields=["stopped_at"])
    schedule(execution, now=True)


def due_executions(*, grace_seconds: float) -> list[str]:
    """Running executions whose continuation is due (or overdue) and nobody holds."""
    now = clock.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    running = Execution.objects.filter(free, status=Execution.Status.RUNNING, backend="local")
    late = running.filter(wake_at__lte=now - timedelta(seconds=grace_seconds))
    waiting = running.filter(
        tokens__applied=False,
        tokens__consumed_at__lte=now - timedelta(seconds=grace_seconds),
    )
    ids = {str(pk) for qs in (late, waiting) for pk in qs.values_list("pk", flat=True)}
    return sorted(ids)


@every(5, name="workflows.reconcile")
def reconcile(*, grace_seconds: float = 5.0) -> list[str]:
    """Enqueue every running execution whose continuation is overdue; returns their ids."""
    ids = due_executions(grace_seconds=grace_seconds)
    for execution_id in ids:
        execution_advance.enqueue(execution_id)
    if ids:
        logger.info("Resumed %d workflow execution(s)", len(ids))
    return ids
