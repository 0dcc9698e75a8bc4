"""Draw a state machine as SVG, each state coloured by its status in one execution.

The layout is layered (``apps.workflows.layout``, a Sugiyama drawing with crossing
reduction) so no edge runs through another state's box; edges follow ``Next``, ``Default``,
Choice rules (solid) and ``Catch`` (dashed), and those the execution took are drawn bold.
Parallel and Map states are drawn as one box naming their branches. Statuses come from the
history (the same normalised shape for local and Step Functions executions). A state that
assigned workflow variables (``assignedVariables`` of its exit event) lists their names
under its label, and their values in its tooltip.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import escape

from apps.workflows.layout import Layout, layered_layout

BOX_H, MIN_W, MAX_W, CHAR_W = 40, 140, 240, 6.6
TAKEN = "#1d4ed8"
COLOURS = {
    "not_run": ("#f3f4f6", "#9ca3af"),
    "running": ("#dbeafe", "#2563eb"),
    "waiting": ("#fef3c7", "#d97706"),
    "succeeded": ("#dcfce7", "#16a34a"),
    "caught": ("#ffedd5", "#ea580c"),
    "failed": ("#fee2e2", "#dc2626"),
}


def state_statuses(
    events: list[dict[str, Any]], execution_status: str, waiting: set[str] | None = None
) -> dict[str, str]:
    """The status of each state named in ``events`` (the last thing that happened to it)."""
    statuses: dict[str, str] = {}
    last_entered = ""
    for event in events:
        state, kind = event.get("state") or "", event["type"]
        if not state:
            continue
        if kind.endswith("StateEntered"):
            statuses[state], last_entered = "running", state
        elif kind.endswith("StateExited"):
            statuses[state] = "caught" if statuses.get(state) == "caught" else "succeeded"
        elif kind in ("TaskFailed", "TaskTimedOut") or kind.endswith("StateFailed"):
            statuses[state] = "caught"
    for state in waiting or ():
        if statuses.get(state) == "running":
            statuses[state] = "waiting"
    ended_badly = execution_status in ("FAILED", "TIMED_OUT", "ABORTED")
    if ended_badly and statuses.get(last_entered) in ("running", "waiting", "caught"):
        statuses[last_entered] = "failed"
    if execution_status == "SUCCEEDED":
        statuses = {k: ("succeeded" if v == "running" else v) for k, v in statuses.items()}
    return statuses


def assigned_by_state(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The variables each state assigned, the latest value of each (a Map's states run once
    per item)."""
    assigned: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.get("assignedVariables") and event.get("state"):
            assigned.setdefault(event["state"], {}).update(event["assignedVariables"])
    return assigned


def _edges(state: dict[str, Any]) -> list[tuple[str, str]]:
    """``(target, how)`` for each transition out of ``state``."""
    targets = [(state["Next"], "Next")] if "Next" in state else []
    targets += [
        (rule["Next"], f"Choice rule {i + 1}") for i, rule in enumerate(state.get("Choices", []))
    ]
    if "Default" in state:
        targets.append((state["Default"], "Default"))
    targets += [(c["Next"], "Catch") for c in state.get("Catch", [])]
    return targets


