"""Throughput of the embedded defaults, in one fresh process (run by bench/run.py).

Prints one JSON line: ``events_per_s_local`` (publish -> outbox -> delivery rows -> the
worker runs each receiver exactly once) and ``workflow_executions_per_s`` (the ten-state
bench definition on the local engine, queued and driven by the worker).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from django.core.management import call_command
from django.db import transaction

from bench import receivers


def drain() -> None:
    with open(os.devnull, "w") as quiet:
        call_command("worker", "--batch", "--interval", "0", stdout=quiet)


def events_per_second(count: int) -> tuple[float, float]:
    from apps.events.services import publish

    start, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        with transaction.atomic():
            publish(receivers.PING, {"n": n})
    drain()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    if sorted(receivers.received) != list(range(count)):
        raise SystemExit(f"bench receiver saw {len(receivers.received)} of {count} events")
    return count / elapsed, count / used


def executions_per_second(count: int) -> tuple[float, float]:
    from apps.workflows.models import Execution
    from apps.workflows.services import execution_start

    start, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        execution_start(workflow="bench_ten_states", input={"id": f"f{n}", "size": n * 100})
    drain()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    done = (
        Execution.objects.filter(workflow="bench_ten_states", status="SUCCEEDED")
        .exclude(name="warm")
        .count()
    )
    if done != count:
        raise SystemExit(f"{done} of {count} bench executions succeeded")
    return count / elapsed, count / used


def warm_up() -> None:
    """One event and one execution, untimed: the first of each loads what it needs (the
    schema validator, the definition, the worker's imports), which is start-up cost, not
    throughput. Their rows are left out of the checks below."""
    from apps.events.services import publish
    from apps.workflows.services import execution_start

    with transaction.atomic():
        publish(receivers.PING, {"n": -1})
    execution_start(workflow="bench_ten_states", input={"id": "warm", "size": 0}, name="warm")
    drain()
    receivers.received.clear()


def main() -> None:
    call_command("migrate", interactive=False, verbosity=0)
    warm_up()
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    executions = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    # Publisher and worker (--batch) run in this one process, so its CPU time is the whole
    # cost: "per CPU second" does not move with what else the machine runs.
    events_wall, events_cpu = events_per_second(events)
    runs_wall, runs_cpu = executions_per_second(executions)
    result = {
        "events_per_s_local": round(events_wall, 1),
        "workflow_executions_per_s": round(runs_wall, 1),
        "events_per_cpu_s_local": round(events_cpu, 1),
        "workflow_executions_per_cpu_s": round(runs_cpu, 1),
    }
    print("BENCH-RESULT " + json.dumps(result))


main()
