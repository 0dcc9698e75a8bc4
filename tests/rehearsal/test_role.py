"""After the main job and the other shapes: the role allowed every AWS call they made.

Runs last in the package (file order). A call the rendered ``FunctionRole`` does not allow
fails here, naming the call and the permission it needed (see ``iam.py``).
"""

from __future__ import annotations

import pytest

from tests.rehearsal.iam import refused

pytestmark = [pytest.mark.slow]


def test_the_function_role_allows_every_call_the_function_made(lam, world):
    operations = {f"{c['service']}.{c['operation']}" for c in lam.calls}
    # The rehearsal reached the services the main job needs (it is not vacuous).
    assert {
        "cognito-idp.SignUp",
        "s3.GetObject",
        "events.PutEvents",
        "stepfunctions.StartExecution",
    } <= operations | {"s3.GetObject" if "s3.HeadObject" in operations else ""}, sorted(operations)
    missing = refused(lam.calls, world)
    assert missing == [], "the function's role does not allow:\n" + "\n".join(missing)


def test_tracing_was_on_and_segments_reached_the_daemon(xray, lam):
    assert lam.invocations, "nothing was invoked"
    names = {segment.get("name") for segment in xray.segments}
    assert xray.segments, "no X-Ray segment arrived: tracing is off in the package"
    assert any(
        str(n).startswith("##") or n in ("s3", "SQS", "EventBridge", "SFN", "DynamoDB")
        for n in names
    ), names
