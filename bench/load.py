"""`make load`: many people at once against `make run`'s server and worker, then a check
that nothing was lost or doubled. Writes bench/load.json (bench/README.md, "Load").

1. ``manage.py devserver`` (the ASGI server and its worker, as `make run` starts them) on
   a free 127.0.0.1 port, on a scratch SQLite file (``bench/load_settings.py``).
2. Locust, headless, bounded in users and time (``bench/locustfile.py``): each person signs
   up, confirms with the mailed code, signs in, and uploads, waits for the live status
   over the WebSocket and downloads, again and again.
3. Meanwhile, the Lambda scenario: ``--lambda-processes`` processes feed SQS-shaped
   batches of ten EventBridge envelopes through ``project.entrypoints.lambda_handler``
   into one receiver group, one batch in ten delivered twice (SQS is at least once).
4. The server is stopped by its PID once the worker has drained, and the run is
   reconciled from the database: every upload reached a final state, every outbox event
   was delivered to each of its receivers once, every Lambda event had its effect once.

``load_errors`` counts failed requests and Lambda records, and uploads left unfinished;
``load_events_lost`` events or deliveries that never completed; both must be 0.

    .venv/bin/python bench/load.py --users 20 --run-time 60
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FINAL = ("approved", "rejected", "failed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scratch_env(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.load_settings",
        "DATABASE_URL": f"sqlite:///{work / 'nimbus.sqlite3'}",
        "MEDIA_ROOT": str(work / "media"),
        "NIMBUS_MAIL_DIR": str(work / "mail"),
        "SECRET_KEY": "nimbus-load-" + "k" * 50,
        "REDIS_URL": "",
        "PYTHONUNBUFFERED": "1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def wait_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C for devserver (it then stops its worker by PID), then the hard way."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: server and worker
            proc.wait(timeout=10)


def run_locust(
    locust: list[str], url: str, env: dict[str, str], work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    prefix = work / "locust"
    cmd = [
        *locust,
        "-f",
        str(HERE / "locustfile.py"),
        "--headless",
        "--host",
        url,
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.spawn_rate),
        "--run-time",
        f"{args.run_time}s",
        "--stop-timeout",
        "30",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    done = subprocess.run(
        cmd,
        cwd=REPO,
        env={**env, "NIMBUS_MAIL_DIR": env["NIMBUS_MAIL_DIR"]},
        capture_output=True,
        text=True,
        timeout=args.run_time + 300,
    )
    (work / "locust.log").write_text(done.stdout + done.stderr)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"Locust wrote no statistics:\n{done.stderr[-3000:]}")
    rows = list(csv.DictReader(stats.open()))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    by_name = {
        f"{r['Type']} {r['Name']}": {
            "requests": int(r["Request Count"]),
            "failures": int(r["Failure Count"]),
            "p50_ms": float(r["50%"] or 0),
            "p95_ms": float(r["95%"] or 0),
            "p99_ms": float(r["99%"] or 0),
        }
        for r in rows
        if r["Name"] != "Aggregated"
    }
    failures = Path(f"{prefix}_failures.csv")
    return {
        "load_users": args.users,
        "load_run_time_s": args.run_time,
        "load_requests": int(total["Request Count"]),
        "load_failed_requests": int(total["Failure Count"]),
        "load_requests_per_s": round(float(total["Requests/s"]), 1),
        "load_p50_ms": float(total["50%"] or 0),
        "load_p95_ms": float(total["95%"] or 0),
        "load_p99_ms": float(total["99%"] or 0),
        "load_by_request": by_name,
        "load_failures": list(csv.DictReader(failures.open()))[:20] if failures.exists() else [],
    }


# ------------------------------------------------------------------ the Lambda scenario


def lambda_feeder(index: int, batches: int, out: Path) -> None:
    """One process: ``batches`` SQS batches of ten through the Lambda entry."""
    import django

    django.setup()
    from bench import load_receivers
    from project.entrypoints import lambda_handler

    queue = f"arn:aws:sqs:us-east-1:123456789012:nimbus-local-{load_receivers.GROUP}"

    def record(event_id: str, n: int) -> dict[str, Any]:
        body = {
            "version": "0",
            "id": event_id,
            "detail-type": load_receivers.LOAD_PING,
            "source": "nimbus.load",
            "account": "123456789012",
            "time": "2026-12-07T09:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {"n": n},
        }
        return {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": "load",
            "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "awsRegion": "us-east-1",
            "eventSourceARN": queue,
        }

    sent: list[str] = []
    failed = 0
    started = time.perf_counter()
    records_fed = 0
    for b in range(batches):
        ids = [str(uuid.uuid4()) for _ in range(10)]
        batch = {"Records": [record(i, index * 100000 + b * 10 + k) for k, i in enumerate(ids)]}
        deliveries = 2 if b % 10 == 0 else 1  # SQS redelivers: the effect must not double
        for _ in range(deliveries):
            result = lambda_handler(batch, None)
            failed += len(result.get("batchItemFailures", []))
            records_fed += 10
        sent.extend(ids)
    elapsed = time.perf_counter() - started
    out.write_text(
        json.dumps({"ids": sent, "failed": failed, "records": records_fed, "seconds": elapsed})
    )


def start_feeders(env: dict[str, str], work: Path, processes: int, batches: int) -> list[Any]:
    feeders = []
    for index in range(processes):
        out = work / f"lambda-{index}.json"
        proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__)),
                "--lambda-feeder",
                str(index),
                str(batches),
                str(out),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(work / f"lambda-{index}.log").open("wb"),
        )
        feeders.append((proc, out))
    return feeders


def collect_feeders(feeders: list[Any]) -> dict[str, Any]:
    ids: list[str] = []
    failed = records = 0
    slowest = 0.0
    for proc, out in feeders:
        proc.wait(timeout=900)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"a Lambda feeder failed (exit {proc.returncode}); see {out}.log")
        part = json.loads(out.read_text())
        ids += part["ids"]
        failed += part["failed"]
        records += part["records"]
        slowest = max(slowest, part["seconds"])
    return {
        "ids": ids,
        "lambda_processes": len(feeders),
        "lambda_records": records,
        "lambda_failed_records": failed,
        "lambda_records_per_s": round(records / slowest, 1) if slowest else 0.0,
    }


# ----------------------------------------------------------------------- reconciliation

_RECONCILE = """
import json, sys
import django
django.setup()
from collections import Counter
from django.contrib.auth.models import Group
from apps.events.models import Delivery, Event, Inbox
from apps.files.models import File
from apps.push.models import Notification

