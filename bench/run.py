"""`make bench`: Nimbus's cold start, warm latency, package size and throughput, each set
against a baseline measured in the same run. Writes bench/results.json and prints a table.

Every timing is the median of repeated runs, each in a fresh interpreter started with
``-I -S -B`` from an unzipped package (no access to the
development venv). ``-B`` matters: ``-I`` makes Python ignore ``PYTHONDONTWRITEBYTECODE``,
and without it the first run of the baseline would write the bytecode every later run
then loads, hiding exactly the recompilation the baseline pays on Lambda. What the Lambda runtime itself provides (boto3 and its dependencies)
is put at the end of ``sys.path``, as ``/var/runtime`` is on Lambda.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

import baseline
import throughput

EVENTS = REPO / "tests" / "aws_events"
# Lambda's "MB" is 2**20 bytes: its 250 MB unzipped limit is 262,144,000 bytes.
MB = 2**20


def python313() -> str:
    return baseline._python313()


def unzip(archive: Path, dest: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest)
    return dest


def unzipped_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def runtime_dir(work: Path) -> Path:
    """What Lambda's python3.13 runtime provides (boto3 and friends), as /var/runtime.

    Compiled, as the runtime's own copy is: the bench runs with ``-B``, so source-only
    packages would be compiled again on every cold start, which Lambda never does.
    """
    from infra.package import provide_runtime

    runtime = provide_runtime(work / "runtime")
    compile_tree(runtime)
    return runtime


def compile_tree(package: Path) -> None:
    subprocess.run(
        [
            python313(),
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(package),
        ],
        check=False,
        stdout=subprocess.DEVNULL,
    )


def cold_runs(
    package: Path,
    target: str,
    events: list[Path],
    env: dict[str, str],
    runs: int,
    runtime: Path,
    warm: int = 0,
    snapshot: bool = False,
) -> list[dict[str, Any]]:
    results = []
    for _ in range(runs):
        cmd = [
            python313(),
            "-I",
            "-B",
            "-S",
            "-c",
            _BOOT,
            str(runtime),
            str(HERE / "coldstart.py"),
            str(package),
            target,
            *map(str, events),
        ]
        if warm:
            cmd += ["--warm", str(warm)]
        if snapshot:
            cmd.append("--snapshot")
        proc = subprocess.run(
            cmd,
            env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8", **env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH-RESULT ")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(
                f"cold start of {package} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        results.append(json.loads(line.removeprefix("BENCH-RESULT ")))
    return results


# Runs inside the fresh interpreter: the runtime's packages go last on sys.path, then the
# measured script runs with its own argv.
_BOOT = (
    "import sys, runpy; rt = sys.argv[1]; script = sys.argv[2]; sys.argv = sys.argv[2:]; "
    "sys.path.append(rt); runpy.run_path(script, run_name='__main__')"
)


def _snapstart(results: list[dict[str, Any]]) -> dict[str, float]:
    """What SnapStart moves out of a cold start (bench/README.md, "SnapStart")."""
    if {r["responses"][0]["status"] for r in results} | {
        r["responses"][1]["status"] for r in results
    } != {200}:
        raise RuntimeError("Nimbus did not answer 200 after a simulated restore")

    def median(values: Any) -> float:
        return round(statistics.median(values), 1)

    return {
        "snapstart_init_ms": median(r["import_ms"] + r["snapshot_ms"] for r in results),
        "snapstart_restore_hooks_ms": median(r["restore_ms"] for r in results),
        "snapstart_first_response_ms": median(
            r["restore_ms"] + r["responses"][0]["ms"] for r in results
        ),
        "snapstart_first_auth_response_ms": median(
            r["restore_ms"] + r["responses"][0]["ms"] + r["responses"][1]["ms"] for r in results
        ),
    }


def median_first(results: list[dict[str, Any]]) -> float:
    return statistics.median(r["responses"][0]["ms"] + r["import_ms"] for r in results)


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index]


def import_profile(
    package: Path, target: str, event: Path, env: dict[str, str], runtime: Path
) -> list[dict[str, Any]]:
    """The ten imports that cost a cold start most time of their own (-X importtime)."""
    proc = subprocess.run(
        [
            python313(),
            "-I",
            "-B",
            "-S",
            "-X",
            "importtime",
            "-c",
            _BOOT,
            str(runtime),
            str(HERE / "coldstart.py"),
            str(package),
            target,
            str(event),
        ],
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        name = parts[2].rstrip()
        rows.append(
            {
                "module": name.strip(),
                "depth": len(name) - len(name.lstrip()),
                "cumulative_ms": int(parts[1]) / 1000,
                "self_ms": int(parts[0]) / 1000,
            }
        )
    return sorted(rows, key=lambda r: r["self_ms"], reverse=True)[:10]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--package", default=str(REPO / "build" / "nimbus-dev.zip"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warm", type=int, default=2000)
    parser.add_argument(
        "--only",
        default="package,local,load",
        help="parts to run, comma-separated: package (cold/warm/size/Lambda events), local "
        "(bus and engine), load (a short make load); a partial run updates results.json",
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))
    package_zip = Path(args.package)
    if "package" in parts and not package_zip.exists():
        print(f"{package_zip} is missing: run `make package` first.", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="nimbus-bench-"))
    results: dict[str, Any] = {}
    try:
        if "package" in parts:
            results.update(measure(package_zip, work, args.runs, args.warm))
        if "local" in parts:
            results.update(throughput.local_measure(work))
        if "load" in parts:
            results.update(throughput.load_measure(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    previous = HERE / "results.json"
    if parts != {"package", "local", "load"} and previous.exists():
        results = {**json.loads(previous.read_text()), **results}
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    return 0


def measure(package_zip: Path, work: Path, runs: int, warm: int) -> dict[str, Any]:
    runtime = runtime_dir(work)
    nimbus = unzip(package_zip, work / "nimbus")
    env = throughput.prepare_nimbus(nimbus, work, runtime)
    healthz = EVENTS / "apigw_rest_v1_healthz.json"
    me_event = throughput.authenticated_event(work, env)

    base_zip = baseline.build(work / "baseline-build")
    base = unzip(base_zip, work / "baseline")
    floor = unzip(base_zip, work / "floor")
    compile_tree(floor)
    base_env = {"DJANGO_SETTINGS_MODULE": "baseline.settings"}

    nimbus_cold = cold_runs(
        nimbus, "project.entrypoints:lambda_handler", [healthz, me_event], env, runs, runtime
    )
    # SnapStart: the same cold starts with the snapshot hooks run after the import, as
    # Lambda runs them once per version; a restored environment pays only what follows.
    snap_cold = cold_runs(
        nimbus,
        "project.entrypoints:lambda_handler",
        [healthz, me_event],
        env,
        runs,
        runtime,
        snapshot=True,
    )
    base_cold = cold_runs(base, "handler:lambda_handler", [healthz], base_env, runs, runtime)
    floor_cold = cold_runs(floor, "handler:lambda_handler", [healthz], base_env, runs, runtime)
    nimbus_warm = cold_runs(
        nimbus, "project.entrypoints:lambda_handler", [healthz, me_event], env, 1, runtime, warm
    )[0]
    base_warm = cold_runs(floor, "handler:lambda_handler", [healthz], base_env, 1, runtime, warm)[0]

    statuses = {r["responses"][0]["status"] for r in nimbus_cold} | {
        r["responses"][1]["status"] for r in nimbus_cold
    }
    if statuses != {200}:
        raise RuntimeError(f"Nimbus answered {statuses} during the cold start runs")
    cold = median_first(nimbus_cold)
    base_cold_ms = median_first(base_cold)
    floor_ms = median_first(floor_cold)
    warm_p50 = percentile(nimbus_warm["warm_ms"][0], 50)
    base_p50 = percentile(base_warm["warm_ms"][0], 50)
    results: dict[str, Any] = {
        "cold_start_ms": round(cold, 1),
        "cold_start_auth_ms": round(
            statistics.median(r["first_response_ms"] for r in nimbus_cold), 1
        ),
        "baseline_cold_start_ms": round(base_cold_ms, 1),
        "floor_cold_start_ms": round(floor_ms, 1),
        "cold_start_ratio": round(cold / base_cold_ms, 3),
        "cold_start_vs_floor": round(cold / floor_ms, 3),
        **_snapstart(snap_cold),
        "warm_p50_ms": round(warm_p50, 3),
        "warm_p99_ms": round(percentile(nimbus_warm["warm_ms"][0], 99), 3),
        "warm_auth_p50_ms": round(percentile(nimbus_warm["warm_ms"][1], 50), 3),
        "baseline_warm_p50_ms": round(base_p50, 3),
        "baseline_warm_p99_ms": round(percentile(base_warm["warm_ms"][0], 99), 3),
        "warm_ratio": round(warm_p50 / base_p50, 3),
        "package_zip_mb": round(package_zip.stat().st_size / MB, 2),
        "package_unzipped_mb": round(unzipped_size(nimbus) / MB, 2),
        "baseline_package_zip_mb": round(base_zip.stat().st_size / MB, 2),
        "boto3_on_request_path": any(r["boto3_imported"] for r in nimbus_cold),
        "runs": runs,
        "warm_invocations": warm,
    }
    results.update(throughput.measure(nimbus, env, runtime, work))
    results["import_profile"] = import_profile(
        nimbus, "project.entrypoints:lambda_handler", healthz, env, runtime
    )
    return results


TARGETS = {
    "cold_start_ratio": ("<=", 0.5),
    "cold_start_vs_floor": ("<=", 1.5),
    "warm_ratio": ("<=", 1.5),
    "package_zip_mb": ("<=", 25),
    "package_unzipped_mb": ("<=", 250),
    # neither /healthz nor the authenticated API request calls AWS, so neither loads boto3
    "boto3_on_request_path": ("is", False),
    "events_per_s_local": (">=", 500),
    "workflow_executions_per_s": (">=", 150),
    "load_errors": ("<=", 0),
    "load_events_lost": ("<=", 0),
}


def print_table(results: dict[str, Any]) -> None:
    print(f"{'figure':32} {'value':>12}  target")
    for key, value in results.items():
        if key == "import_profile":
            continue
        target = TARGETS.get(key)
        note = ""
        if target and target[0] == "is":
            ok = value is target[1]
            note = f"{target[0]} {target[1]}  {'ok' if ok else 'MISSED'}"
        elif target and isinstance(value, int | float):
            ok = value >= target[1] if target[0] == ">=" else value <= target[1]
            note = f"{target[0]} {target[1]}  {'ok' if ok else 'MISSED'}"
        print(f"{key:32} {value!s:>12}  {note}")
    print("\nslowest imports at cold start (self ms / cumulative ms):")
    for row in results.get("import_profile", []):
        print(f"  {row['self_ms']:8.1f} {row['cumulative_ms']:9.1f}  {row['module']}")


if __name__ == "__main__":
    raise SystemExit(main())
