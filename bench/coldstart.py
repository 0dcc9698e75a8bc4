"""One cold start, measured inside a fresh interpreter (run by bench/run.py, not imported).

Usage: python -I -S coldstart.py <package dir> <handler module:function> <event.json>...
          [--warm N] [--snapshot]

The package directory plays /var/task: it is the working directory and the only entry on
sys.path besides the standard library, as on Lambda. Prints one JSON object: milliseconds
to import the handler, to answer each event in turn, and (with --warm) the latency of N
further invocations of each event. ``--snapshot`` plays SnapStart after the import: the
before-snapshot hooks the handler registered (``snapshot_ms``), then the after-restore
hooks (``restore_ms``), as Lambda runs them around a snapshot, before the events.
"""

import json
import os
import sys
import time

t_start = time.perf_counter()


def main() -> None:
    args = sys.argv[1:]
    warm = 0
    if "--warm" in args:
        i = args.index("--warm")
        warm = int(args[i + 1])
        del args[i : i + 2]
    snapshot = "--snapshot" in args
    if snapshot:
        args.remove("--snapshot")
    package, target, *event_paths = args
    events = []
    for path in event_paths:
        with open(path) as f:
            events.append(json.load(f))
    os.chdir(package)
    sys.path.insert(0, package)
    module_name, func_name = target.split(":")
    t0 = time.perf_counter()
    module = __import__(module_name, fromlist=[func_name])
    handler = getattr(module, func_name)
    t_import = time.perf_counter()
    result = {"import_ms": (t_import - t0) * 1000, "responses": []}
    last = t_import
    if snapshot:
        import snapshot_restore_py as runtime

        for func, hook_args, kwargs in runtime.get_before_snapshot():
            func(*hook_args, **kwargs)
        t_snapshot = time.perf_counter()
        for func, hook_args, kwargs in runtime.get_after_restore():
            func(*hook_args, **kwargs)
        last = time.perf_counter()
        result["snapshot_ms"] = (t_snapshot - t_import) * 1000
        result["restore_ms"] = (last - t_snapshot) * 1000
    for event in events:
        response = handler(event, _Context())
        now = time.perf_counter()
        status = response.get("statusCode") if isinstance(response, dict) else None
        result["responses"].append({"ms": (now - last) * 1000, "status": status})
        last = now
    result["first_response_ms"] = (time.perf_counter() - t0) * 1000
    if warm:
        result["warm_ms"] = []
        for event in events:
            samples = []
            for _ in range(warm):
                s = time.perf_counter()
                handler(event, _Context())
                samples.append((time.perf_counter() - s) * 1000)
            result["warm_ms"].append(samples)
    modules = sys.modules
    result["boto3_imported"] = "boto3" in modules or "botocore" in modules
    print("BENCH-RESULT " + json.dumps(result))


class _Context:
    function_name = "bench"
    aws_request_id = "bench-request"
    memory_limit_in_mb = 1024

    def get_remaining_time_in_millis(self) -> int:
        return 28_000


main()