ids = set(json.loads(open(sys.argv[1]).read()))
files = File.objects.filter(owner__email__startswith="load-")
statuses = Counter(files.values_list("status", flat=True))
final = {"approved", "rejected", "failed"}
unfinished_deliveries = Delivery.objects.exclude(status="succeeded").count()
succeeded = Delivery.objects.filter(status="succeeded").count()
notices = Counter(
    (payload or {}).get("file_id") for payload in
    Notification.objects.filter(user__email__startswith="load-").values_list("payload", flat=True)
)
notices.pop(None, None)
effects = Counter(
    name.split(":")[1] for name in
    Group.objects.filter(name__startswith="load-effect:").values_list("name", flat=True)
)
print("RECONCILE " + json.dumps({
    "uploads": sum(statuses.values()),
    "uploads_final": sum(n for s, n in statuses.items() if s in final),
    "upload_statuses": dict(statuses),
    "events": Event.objects.count(),
    "events_pending": Event.objects.filter(state="pending").count(),
    "deliveries": succeeded + unfinished_deliveries,
    "deliveries_unfinished": unfinished_deliveries,
    "deliveries_dead": Delivery.objects.filter(status="dead").count(),
    "inbox_for_deliveries": Inbox.objects.exclude(receiver="load.effect").count(),
    "deliveries_succeeded": succeeded,
    "files_notified_twice": sum(1 for n in notices.values() if n > 1),
    "lambda_events": len(ids),
    "lambda_missing": len(ids - set(effects)),
    "lambda_doubled": sum(1 for i in ids if effects.get(i, 0) > 1),
    "lambda_inbox": Inbox.objects.filter(receiver="load.effect").count(),
}))
"""


def reconcile(env: dict[str, str], work: Path, ids: list[str]) -> dict[str, Any]:
    ids_file = work / "lambda-ids.json"
    ids_file.write_text(json.dumps(ids))
    done = subprocess.run(
        [sys.executable, "-c", _RECONCILE, str(ids_file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RECONCILE ")), None)
    if line is None:
        raise RuntimeError(f"reconciliation failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(line.removeprefix("RECONCILE ")))


def settled(found: dict[str, Any]) -> bool:
    return (
        found["uploads"] == found["uploads_final"]
        and found["events_pending"] == 0
        and found["deliveries_unfinished"] == found["deliveries_dead"]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--spawn-rate", type=float, default=5)
    parser.add_argument("--run-time", type=int, default=60, help="seconds of load")
    parser.add_argument("--lambda-processes", type=int, default=3)
    parser.add_argument("--lambda-batches", type=int, default=100, help="per process")
    parser.add_argument("--drain-timeout", type=float, default=120)
    parser.add_argument(
        "--locust",
        default=os.environ.get("NIMBUS_LOCUST", f"{sys.executable} -m locust"),
        help="the command that runs Locust (default: this Python's locust module)",
    )
    parser.add_argument("--out", default=str(HERE / "load.json"))
    parser.add_argument("--lambda-feeder", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.lambda_feeder:
        index, batches, out = args.lambda_feeder
        sys.path[:0] = [str(REPO)]
        lambda_feeder(int(index), int(batches), Path(out))
        return 0

    work = Path(tempfile.mkdtemp(prefix="nimbus-load-"))
    env = scratch_env(work)
    (work / "mail").mkdir()
    (work / "media").mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "server.log"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=REPO,
        env=env,
        check=True,
        timeout=300,
    )
    server = subprocess.Popen(
        [sys.executable, "manage.py", "devserver", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_up(url, server, log)
        feeders = start_feeders(env, work, args.lambda_processes, args.lambda_batches)
        results = run_locust(args.locust.split(), url, env, work, args)
        lambda_results = collect_feeders(feeders)
        deadline = time.monotonic() + args.drain_timeout
        found = reconcile(env, work, lambda_results["ids"])
        while not settled(found) and time.monotonic() < deadline:
            time.sleep(1)
            found = reconcile(env, work, lambda_results["ids"])
    finally:
        stop(server)
    lambda_results.pop("ids")
    results.update(lambda_results)
    lost = (
        found["events_pending"]
        + found["deliveries_unfinished"]
        + found["lambda_missing"]
        + max(0, found["deliveries_succeeded"] - found["inbox_for_deliveries"])
    )
    results.update(
        {
            "load_uploads": found["uploads"],
            "load_uploads_final": found["uploads_final"],
            "load_upload_statuses": found["upload_statuses"],
            "load_events": found["events"],
            "load_deliveries": found["deliveries"],
            "load_lambda_events": found["lambda_events"],
            "load_events_lost": lost,
            "load_events_doubled": found["files_notified_twice"] + found["lambda_doubled"],
            "load_errors": results["load_failed_requests"]
            + lambda_results["lambda_failed_records"]
            + (found["uploads"] - found["uploads_final"]),
        }
    )
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        if key not in ("load_by_request", "load_failures"):
            print(f"{key:28} {value}")
    if results["load_errors"] or results["load_events_lost"] or results["load_events_doubled"]:
        print(f"\nsee {work} (server.log, locust.log, lambda-*.log)", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
