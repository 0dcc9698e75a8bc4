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
from collections.abc import Callable
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
        result = json.loads(line.removeprefix("BENCH-RESULT "))
        statuses = {r["status"] for r in result["responses"]}
        if statuses != {200}:
            raise RuntimeError(f"{package} ({target}) answered {statuses}")
        results.append(result)
    return results


# Runs inside the fresh interpreter: the runtime's packages go last on sys.path, then the
# measured script runs with its own argv.
_BOOT = (
    "import sys, runpy; rt = sys.argv[1]; script = sys.argv[2]; sys.argv = sys.argv[2:]; "
    "sys.path.append(rt); runpy.run_path(script, run_name='__main__')"
)


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


NIMBUS_HANDLER = "project.entrypoints:lambda_handler"
ZAPPA_HANDLER = "handler:lambda_handler"
FLOOR_HANDLER = "floor_handler:lambda_handler"
BASE_ENV = {"DJANGO_SETTINGS_MODULE": "baseline.settings"}
#: The middlewares whose cost `middleware` measures (bench/README.md, "Warm path").
MEASURED_MIDDLEWARE = {
    "body_guard": "project.requestbody.BodyGuardMiddleware",
    "site_url": "project.site.SiteUrlMiddleware",
}


class Bench:
    """What the measurements share: the unzipped packages (built on first use), the
    function's environment, the events, and the figures measured so far."""

    def __init__(
        self, package_zip: Path, work: Path, runs: int, warm: int, *, unpack: bool = True
    ) -> None:
        self.package_zip = package_zip
        self.work = work
        self.runs = runs
        self.warm = warm
        self.results: dict[str, Any] = {}
        self._built: dict[str, Path] = {}
        if not unpack:  # only measurements that need no package (WITHOUT_PACKAGE)
            return
        self.runtime = runtime_dir(work)
        self.nimbus = unzip(package_zip, work / "nimbus")
        self.env = throughput.prepare_nimbus(self.nimbus, work, self.runtime)
        self.healthz = EVENTS / "apigw_rest_v1_healthz.json"
        self.api = throughput.authenticated_event(work, self.env)

    @property
    def baseline_zip(self) -> Path:
        if "baseline_zip" not in self._built:
            self._built["baseline_zip"] = baseline.build(self.work / "baseline-build")
        return self._built["baseline_zip"]

    @property
    def baseline(self) -> Path:
        """Bare Django on stock Zappa, as `zappa package` ships it (no bytecode)."""
        if "baseline" not in self._built:
            self._built["baseline"] = unzip(self.baseline_zip, self.work / "baseline")
        return self._built["baseline"]

    @property
    def floor(self) -> Path:
        """The baseline package with every module compiled."""
        if "floor" not in self._built:
            floor = unzip(self.baseline_zip, self.work / "floor")
            compile_tree(floor)
            self._built["floor"] = floor
        return self._built["floor"]

    @property
    def pure_floor(self) -> Path:
        """Bare Django behind the smallest adapter, compiled as Nimbus is (no boto3)."""
        if "pure_floor" not in self._built:
            self._built["pure_floor"] = baseline.pure_floor(self.work / "pure-floor-build")
        return self._built["pure_floor"]


Measurement = Callable[[Bench], dict[str, Any]]
#: Every figure of `make bench`, in order; each function adds its keys to results.json.
#: A new figure is a new function decorated with @measurement (it may read the figures of
#: the measurements before it in ``bench.results``).
MEASUREMENTS: list[Measurement] = []


def measurement(func: Measurement) -> Measurement:
    MEASUREMENTS.append(func)
    return func


def median(values: Any) -> float:
    return float(statistics.median(values))


def first_ms(result: dict[str, Any], upto: int = 1) -> float:
    """Import + the first ``upto`` responses of one cold start."""
    return float(result["import_ms"] + sum(r["ms"] for r in result["responses"][:upto]))


@measurement
def package_size(bench: Bench) -> dict[str, Any]:
    return {
        "package_zip_mb": round(bench.package_zip.stat().st_size / MB, 2),
        "package_unzipped_mb": round(unzipped_size(bench.nimbus) / MB, 2),
        "baseline_package_zip_mb": round(bench.baseline_zip.stat().st_size / MB, 2),
    }


