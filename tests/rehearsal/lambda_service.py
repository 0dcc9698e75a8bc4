"""The rehearsal's Lambda service: boxes of the unzipped package, and what calls them.

moto cannot run Lambda code, so this module plays the parts of AWS that invoke the
function, each with the payload shape AWS sends:

* :meth:`LambdaService.invoke` — one invocation in an idle box (a new box, up to
  :data:`MAX_BOXES`, when all are busy: Lambda scales out, and Step Functions invokes the
  function while it is itself waiting on Step Functions);
* the **invoker** moto's Lambda calls: moto's Step Functions engine runs the state machines
  and invokes ``nimbus-dev`` through moto's Lambda API; :func:`patch_moto` makes that
  invocation run in a box (``FunctionError`` and the error payload as Lambda returns them);
* **Cognito's triggers**, which moto never calls: PreSignUp before ``SignUp`` (a refusal
  fails the sign-up as ``UserLambdaValidationException``), PostConfirmation after
  ``ConfirmSignUp``, PreTokenGeneration before tokens are issued;
* **event source mappings**, as the template declares them (:meth:`LambdaService.poll`):
  receive up to ``BatchSize`` messages, invoke with the SQS event, delete all but the
  ``batchItemFailures`` the function reports;
* an X-Ray daemon on a loopback UDP port that counts the segments the box emits.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.rehearsal.world import ACCOUNT, FUNCTION, FUNCTION_ALIAS, REGION, World

MAX_BOXES = 4
BOX = Path(__file__).with_name("box.py")


class InvocationError(AssertionError):
    """The function raised: Lambda's error payload, with the box's own traceback."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        trace = "".join(answer.get("stackTrace") or [])[-3000:]
        super().__init__(f"{answer.get('errorType')}: {answer.get('errorMessage')}\n{trace}")