def _transitions(asl: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """How each state reaches each other one (several Choice rules may share a target)."""
    found: dict[tuple[str, str], list[str]] = {}
    for name, state in asl["States"].items():
        for target, how in _edges(state):
            if target in asl["States"]:
                found.setdefault((name, target), []).append(how)
    return found


def taken(events: list[dict[str, Any]], asl: dict[str, Any]) -> set[tuple[str, str]]:
    """The transitions between top-level states this execution made, from its history."""
    edges = _transitions(asl)
    made: set[tuple[str, str]] = set()
    previous = ""
    for event in events:
        state = event.get("state") or ""
        if state in asl["States"] and event["type"].endswith("StateEntered"):
            if (previous, state) in edges:
                made.add((previous, state))
            previous = state
    return made


def _label(name: str, state: dict[str, Any]) -> str:
    kind = state["Type"]
    if kind == "Parallel":
        kind = f"Parallel x{len(state.get('Branches', []))}"
    return f"{name} · {kind}"


def _box_width(label: str) -> float:
    return float(min(max(len(label) * CHAR_W + 24, MIN_W), MAX_W))


def _fit(label: str, width: float) -> str:
    room = int((width - 16) / CHAR_W)
    return label if len(label) <= room else label[: room - 1] + "…"


def _assigned_text(variables: dict[str, Any], width: float) -> tuple[str, str]:
    """The line under a state's label and the tooltip lines for its assigned variables."""
    # sorted: the history's JSON column (jsonb on PostgreSQL) does not keep key order
    ordered = sorted(variables.items())
    names = ", ".join(f"${name}" for name, _ in ordered)
    room = int((width - 12) / 6.2)
    line = names if len(names) <= room else names[: room - 1] + "…"
    tip = "".join(f"\n${name} = {json.dumps(value, default=str)[:80]}" for name, value in ordered)
    return line, tip


def layout(asl: dict[str, Any]) -> Layout:
    """Where each state's box and each transition go."""
    names = list(asl["States"])
    widths = {n: _box_width(_label(n, asl["States"][n])) for n in names}
    edges = [(u, v, " / ".join(hows)) for (u, v), hows in _transitions(asl).items()]
    return layered_layout(names, edges, start=asl["StartAt"], box_w=widths, box_h=BOX_H)


def render_svg(
    asl: dict[str, Any],
    statuses: dict[str, str],
    assigned: dict[str, dict[str, Any]] | None = None,
    path: set[tuple[str, str]] | None = None,
) -> str:
    """An SVG document (string) of the machine; safe to embed (all text escaped)."""
    drawing = layout(asl)
    width, height = round(drawing.width), round(drawing.height)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="State machine graph" '
        'class="workflow-graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#6b7280"/></marker><marker id="arrow-taken" viewBox="0 0 10 10" refX="10" '
        'refY="5" markerWidth="11" markerHeight="11" markerUnits="userSpaceOnUse" '
        'orient="auto-start-reverse">'
        f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{TAKEN}"/></marker></defs>',
    ]
    # the path taken last, so it is drawn over the others
    routes = sorted(drawing.routes, key=lambda r: (r.source, r.target) in (path or set()))
    for route in routes:
        was_taken = (route.source, route.target) in (path or set())
        dashed = all(how == "Catch" for how in route.key.split(" / "))
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        style = (
            f'stroke="{TAKEN}" stroke-width="3" marker-end="url(#arrow-taken)"'
            if was_taken
            else 'stroke="#6b7280" stroke-width="1.5" marker-end="url(#arrow)"'
        )
        parts.append(
            f'<g class="edge{" edge-taken" if was_taken else ""}" '
            f'data-from="{escape(route.source)}" data-to="{escape(route.target)}">'
            f"<title>{escape(route.source)} → {escape(route.target)} ({escape(route.key)})"
            f"{' · taken' if was_taken else ''}</title>"
            f'<path d="{route.path_d()}" fill="none" {style}{dash}/></g>'
        )
    for name, state in asl["States"].items():
        box = drawing.boxes[name]
        x, y = round(box.x, 1), round(box.y, 1)
        status = statuses.get(name, "not_run")
        fill, stroke = COLOURS[status]
        variables = (assigned or {}).get(name)
        line, tip = _assigned_text(variables, box.w) if variables else ("", "")
        label_y = y + BOX_H / 2 + (-2 if line else 4)
        label = _label(name, state)
        parts.append(
            f'<g class="state state-{status}" data-state="{escape(name)}">'
            f"<title>{escape(label)}: {status.replace('_', ' ')}{escape(tip)}</title>"
            f'<rect x="{x}" y="{y}" width="{box.w:.0f}" height="{BOX_H}" rx="8" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="2"/>'
            f'<text x="{x + box.w / 2:.1f}" y="{label_y}" text-anchor="middle" '
            f'font-size="12" font-family="sans-serif">{escape(_fit(label, box.w))}</text>'
            + (
                f'<text class="assigned" x="{x + box.w / 2:.1f}" y="{y + BOX_H - 6}" '
                f'text-anchor="middle" font-size="10" font-family="monospace">{escape(line)}</text>'
                if line
                else ""
            )
            + "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)
