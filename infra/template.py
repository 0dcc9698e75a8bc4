"""Render the Nimbus CloudFormation stack for a stage.

``build(inputs)`` returns a troposphere :class:`~troposphere.Template`; ``render(inputs)``
its JSON. The order of the parts matters only where one reads what another recorded
(alarms need the DLQs, the role needs the queues and state machines, Parameter Store
copies every environment output).
"""

from __future__ import annotations

import json
from typing import Any

from troposphere import Template

from infra import monitoring
from infra.context import Stack
from infra.inputs import StackInputs
from infra.parts import (
    cdn,
    database,
    events,
    federation,
    function,
    identity,
    network,
    parameters,
    push,
    security,
    storage,
    websocket_domain,
    workflows,
)


def build(inputs: StackInputs) -> Stack:
    template = Template(
        Description=f"Nimbus {inputs.stage}: everything the Zappa function needs on AWS"
    )
    template.set_version("2010-09-09")
    stack = Stack(inputs=inputs, template=template)
    stack.export_env("NIMBUS_STAGE", inputs.stage, "Deployment stage")
    parameters.add_parameters(stack)
    federation.add_parameters(stack)
    network.add_network_parameters(stack)
    database.add_database_parameters(stack)
    cdn.add_site_url(stack)
    security.add_key(stack)
    security.add_secrets(stack)
    security.add_operators_topic(stack)
    network.add_network(stack)
    database.add_database(stack)
    storage.add_buckets(stack)
    cdn.add_distribution(stack)
    identity.add_user_pool(stack)
    federation.add_identity_providers(stack)
    events.add_bus(stack)
    events.add_receiver_queues(stack)
    events.add_receiver_rules(stack)
    events.add_aws_event_forwarding(stack)
    events.add_schedules(stack)
    events.add_queue_policies(stack)
    workflows.add_state_machines(stack)
    push.add_connections_table(stack)
    push.add_websocket_api(stack)
    websocket_domain.add_websocket_domain(stack)
    function.add_log_group(stack)
    function.add_function_role(stack)
    monitoring.add_monitoring(stack)
    security.add_parameters_store(stack)
    database.export_host(stack)  # after the store: an existing database may have no host
    return stack


def render(inputs: StackInputs) -> dict[str, Any]:
    """The template as a JSON-ready dict."""
    return json.loads(build(inputs).template.to_json())