class Box:
    """One warm container: a fresh isolated interpreter serving invocations in turn."""

    def __init__(self, python: str, task: Path, runtime: Path, env: dict[str, str], log: Path):
        read, write = os.pipe()
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [
                python,
                "-I",
                "-S",
                "-B",
                str(BOX),
                str(task),
                str(runtime),
                str(write),
                env["AWS_ENDPOINT_URL"],
            ],
            cwd=task,
            env=env,
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            pass_fds=(write,),
        )
        os.close(write)
        self.replies = os.fdopen(read)
        self.lock = threading.Lock()

    def invoke(self, event: Any, timeout: float = 60) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(
            (json.dumps({"event": event, "request_id": str(uuid.uuid4())}) + "\n").encode()
        )
        self.process.stdin.flush()
        line = self.replies.readline()
        if not line:
            raise AssertionError(f"the box died (exit {self.process.poll()}); see {self.log.name}")
        return dict(json.loads(line))

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class XRayDaemon:
    """Listens where ``AWS_XRAY_DAEMON_ADDRESS`` points and keeps what arrives."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self.segments: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.socket.recv(65536)
            except TimeoutError:
                continue
            _header, _, body = data.partition(b"\n")
            with contextlib.suppress(ValueError):
                self.segments.append(json.loads(body))

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()
        self.socket.close()


class LambdaService:
    def __init__(
        self, world: World, python: str, task: Path, runtime: Path, env: dict[str, str], logs: Path
    ) -> None:
        self.world = world
        self.python, self.task, self.runtime, self.env, self.logs = python, task, runtime, env, logs
        self.boxes: list[Box] = []
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.invocations: list[dict[str, Any]] = []
        #: The qualifier of each invocation moto's services (Step Functions) made.
        self.invoked_aliases: list[str] = []
        self.execution_status: dict[str, str] = {}

    def _box(self) -> Box:
        with self.lock:
            for box in self.boxes:
                if box.lock.acquire(blocking=False):
                    return box
            assert len(self.boxes) < MAX_BOXES, "more concurrent invocations than boxes"
            box = Box(
                self.python,
                self.task,
                self.runtime,
                self.env,
                self.logs / f"box-{len(self.boxes)}.log",
            )
            box.lock.acquire()
            self.boxes.append(box)
            return box

    def invoke_raw(self, event: Any) -> dict[str, Any]:
        """Lambda's answer to one invocation: ``{"result": ...}`` or its error payload."""
        # Recorded before it runs: its effects (a row, a status) can be seen by another
        # invocation before this one has answered.
        invocation: dict[str, Any] = {"event": event}
        with self.lock:
            self.invocations.append(invocation)
        box = self._box()
        try:
            answer = box.invoke(event)
        finally:
            box.lock.release()
        with self.lock:
            self.calls.extend(answer.get("calls", []))
            invocation["answer"] = answer
        return answer

    def invoke(self, event: Any) -> Any:
        """The function's result; its error raises :class:`InvocationError`."""
        answer = self.invoke_raw(event)
        if "result" not in answer:
            raise InvocationError(answer)
        return answer["result"]

    def stop(self) -> None:
        for box in self.boxes:
            box.stop()

    def last_error(self) -> str:
        """The last line of the last exception the function logged (its CloudWatch log)."""
        found = ""
        for box in self.boxes:
            box.log.flush()
            for line in Path(box.log.name).read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if isinstance(record, dict) and record.get("exception"):
                        found = str(record["exception"]).strip().splitlines()[-1]
        return found or "no exception in the function's log"

    # -- event source mappings ---------------------------------------------------------

    def mappings(self) -> list[tuple[str, int]]:
        """(queue logical id, batch size) of each SQS mapping the template declares."""
        found = []
        for logical, resource in self.world.of_type("AWS::Lambda::EventSourceMapping").items():
            if not self.world.active(logical):
                continue
            props = resource["Properties"]
            assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], logical
            found.append(
                (props["EventSourceArn"]["Fn::GetAtt"][0], int(props.get("BatchSize", 10)))
            )
        return found

    def sqs_event(self, queue: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The event Lambda's SQS poller sends for ``messages`` received from ``queue``."""
        arn = self.world.resolver.attributes[(queue, "Arn")]
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {
                        name: {
                            "stringValue": value.get("StringValue"),
                            "binaryValue": value.get("BinaryValue"),
                            "stringListValues": [],
                            "binaryListValues": [],
                            "dataType": value["DataType"],
                        }
                        for name, value in m.get("MessageAttributes", {}).items()
                    },
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }

    def report_execution_changes(self) -> int:
        """Step Functions' part moto does not play: an "Execution Status Change" event to
        the default bus for each status an execution of the stack's machines reached."""
        states = self.world.session.client("stepfunctions")
        entries = []
        for machine in self.world.state_machines.values():
            for summary in states.list_executions(stateMachineArn=machine)["executions"]:
                arn, status = summary["executionArn"], summary["status"]
                if self.execution_status.get(arn) == status:
                    continue
                self.execution_status[arn] = status
                entries.append(_status_change_entry(states.describe_execution(executionArn=arn)))
        if entries:
            answer = self.world.session.client("events").put_events(Entries=entries)
            assert answer["FailedEntryCount"] == 0, answer
        return len(entries)

    def poll(self) -> int:
        """One round of every mapping; the number of messages the function took."""
        self.report_execution_changes()
        sqs = self.world.session.client("sqs")
        handled = 0
        for queue, batch in self.mappings():
            url = self.world.queue_url(queue)
            received = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=batch,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=30,
            ).get("Messages", [])
            if not received:
                continue
            answer = self.invoke_raw(self.sqs_event(queue, received))
            if "result" not in answer:
                continue  # the whole batch becomes visible again, as on AWS
            failed = {f["itemIdentifier"] for f in answer["result"].get("batchItemFailures", [])}
            done = [m for m in received if m["MessageId"] not in failed]
            for message in done:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            handled += len(done)
        return handled

    def pump_until(self, condition: Any, *, timeout: float = 60, what: str = "") -> Any:
        """Poll the mappings until ``condition()`` is truthy; fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if not self.poll():
                time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; {self.executions_summary()}")

    def executions_summary(self) -> str:
        """Where each execution on moto's Step Functions stands (for a timeout's message)."""
        states = self.world.session.client("stepfunctions")
        lines = []
        for machine in self.world.state_machines.values():
            for summary in states.list_executions(stateMachineArn=machine)["executions"]:
                history = states.get_execution_history(
                    executionArn=summary["executionArn"], reverseOrder=True, maxResults=4
                )["events"]
                last = [
                    f"{e['type']}{(' ' + str(e.get('taskFailedEventDetails') or e.get('lambdaFunctionFailedEventDetails') or ''))[:200]}"
                    for e in history
                ]
                lines.append(f"{summary['name']} {summary['status']}: {last}")
        return "executions: " + ("; ".join(lines) or "none")


def _millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def _status_change_entry(execution: dict[str, Any]) -> dict[str, Any]:
    """The event as Step Functions sends it (tests/aws_events/eventbridge_sfn_status_change.json)."""
    status = execution["status"]
    detail = {
        "executionArn": execution["executionArn"],
        "stateMachineArn": execution["stateMachineArn"],
        "name": execution["name"],
        "status": status,
        "startDate": _millis(execution.get("startDate")),
        "stopDate": _millis(execution.get("stopDate")),
        "input": execution.get("input"),
        "output": execution.get("output"),
        "inputDetails": {"included": True},
        "outputDetails": {"included": True},
        "error": execution.get("error"),
        "cause": execution.get("cause"),
        "redriveCount": int(execution.get("redriveCount", 0)),
        "redriveDate": None,
        "redriveStatus": "NOT_REDRIVABLE",
        "stateMachineVersionArn": None,
        "stateMachineAliasArn": None,
    }
    return {
        "Source": "aws.states",
        "DetailType": "Step Functions Execution Status Change",
        "Resources": [execution["executionArn"]],
        "Detail": json.dumps(detail),
        "EventBusName": "default",
    }


# -- moto's side: the invoker and Cognito's triggers ------------------------------------


def _function_and_alias(function_name: str, qualifier: str | None) -> tuple[str, str]:
    """(name, qualifier) of an invocation's FunctionName (name, ``name:alias`` or an ARN)."""
    parts = function_name.split(":")
    if function_name.startswith("arn:"):
        name, rest = parts[6], parts[7:]
    else:
        name, rest = parts[0], parts[1:]
    return name, qualifier or (rest[0] if rest else "$LATEST")


