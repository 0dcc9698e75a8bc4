"""Draw a state machine as SVG, each state coloured by its status in one execution.

The layout is layered: a state's row is its distance from ``StartAt``; edges follow
``Next``, ``Default``, Choice rules (solid) and ``Catch`` (dashed). Parallel and Map
states are drawn as one box naming their branches. Statuses come from the history (the
same normalised shape for local and Step Functions executions). A state that assigned
workflow variables (``assignedVariables`` of its exit event) lists their names under its
label, and their values in its tooltip.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from django.utils.html import escape

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 170, 40, 30, 50, 20
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


def _edges(state: dict[str, Any]) -> list[tuple[str, bool]]:
    targets = [(state["Next"], False)] if "Next" in state else []
    targets += [(rule["Next"], False) for rule in state.get("Choices", [])]
    if "Default" in state:
        targets.append((state["Default"], False))
    targets += [(c["Next"], True) for c in state.get("Catch", [])]
    return targets


def _layers(asl: dict[str, Any]) -> dict[str, int]:
    rank = {asl["StartAt"]: 0}
    queue = deque([asl["StartAt"]])
    while queue:
        name = queue.popleft()
        for target, _ in _edges(asl["States"][name]):
            if target not in rank:
                rank[target] = rank[name] + 1
                queue.append(target)
    for name in asl["States"]:
        rank.setdefault(name, max(rank.values()) + 1)
    return rank


def _label(name: str, state: dict[str, Any]) -> str:
    kind = state["Type"]
    if kind == "Parallel":
        kind = f"Parallel x{len(state.get('Branches', []))}"
    return f"{name} · {kind}"


def _assigned_text(variables: dict[str, Any]) -> tuple[str, str]:
    """The line under a state's label and the tooltip lines for its assigned variables."""
    # sorted: the history's JSON column (jsonb on PostgreSQL) does not keep key order
    ordered = sorted(variables.items())
    names = ", ".join(f"${name}" for name, _ in ordered)
    line = names if len(names) <= 26 else names[:25] + "…"
    tip = "".join(f"\n${name} = {json.dumps(value, default=str)[:80]}" for name, value in ordered)
    return line, tip


def render_svg(
    asl: dict[str, Any], statuses: dict[str, str], assigned: dict[str, dict[str, Any]] | None = None
) -> str:
    """An SVG document (string) of the machine; safe to embed (all text escaped)."""
    rank = _layers(asl)
    rows: dict[int, list[str]] = {}
    for name in asl["States"]:
        rows.setdefault(rank[name], []).append(name)
    width = max(len(r) for r in rows.values()) * (BOX_W + GAP_X) + 2 * PAD
    height = (max(rows) + 1) * (BOX_H + GAP_Y) + 2 * PAD
    pos: dict[str, tuple[float, float]] = {}
    for row, names in rows.items():
        offset = (width - len(names) * (BOX_W + GAP_X) + GAP_X) / 2
        for i, name in enumerate(names):
            pos[name] = (offset + i * (BOX_W + GAP_X), PAD + row * (BOX_H + GAP_Y))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="State machine graph" '
        'class="workflow-graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#6b7280"/></marker></defs>',
    ]
    for name, state in asl["States"].items():
        x1, y1 = pos[name]
        for target, dashed in _edges(state):
            x2, y2 = pos[target]
            start = (x1 + BOX_W / 2, y1 + BOX_H)
            end = (x2 + BOX_W / 2, y2) if y2 > y1 else (x2 + BOX_W, y2 + BOX_H / 2)
            dash = ' stroke-dasharray="5 4"' if dashed else ""
            parts.append(
                f'<path d="M {start[0]} {start[1]} C {start[0]} {start[1] + 30}, '
                f'{end[0]} {end[1] - 30}, {end[0]} {end[1]}" fill="none" stroke="#6b7280"'
                f'{dash} marker-end="url(#arrow)"/>'
            )
    for name, state in asl["States"].items():
        x, y = pos[name]
        status = statuses.get(name, "not_run")
        fill, stroke = COLOURS[status]
        variables = (assigned or {}).get(name)
        line, tip = _assigned_text(variables) if variables else ("", "")
        label_y = y + BOX_H / 2 + (-2 if line else 4)
        parts.append(
            f'<g class="state state-{status}" data-state="{escape(name)}">'
            f"<title>{escape(name)}: {status.replace('_', ' ')}{escape(tip)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="2"/>'
            f'<text x="{x + BOX_W / 2}" y="{label_y}" text-anchor="middle" '
            f'font-size="12" font-family="sans-serif">{escape(_label(name, state))}</text>'
            + (
                f'<text class="assigned" x="{x + BOX_W / 2}" y="{y + BOX_H - 6}" '
                f'text-anchor="middle" font-size="10" font-family="monospace">{escape(line)}</text>'
                if line
                else ""
            )
            + "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)
