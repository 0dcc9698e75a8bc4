"""The state graph's layout, checked geometrically: no edge runs through a state's box.

Every shipped definition, the test workflows, the conformance definitions (with the state
machines nested in their Parallel branches and Map processors), and shapes written here to
be hard (Choice fans, loops back, Catch edges over several rows, a state that loops to
itself) are laid out; each edge is flattened (Béziers sampled finely) and every piece is
tested against the box of every state that is not one of the edge's two ends.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from apps.workflows import graph, registry
from apps.workflows.layout import Box, Layout, layered_layout

HERE = Path(__file__).parent


def _segment_hits_box(p: tuple[float, float], q: tuple[float, float], box: Box) -> bool:
    """Liang-Barsky: does the segment from p to q meet the closed rectangle ``box``?"""
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for edge_p, edge_q in (
        (-dx, p[0] - box.x),
        (dx, box.right - p[0]),
        (-dy, p[1] - box.y),
        (dy, box.bottom - p[1]),
    ):
        if edge_p == 0:
            if edge_q < 0:
                return False
            continue
        t = edge_q / edge_p
        if edge_p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def _collisions(drawing: Layout) -> list[str]:
    found = []
    for route in drawing.routes:
        points = route.polyline(steps=48)
        for name, box in drawing.boxes.items():
            if name in (route.source, route.target):
                continue
            for p, q in itertools.pairwise(points):
                if _segment_hits_box(p, q, box):
                    found.append(f"{route.source} → {route.target} crosses {name}")
                    break
    return found


def _overlaps(drawing: Layout) -> list[str]:
    return [
        f"{a.name} overlaps {b.name}"
        for a, b in itertools.combinations(drawing.boxes.values(), 2)
        if a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom
    ]


def _machines(asl: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    """The machine and every machine nested in its Parallel branches and Map processors."""
    found = [(where, asl)]
    for name, state in asl["States"].items():
        inner = [*state.get("Branches", [])]
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                inner.append(state[key])
        for i, machine in enumerate(inner):
            found += _machines(machine, f"{where}/{name}[{i}]")
    return found


def _definition_files() -> list[Path]:
    shipped = [p for d in registry.definition_dirs() for p in sorted(d.glob("*.asl.json"))]
    return shipped + sorted((HERE / "definitions").glob("*.asl.json"))


def _all_machines() -> list[tuple[str, dict[str, Any]]]:
    machines = []
    for path in _definition_files():
        machines += _machines(json.loads(path.read_text()), path.name)
    for path in sorted((HERE / "conformance").glob("*.json")):
        case = json.loads(path.read_text())
        if isinstance(case.get("definition"), dict) and "States" in case["definition"]:
            machines += _machines(case["definition"], path.name)
    return machines


def _pass(next_: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"Type": "Pass", **({"Next": next_} if next_ else {"End": True}), **extra}


HARD_SHAPES: dict[str, dict[str, Any]] = {
    # four Choice rules and a Default into states that meet again, one Catch over all rows
    "choice_fan": {
        "StartAt": "Start",
        "States": {
            "Start": {
                "Type": "Task",
                "Resource": "step:x",
                "Next": "Pick",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
            },
            "Pick": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.n", "NumericEquals": i, "Next": f"Case{i}"} for i in range(4)
                ],
                "Default": "Other",
            },
            **{f"Case{i}": _pass("Join") for i in range(4)},
            "Other": _pass("Done"),
            "Join": _pass("Done"),
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "Error": "E"},
        },
    },
    # a polling loop: the Choice goes back two rows, a Catch from the end to the start
    "poll_loop": {
        "StartAt": "Submit",
        "States": {
            "Submit": {"Type": "Task", "Resource": "step:x", "Next": "Wait"},
            "Wait": {"Type": "Wait", "Seconds": 5, "Next": "Check"},
            "Check": {
                "Type": "Task",
                "Resource": "step:y",
                "Next": "Ready?",
                "Catch": [{"ErrorEquals": ["Retryable"], "Next": "Submit"}],
            },
            "Ready?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.done", "BooleanEquals": False, "Next": "Wait"}],
                "Default": "Finish",
            },
            "Finish": {"Type": "Succeed"},
        },
    },
    # Parallel and Map states with Catch edges, a skip over the Map, a state looping to itself
    "parallel_map": {
        "StartAt": "Fork",
        "States": {
            "Fork": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": _pass()}},
                    {"StartAt": "B", "States": {"B": _pass()}},
                ],
                "Next": "Skip?",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Cleanup"}],
            },
            "Skip?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.skip", "BooleanEquals": True, "Next": "Report"}],
                "Default": "Each",
            },
            "Each": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "Item", "States": {"Item": _pass()}},
                "Next": "Again?",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Cleanup"}],
            },
            "Again?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.more", "BooleanEquals": True, "Next": "Again?"}],
                "Default": "Report",
            },
            "Report": _pass("Cleanup"),
            "Cleanup": _pass(),
        },
    },
}


def _cases() -> list[Any]:
    cases = [pytest.param(asl, id=where) for where, asl in _all_machines()]
    cases += [pytest.param(asl, id=name) for name, asl in HARD_SHAPES.items()]
    return cases


def test_every_shipped_definition_is_among_the_checked_ones() -> None:
    names = {p.name for p in _definition_files()}
    assert "file_review.asl.json" in names
    assert len(_all_machines()) > 40


@pytest.mark.parametrize("asl", _cases())
def test_no_edge_crosses_a_state_box_and_no_boxes_overlap(asl: dict[str, Any]) -> None:
    drawing = graph.layout(asl)
    assert set(drawing.boxes) == set(asl["States"])
    assert _collisions(drawing) == []
    assert _overlaps(drawing) == []
    # every transition is drawn, from its source's box to its target's
    assert {(r.source, r.target) for r in drawing.routes} == set(graph._transitions(asl))
    for route in drawing.routes:
        start, end = route.polyline()[0], route.polyline()[-1]
        assert _on_edge(start, drawing.boxes[route.source])
        assert _on_edge(end, drawing.boxes[route.target])
    # the SVG fits the drawing
    for box in drawing.boxes.values():
        assert box.x >= 0
        assert box.right <= drawing.width
        assert box.y >= 0
        assert box.bottom <= drawing.height


def _on_edge(point: tuple[float, float], box: Box) -> bool:
    x, y = point
    inside_x, inside_y = (
        box.x - 0.01 <= x <= box.right + 0.01,
        box.y - 0.01 <= y <= box.bottom + 0.01,
    )
    on_x = min(abs(x - box.x), abs(x - box.right)) < 0.01
    on_y = min(abs(y - box.y), abs(y - box.bottom)) < 0.01
    return (inside_x and on_y) or (inside_y and on_x)


def test_the_checker_does_see_an_edge_through_a_box() -> None:
    box = Box("B", 100, 100, 50, 40)
    assert _segment_hits_box((125, 50), (125, 200), box)
    assert _segment_hits_box((90, 90), (160, 150), box)
    assert not _segment_hits_box((90, 90), (90, 150), box)
    assert not _segment_hits_box((0, 0), (99, 99), box)


def test_crossings_are_reduced_by_reordering_a_row() -> None:
    # in the order given, Left's edge and Right's edge would cross
    nodes = ["Top", "Left", "Right", "UnderRight", "UnderLeft"]
    edges = [
        ("Top", "Left", "a"),
        ("Top", "Right", "b"),
        ("Left", "UnderLeft", "c"),
        ("Right", "UnderRight", "d"),
    ]
    drawing = layered_layout(nodes, edges, start="Top", box_w=dict.fromkeys(nodes, 100.0))
    assert drawing.crossings == 0
    boxes = drawing.boxes
    assert (boxes["Left"].x < boxes["Right"].x) == (boxes["UnderLeft"].x < boxes["UnderRight"].x)


def test_the_path_taken_is_drawn_bold_and_the_rest_is_not() -> None:
    file_review = next(p for p in _definition_files() if p.name == "file_review.asl.json")
    asl = json.loads(file_review.read_text())
    events = [
        {"type": "TaskStateEntered", "state": "Prepare"},
        {"type": "TaskStateExited", "state": "Prepare"},
        {"type": "ChoiceStateEntered", "state": "NeedsApproval"},
        {"type": "ChoiceStateExited", "state": "NeedsApproval"},
        {"type": "TaskStateEntered", "state": "AwaitApproval"},
    ]
    path = graph.taken(events, asl)
    assert path == {("Prepare", "NeedsApproval"), ("NeedsApproval", "AwaitApproval")}
    svg = graph.render_svg(asl, {}, None, path)
    assert svg.count('class="edge edge-taken"') == 2
    assert 'class="edge edge-taken" data-from="Prepare" data-to="NeedsApproval"' in svg
    assert 'class="edge" data-from="NeedsApproval" data-to="Approve"' in svg