@measurement
def cold_starts(bench: Bench) -> dict[str, Any]:
    """Fresh processes, round-robin over the variants (so a busy spell of the machine
    hits them all alike); medians of ``--runs`` each."""
    variants: dict[str, tuple[Path, str, list[Path], dict[str, str], bool]] = {
        "nimbus": (bench.nimbus, NIMBUS_HANDLER, [bench.healthz], bench.env, False),
        "api": (bench.nimbus, NIMBUS_HANDLER, [bench.api], bench.env, False),
        "snap": (bench.nimbus, NIMBUS_HANDLER, [bench.healthz], bench.env, True),
        "snap_api": (bench.nimbus, NIMBUS_HANDLER, [bench.api], bench.env, True),
        "baseline": (bench.baseline, ZAPPA_HANDLER, [bench.healthz], BASE_ENV, False),
        "floor": (bench.floor, ZAPPA_HANDLER, [bench.healthz], BASE_ENV, False),
        "pure_floor": (bench.pure_floor, FLOOR_HANDLER, [bench.healthz], BASE_ENV, False),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for _ in range(bench.runs):
        for name, (package, target, events, env, snapshot) in variants.items():
            runs[name] += cold_runs(
                package, target, events, env, 1, bench.runtime, snapshot=snapshot
            )
    cold = median(first_ms(r) for r in runs["nimbus"])
    api = median(first_ms(r) for r in runs["api"])
    base = median(first_ms(r) for r in runs["baseline"])
    floor = median(first_ms(r) for r in runs["floor"])
    pure = median(first_ms(r) for r in runs["pure_floor"])
    # SnapStart (bench/README.md): the before-snapshot hooks run after the import, as Lambda
    # runs them once per version before the snapshot; a restored environment then pays
    # only the after-restore hooks and the request.
    snap, snap_api = runs["snap"], runs["snap_api"]
    first_request = median(r["responses"][0]["ms"] for r in runs["nimbus"])
    first_api_request = median(r["responses"][0]["ms"] for r in runs["api"])
    restored = median(r["restore_ms"] + r["responses"][0]["ms"] for r in snap)
    restored_api = median(r["restore_ms"] + r["responses"][0]["ms"] for r in snap_api)
    return {
        "cold_start_ms": round(cold, 1),
        "cold_start_auth_ms": round(api, 1),
        "baseline_cold_start_ms": round(base, 1),
        "floor_cold_start_ms": round(floor, 1),
        "pure_floor_cold_start_ms": round(pure, 1),
        "cold_start_ratio": round(cold / base, 3),
        "cold_start_vs_floor": round(cold / floor, 3),
        "cold_start_vs_pure_floor": round(cold / pure, 3),
        "cold_start_auth_vs_floor": round(api / pure, 3),
        "boto3_on_request_path": any(r["boto3_imported"] for r in runs["nimbus"] + runs["api"]),
        "first_request_ms": round(first_request, 1),
        "first_api_request_ms": round(first_api_request, 1),
        "snapstart_init_ms": round(median(r["import_ms"] + r["snapshot_ms"] for r in snap), 1),
        "snapstart_before_snapshot_ms": round(median(r["snapshot_ms"] for r in snap), 1),
        "snapstart_restore_hooks_ms": round(median(r["restore_ms"] for r in snap), 1),
        "snapstart_first_response_ms": round(restored, 1),
        "snapstart_first_api_response_ms": round(restored_api, 1),
        "snapstart_saves_first_request_ms": round(first_request - restored, 1),
        "snapstart_saves_first_api_request_ms": round(first_api_request - restored_api, 1),
        "runs": bench.runs,
    }


@measurement
def warm(bench: Bench, rounds: int = 3) -> dict[str, Any]:
    """``--warm`` invocations after the cold start, in ``rounds`` processes per variant
    (round-robin); each percentile is the median over the rounds."""
    variants = {
        "nimbus": (bench.nimbus, NIMBUS_HANDLER, [bench.healthz, bench.api], bench.env),
        "floor": (bench.floor, ZAPPA_HANDLER, [bench.healthz], BASE_ENV),
        "pure_floor": (bench.pure_floor, FLOOR_HANDLER, [bench.healthz], BASE_ENV),
    }
    samples: dict[str, list[list[list[float]]]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (package, target, events, env) in variants.items():
            run = cold_runs(package, target, events, env, 1, bench.runtime, bench.warm)[0]
            samples[name].append(run["warm_ms"])

    def pct(name: str, event: int, q: float) -> float:
        return median(percentile(r[event], q) for r in samples[name])

    p50, floor_p50, pure_p50 = pct("nimbus", 0, 50), pct("floor", 0, 50), pct("pure_floor", 0, 50)
    return {
        "warm_p50_ms": round(p50, 3),
        "warm_p99_ms": round(pct("nimbus", 0, 99), 3),
        "warm_api_p50_ms": round(pct("nimbus", 1, 50), 3),
        "warm_api_p99_ms": round(pct("nimbus", 1, 99), 3),
        "baseline_warm_p50_ms": round(floor_p50, 3),
        "baseline_warm_p99_ms": round(pct("floor", 0, 99), 3),
        "pure_floor_warm_p50_ms": round(pure_p50, 3),
        "warm_ratio": round(p50 / floor_p50, 3),
        "warm_vs_pure_floor": round(p50 / pure_p50, 3),
        "warm_invocations": bench.warm,
    }


_MIDDLEWARE_PROBE = """
import json, timeit
from importlib import import_module
from project.entrypoints import _ensure_django, apigateway
_ensure_django()
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse

class Context:
    function_name, aws_request_id, memory_limit_in_mb = "bench", "bench", 1024
    def get_remaining_time_in_millis(self):
        return 28000

answer = HttpResponse("ok")
costs = {}
for label, path in EVENTS:
    event = json.load(open(path))
    apigateway.serve(event, Context())  # warm: the first request loads what it needs
    environ = apigateway.environ_for(event, Context())
    body = environ["wsgi.input"].getvalue()
    def request():
        return WSGIRequest({**environ, "wsgi.input": __import__("io").BytesIO(body)})
    bare = min(timeit.repeat(request, number=N, repeat=5)) / N
    for key, dotted in MIDDLEWARE.items():
        module, name = dotted.rsplit(".", 1)
        middleware = getattr(import_module(module), name)(lambda request: answer)
        full = min(timeit.repeat(lambda: middleware(request()), number=N, repeat=5)) / N
        costs[f"{label}{key}"] = round((full - bare) * 1e6, 2)
print("BENCH-RESULT " + json.dumps(costs))
"""


@measurement
def middleware(bench: Bench, number: int = 5000) -> dict[str, Any]:
    """What each of BodyGuardMiddleware and SiteUrlMiddleware adds to a request, in
    microseconds: the middleware around a view that answers at once, minus building the
    request, best of five rounds of ``number`` calls in one warm process (/healthz and
    /api/me, as the bench's events give them)."""
    events = [("", str(bench.healthz)), ("api_", str(bench.api))]
    code = (
        f"N = {number}\nEVENTS = {events!r}\nMIDDLEWARE = {MEASURED_MIDDLEWARE!r}\n"
        + _MIDDLEWARE_PROBE
    )
    out = throughput.run_in_package(bench.nimbus, bench.runtime, bench.env, code)
    line = next(x for x in out.splitlines() if x.startswith("BENCH-RESULT "))
    costs = json.loads(line.removeprefix("BENCH-RESULT "))
    return {f"middleware_{key}_us": value for key, value in costs.items()}


@measurement
def throughput_figures(bench: Bench) -> dict[str, Any]:
    return dict(throughput.measure(bench.nimbus, bench.env, bench.runtime, bench.work))


@measurement
def local_bus(bench: Bench) -> dict[str, Any]:
    """The local bus and engine on SQLite (and PostgreSQL when DATABASE_URL is set)."""
    return throughput.local_measure(bench.work)


@measurement
def load(bench: Bench) -> dict[str, Any]:
    """A short `make load` (bench/load.py); its keys, and bench/load.json."""
    return throughput.load_measure(bench.work)


#: Measurements that run from the repository, not the package: `--only local_bus --only
#: load` needs no `make package`.
WITHOUT_PACKAGE = {"local_bus", "load"}


@measurement
def imports(bench: Bench) -> dict[str, Any]:
    return {
        "import_profile": import_profile(
            bench.nimbus, NIMBUS_HANDLER, bench.healthz, bench.env, bench.runtime
        ),
        "import_profile_api": import_profile(
            bench.nimbus, NIMBUS_HANDLER, bench.api, bench.env, bench.runtime
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--package", default=str(REPO / "build" / "nimbus-dev.zip"))
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--warm", type=int, default=2000)
    names = [func.__name__ for func in MEASUREMENTS]
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        help="run only these measurements; their keys replace those in bench/results.json",
    )
    args = parser.parse_args()
    package_zip = Path(args.package)
    unpack = not args.only or not set(args.only) <= WITHOUT_PACKAGE
    if unpack and not package_zip.exists():
        print(f"{package_zip} is missing: run `make package` first.", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="nimbus-bench-"))
    output = HERE / "results.json"
    try:
        bench = Bench(package_zip, work, args.runs, args.warm, unpack=unpack)
        if args.only and output.exists():
            bench.results.update(json.loads(output.read_text()))
        for func in MEASUREMENTS:
            if args.only and func.__name__ not in args.only:
                continue
            print(f"measuring {func.__name__} ...", file=sys.stderr, flush=True)
            bench.results.update(func(bench))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    output.write_text(json.dumps(bench.results, indent=2) + "\n")
    print_table(bench.results)
    return 0


TARGETS = {
    "cold_start_ratio": ("<=", 0.3),
    "cold_start_vs_floor": ("<=", 1.5),
    "cold_start_vs_pure_floor": ("<=", 1.2),
    "cold_start_auth_vs_floor": ("<=", 1.3),
    "warm_ratio": ("<=", 1.2),
    "package_zip_mb": ("<=", 18),
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
        if key.startswith("import_profile"):
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
