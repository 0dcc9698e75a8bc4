"""Run inside a fresh ``python -I -S`` process: serve one event from an unzipped package.

argv: <package dir> <runtime dir> <event json file> [module ...]. Serves the event, turns
X-Ray tracing on as the first AWS client does on Lambda (it patches botocore and requests),
then imports each extra module (what production code imports later, off the /healthz path).
Prints one JSON line: ``{"response": ..., "missing": {module: error}, "outside": [modules
not loaded from the package, the runtime or the standard library]}``.
"""

import importlib
import json
import sys
import sysconfig

task, runtime, event_path, *extra = sys.argv[1:]
sys.path[:0] = [task, runtime]  # /var/task first, then /var/runtime, as on Lambda


class Context:
    function_name = "nimbus-dev"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:nimbus-dev"
    memory_limit_in_mb = 1024
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name = "/aws/lambda/nimbus-dev"
    log_stream_name = "2026/11/27/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self):
        return 28_000


from project.entrypoints import lambda_handler  # noqa: E402

with open(event_path) as handle:
    event = json.load(handle)
response = lambda_handler(event, Context())
missing = {}
try:  # on Lambda with Active tracing, the first AWS client patches botocore and requests
    from project.tracing import configure_tracing, tracing_enabled

    assert tracing_enabled(), "tracing is off: the Lambda variables are not set"
    configure_tracing()
except Exception as exc:
    missing["project.tracing.configure_tracing"] = f"{type(exc).__name__}: {exc}"
for name in extra:
    try:
        importlib.import_module(name)
    except Exception as exc:  # report every failure, not just the first
        missing[name] = f"{type(exc).__name__}: {exc}"
stdlib = sysconfig.get_paths()["stdlib"]
allowed = (task, runtime, stdlib)
outside = sorted(
    name
    for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None)
    and not name.startswith("__")  # this script itself (__main__ and its alias)
    and not str(module.__file__).startswith(allowed)
)
print(json.dumps({"response": response, "missing": missing, "outside": outside}))
