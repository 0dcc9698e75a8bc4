"""Workflow steps used only by the tests (registered by the ``test_workflows`` fixture)."""

from __future__ import annotations

from typing import Any

from apps.workflows.registry import step

#: Raw tokens and callback URLs handed to the approval step, newest last.
issued: list[str] = []
calls: dict[str, int] = {}


class TransientError(Exception):
    pass


@step("tests.echo")
def echo(payload: dict[str, Any]) -> dict[str, Any]:
    calls["echo"] = calls.get("echo", 0) + 1
    return {"echoed": payload}


@step("tests.flaky")
def flaky(payload: dict[str, Any]) -> dict[str, Any]:
    calls["flaky"] = calls.get("flaky", 0) + 1
    if calls["flaky"] <= payload.get("failures", 0):
        raise TransientError("not yet")
    return {"attempts": calls["flaky"]}


@step("tests.request_approval")
def request_approval(payload: dict[str, Any], *, task_token: str) -> None:
    from apps.workflows.services import callback_url

    issued.append(callback_url(task_token=task_token, state_name="Approve"))
