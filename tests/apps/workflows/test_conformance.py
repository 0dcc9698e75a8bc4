"""The conformance corpus: each ASL case runs on the local engine and on moto's engine.

Both must end with the same status, output and error. Where moto 5.2.5 is known to differ
from AWS (``moto_divergence`` in the case), the local engine must give the AWS result
(``aws``) and moto must still differ — so a moto fix shows up as a failing test to update.
Waits and retry intervals are real seconds on moto and simulated by a clock locally.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from apps.workflows.engine import Interpreter, validate
from apps.workflows.engine.interpreter import parse_iso, pending_tokens, token_hash

CASES = sorted((Path(__file__).parent / "conformance").glob("*.json"))
SQS_TOKEN = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def run_local(case: dict[str, Any], name: str = "case") -> dict[str, Any]:
    clock, sent = Clock(), []

    def tasks(resource: str, payload: Any, *, context: dict[str, Any], token: str | None) -> Any:
        assert resource == SQS_TOKEN
        sent.append(payload["MessageBody"]["token"])
        return {"MessageId": "m-1"}

    engine = Interpreter(case["definition"], tasks=tasks, now=clock)
    machine = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
    run = engine.start(case["input"], execution_id="arn:local", name="case", state_machine=machine)
    callbacks = list(case.get("callbacks", []))
    for _ in range(100):
        engine.advance(run)
        if run["status"] != "RUNNING":
            break
        if sent and callbacks:
            callback, token = callbacks.pop(0), sent.pop(0)
            assert pending_tokens(run)[0]["token_hash"] == token_hash(token)
            engine.resolve_token(
                run,
                token_hash(token),
                output=callback.get("output"),
                error=callback.get("error") if callback["outcome"] == "failure" else None,
                cause=callback.get("cause"),
            )
        elif run["wake_at"]:
            clock.now = max(clock.now, parse_iso(run["wake_at"]))
        else:
            clock.now += timedelta(seconds=1)
    return {"status": run["status"], "output": run["output"], "error": run["error"]}


@pytest.fixture(scope="module")
def moto_sfn():
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name="us-east-1"), boto3.client("sqs")


def run_moto(moto_sfn: Any, name: str, case: dict[str, Any]) -> dict[str, Any]:
    sfn, sqs = moto_sfn
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    definition = json.dumps(case["definition"]).replace("QUEUE_URL", queue)
    machine = sfn.create_state_machine(
        name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(case["input"]))[
        "executionArn"
    ]
    callbacks = list(case.get("callbacks", []))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING":
            break
        for message in sqs.receive_message(QueueUrl=queue).get("Messages", []):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            token = json.loads(message["Body"])["token"]
            if not callbacks:
                continue  # the case lets this task time out
            callback = callbacks.pop(0)
            if callback["outcome"] == "success":
                sfn.send_task_success(taskToken=token, output=json.dumps(callback["output"]))
            else:
                sfn.send_task_failure(
                    taskToken=token, error=callback["error"], cause=callback["cause"]
                )
        time.sleep(0.05)
    output = json.loads(desc["output"]) if "output" in desc else None
    return {"status": desc["status"], "output": output, "error": desc.get("error")}


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """What both engines must agree on.

    For TIMED_OUT only the status: AWS records ``States.Timeout`` in the ExecutionTimedOut
    event, and moto's DescribeExecution carries no error for it.
    """
    if result["status"] == "TIMED_OUT":
        return {"status": result["status"], "output": result["output"]}
    return result


def expected_of(case: dict[str, Any]) -> dict[str, Any]:
    aws = case["aws"]
    return {"status": aws["status"], "output": aws.get("output"), "error": aws.get("error")}


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_is_valid_asl(path: Path):
    validate(load(path)["definition"])


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_local_engine_matches_moto_or_aws(path: Path, moto_sfn):
    case = load(path)
    local = run_local(case, path.stem)
    remote = run_moto(moto_sfn, path.stem, case)
    if "moto_divergence" in case:
        assert local == expected_of(case)
        assert remote != local, f"moto now agrees with AWS: drop moto_divergence in {path.name}"
        return
    if "aws" in case:
        assert local == expected_of(case)
    assert comparable(local) == comparable(remote)