@contextlib.contextmanager
def patch_moto(service: LambdaService) -> Iterator[None]:
    """Make moto's Lambda run invocations of the function in the boxes, and moto's Cognito
    call the triggers the template configures (the server runs in this process)."""
    from moto.awslambda.models import LambdaBackend
    from moto.cognitoidp.models import CognitoIdpBackend
    from moto.core.exceptions import JsonRESTError

    original_invoke = LambdaBackend.invoke
    original_sign_up = CognitoIdpBackend.sign_up
    original_confirm = CognitoIdpBackend.confirm_sign_up
    original_auth = CognitoIdpBackend.initiate_auth

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        name, alias = _function_and_alias(function_name, qualifier)
        if name != FUNCTION:
            return original_invoke(self, function_name, qualifier, body, headers, response_headers)
        service.invoked_aliases.append(alias)
        if alias != FUNCTION_ALIAS:
            # SnapStart never applies to $LATEST: a trigger on it is a wiring fault.
            answer = {
                "errorType": "UnqualifiedInvocation",
                "errorMessage": f"{function_name} invoked {alias}, not {FUNCTION_ALIAS}",
            }
        else:
            answer = service.invoke_raw(json.loads(body) if body else {})
        if "result" in answer:
            payload = json.dumps(answer["result"]).encode()
        else:
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(
                {k: answer[k] for k in ("errorType", "errorMessage") if k in answer}
            ).encode()
        response_headers["Content-Length"] = str(len(payload))
        return payload

    def trigger(
        self, source: str, pool_id: str, client_id: str, user: Any, attributes: dict
    ) -> Any:
        event = {
            "version": "1",
            "region": REGION,
            "userPoolId": pool_id,
            "userName": user,
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
            "triggerSource": source,
            "request": {"userAttributes": attributes},
            "response": {},
        }
        if source.startswith("PreSignUp"):
            event["request"]["validationData"] = None
            event["response"] = {
                "autoConfirmUser": False,
                "autoVerifyEmail": False,
                "autoVerifyPhone": False,
            }
        if source.startswith("TokenGeneration"):
            event["request"]["groupConfiguration"] = {
                "groupsToOverride": [],
                "iamRolesToOverride": [],
            }
            event["response"] = {"claimsOverrideDetails": None}
        answer = service.invoke_raw(event)
        if "result" not in answer:
            raise JsonRESTError(
                "UserLambdaValidationException",
                f"{source.split('_')[0]} failed with error {answer.get('errorMessage')}.",
            )
        return answer["result"]

    def pool_of(self, client_id: str) -> Any:
        return next(p for p in self.user_pools.values() if client_id in p.clients)

    def sign_up(self, client_id, username, password, attributes):
        pool = pool_of(self, client_id)
        flat = {a["Name"]: a["Value"] for a in attributes or []}
        trigger(self, "PreSignUp_SignUp", pool.id, client_id, username, {**flat, "email": username})
        return original_sign_up(self, client_id, username, password, attributes)

    def confirm_sign_up(self, client_id, username):
        result = original_confirm(self, client_id, username)
        pool = pool_of(self, client_id)
        user = self.admin_get_user(pool.id, username)
        attributes = {a["Name"]: a["Value"] for a in user.attributes}
        attributes.update({"sub": user.id, "cognito:user_status": "CONFIRMED"})
        trigger(
            self, "PostConfirmation_ConfirmSignUp", pool.id, client_id, user.username, attributes
        )
        return result

    def initiate_auth(self, client_id, auth_flow, auth_parameters):
        pool = pool_of(self, client_id)
        username = auth_parameters.get("USERNAME")
        if username:
            user = self.admin_get_user(pool.id, username)
            attributes = {a["Name"]: a["Value"] for a in user.attributes}
            attributes["sub"] = user.id
            trigger(
                self,
                "TokenGeneration_Authentication",
                pool.id,
                client_id,
                user.username,
                attributes,
            )
        return original_auth(self, client_id, auth_flow, auth_parameters)

    LambdaBackend.invoke = invoke
    CognitoIdpBackend.sign_up = sign_up
    CognitoIdpBackend.confirm_sign_up = confirm_sign_up
    CognitoIdpBackend.initiate_auth = initiate_auth
    try:
        yield
    finally:
        LambdaBackend.invoke = original_invoke
        CognitoIdpBackend.sign_up = original_sign_up
        CognitoIdpBackend.confirm_sign_up = original_confirm
        CognitoIdpBackend.initiate_auth = original_auth


def posted_to(connection_id: str) -> list[dict[str, Any]]:
    """What the function posted to one WebSocket connection (moto keeps it concatenated)."""
    from urllib.parse import quote

    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    connections = apigatewaymanagementapi_backends[ACCOUNT][REGION].connections
    # The id travels in the URL path, so moto keys it as sent (percent-encoded).
    found = connections.get(connection_id) or connections.get(quote(connection_id, safe=""))
    data = found.data if found else b""
    text, messages, decoder = data.decode(), [], json.JSONDecoder()
    index = 0
    while index < len(text):
        message, index = decoder.raw_decode(text, index)
        messages.append(message)
    return messages
