"""A layered (Sugiyama) drawing of a directed graph: boxes in rows, edges that go round them.

The four classic steps (Sugiyama, Tagawa and Toda 1981; as in graphviz's ``dot``):

1. **cycles**: a depth-first search from the start reverses the edges that close a loop
   (a Retry-style ``Next`` back to an earlier state), so what is left is acyclic;
2. **layers**: each node's row is the longest path to it, so every edge points down; an
   edge spanning several rows is cut into one-row hops by *dummy* nodes, one per row;
3. **order**: the nodes of each row are ordered to reduce crossings, by barycentre sweeps
   down and up with adjacent transpositions, keeping the best order seen;
4. **coordinates**: each row is placed as close as it can be to its neighbours' mean
   position (weighted isotonic regression, "pool adjacent violators"), boxes and dummies
   kept apart by a minimum gap, which straightens long edges.

Why no edge crosses a box: every box of a row lies in that row's band, and every edge
leaves a box from its bottom and enters the next row from the top, so between rows it is in
the empty gap band (a cubic Bézier whose control points lie in the band stays inside it);
where an edge crosses a row it runs vertically through its own dummy's slot, which the
placement keeps clear of every box. A self-loop is drawn in a slot reserved at its box's
right. ``tests/apps/workflows/test_graph.py`` checks this geometrically.

Hand-written rather than grandalf's ``SugiyamaLayout``: grandalf is an alpha (0.8, 2023)
GPL/EPL package whose routing would still need the guarantee above checked and enforced
here; the algorithm is ~250 lines, pure Python, and cheap for graphs of a few dozen states.
No Django imports: the admin page calls it, the tests check it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

Point = tuple[float, float]

SWEEPS = 12
LOOP_W = 24  # the slot at a box's right where its self-loop is drawn


@dataclass(frozen=True)
class Box:
    name: str
    x: float  # left
    y: float  # top
    w: float
    h: float

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def right(self) -> float:
        return self.x + self.w


@dataclass
class Route:
    """One edge: straight ``("L", p, q)`` and cubic ``("C", p, c1, c2, q)`` pieces, in order
    from the edge's source to its target."""

    source: str
    target: str
    key: str
    pieces: list[tuple[object, ...]] = field(default_factory=list)

    def path_d(self) -> str:
        """The SVG path data of the route."""
        out: list[str] = []
        last: object = None
        for kind, *points in self.pieces:
            if points[0] != last:
                out.append("M " + _xy(points[0]))
            out.append(f"{kind} " + " ".join(_xy(p) for p in points[1:]))
            last = points[-1]
        return " ".join(out)

    def polyline(self, steps: int = 24) -> list[Point]:
        """The route flattened into points (each Bézier sampled ``steps`` times)."""
        points: list[Point] = []
        for piece in self.pieces:
            ctrl = [p for p in piece[1:] if isinstance(p, tuple)]
            if piece[0] == "L":
                samples = ctrl
            else:
                samples = [_bezier(ctrl, i / steps) for i in range(steps + 1)]
            points.extend(samples)
        return points


@dataclass
class Layout:
    width: float
    height: float
    boxes: dict[str, Box]
    routes: list[Route]
    crossings: int


def _xy(point: object) -> str:
    assert isinstance(point, tuple)
    return f"{point[0]:.1f} {point[1]:.1f}"


def _bezier(p: list[Point], t: float) -> Point:
    u = 1 - t
    x = u**3 * p[0][0] + 3 * u * u * t * p[1][0] + 3 * u * t * t * p[2][0] + t**3 * p[3][0]
    y = u**3 * p[0][1] + 3 * u * u * t * p[1][1] + 3 * u * t * t * p[2][1] + t**3 * p[3][1]
    return (x, y)


# --- 1. cycles ---------------------------------------------------------------------------


def _acyclic(
    nodes: list[str], edges: list[tuple[str, str, str]], start: str
) -> list[tuple[str, str, str, bool]]:
    """The edges with those closing a cycle reversed (flagged), self-loops left out."""
    out: dict[str, list[str]] = defaultdict(list)
    for u, v, _ in edges:
        if u != v and v not in out[u]:
            out[u].append(v)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[tuple[str, str]] = set()
    for root in [start, *nodes]:
        if root in state:
            continue
        stack = [(root, iter(out[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(out[child])))
    return [
        (v, u, key, True) if (u, v) in back else (u, v, key, False) for u, v, key in edges if u != v
    ]


# --- 2. layers ---------------------------------------------------------------------------


def _ranks(nodes: list[str], dag: list[tuple[str, str, str, bool]]) -> dict[str, int]:
    preds: dict[str, set[str]] = defaultdict(set)
    succs: dict[str, set[str]] = defaultdict(set)
    for u, v, _, _ in dag:
        preds[v].add(u)
        succs[u].add(v)
    rank: dict[str, int] = {}
    ready = [n for n in nodes if not preds[n]]
    waiting = {n: len(preds[n]) for n in nodes}
    while ready:
        node = ready.pop(0)
        rank[node] = max((rank[p] + 1 for p in preds[node]), default=0)
        for s in sorted(succs[node], key=nodes.index):
            waiting[s] -= 1
            if waiting[s] == 0:
                ready.append(s)
    return rank


# --- 3. order ----------------------------------------------------------------------------


def _crossings(rows: list[list[str]], down: dict[str, list[str]]) -> int:
    total = 0
    for upper, lower in itertools.pairwise(rows):
        at = {n: i for i, n in enumerate(lower)}
        pairs = [(i, at[v]) for i, u in enumerate(upper) for v in down[u] if v in at]
        total += sum(
            1 for (a, b), (c, d) in itertools.combinations(pairs, 2) if (a - c) * (b - d) < 0
        )
    return total


def _sweep(rows: list[list[str]], nbrs: dict[str, list[str]], order: range) -> None:
    for r in order:
        fixed = {n: i for i, n in enumerate(rows[r - 1 if order.step > 0 else r + 1])}
        current = {n: i for i, n in enumerate(rows[r])}

        def centre(
            node: str, fixed: dict[str, int] = fixed, current: dict[str, int] = current
        ) -> float:
            seen = [fixed[m] for m in nbrs[node] if m in fixed]
            return sum(seen) / len(seen) if seen else float(current[node])

        rows[r].sort(key=centre)


def _transpose(rows: list[list[str]], down: dict[str, list[str]]) -> None:
    improved = True
    while improved:
        improved = False
        for r, row in enumerate(rows):
            for i in range(len(row) - 1):
                before = _crossings(rows[max(r - 1, 0) : r + 2], down)
                row[i], row[i + 1] = row[i + 1], row[i]
                if _crossings(rows[max(r - 1, 0) : r + 2], down) < before:
                    improved = True
                else:
                    row[i], row[i + 1] = row[i + 1], row[i]


def _order(rows: list[list[str]], down: dict[str, list[str]], up: dict[str, list[str]]) -> int:
    best, best_count = [list(r) for r in rows], _crossings(rows, down)
    for _ in range(SWEEPS):
        if best_count == 0:
            break
        _sweep(rows, up, range(1, len(rows)))
        _sweep(rows, down, range(len(rows) - 2, -1, -1))
        _transpose(rows, down)
        count = _crossings(rows, down)
        if count < best_count:
            best, best_count = [list(r) for r in rows], count
    rows[:] = best
    return best_count


# --- 4. coordinates ----------------------------------------------------------------------


def _pav(desired: list[float], weights: list[float], offsets: list[float]) -> list[float]:
    """Positions x_i closest (weighted least squares) to ``desired`` with
    x_{i+1} - x_i >= offsets[i+1] - offsets[i]: isotonic regression on x - offsets."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for d, w, o in zip(desired, weights, offsets, strict=True):
        blocks.append([d - o, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    values = [m for m, _, c in blocks for _ in range(int(c))]
    return [v + o for v, o in zip(values, offsets, strict=True)]


def _place(
    rows: list[list[str]],
    width: dict[str, float],
    gap: dict[str, float],
    down: dict[str, list[str]],
    up: dict[str, list[str]],
    dummies: set[str],
) -> dict[str, float]:
    """The centre x of every node."""
    x: dict[str, float] = {}
    offsets: list[list[float]] = []
    for row in rows:
        acc, offs = 0.0, []
        for i, node in enumerate(row):
            if i:
                prev = row[i - 1]
                acc += width[prev] / 2 + max(gap[prev], gap[node]) + width[node] / 2
            offs.append(acc)
        offsets.append(offs)
        for node, o in zip(row, offs, strict=True):
            x[node] = o - acc / 2
    for sweep in range(8):
        order = range(len(rows)) if sweep % 2 == 0 else range(len(rows) - 1, -1, -1)
        for r in order:
            row = rows[r]
            desired, weights = [], []
            for node in row:
                nbrs = (
                    up[node] + down[node] if sweep >= 4 else (up if sweep % 2 == 0 else down)[node]
                )
                nbrs = nbrs or up[node] + down[node]
                desired.append(sum(x[m] for m in nbrs) / len(nbrs) if nbrs else x[node])
                weights.append(4.0 if node in dummies else 1.0)
            for node, value in zip(row, _pav(desired, weights, offsets[r]), strict=True):
                x[node] = value
    return x


# --- the whole ---------------------------------------------------------------------------


def layered_layout(
    nodes: list[str],
    edges: list[tuple[str, str, str]],
    *,
    start: str,
    box_w: dict[str, float],
    box_h: float = 40,
    gap_x: float = 30,
    gap_y: float = 56,
    pad: float = 20,
    dummy_w: float = 8,
    dummy_gap: float = 10,
) -> Layout:
    """Boxes and edge routes for ``nodes`` and ``edges`` (``(source, target, key)``; the key
    tells the caller's edges apart), ``start`` on the top row."""
    dag = _acyclic(nodes, edges, start)
    rank = _ranks(nodes, dag)
    loops = {u for u, v, _ in edges if u == v}
    width = {n: box_w[n] + (LOOP_W if n in loops else 0) for n in nodes}
    gap = dict.fromkeys(nodes, gap_x)
    down: dict[str, list[str]] = defaultdict(list)
    up: dict[str, list[str]] = defaultdict(list)
    chains: list[tuple[str, str, str, bool, list[str]]] = []
    dummies: set[str] = set()
    for i, (u, v, key, reversed_) in enumerate(dag):
        chain = [u]
        for r in range(rank[u] + 1, rank[v]):
            dummy = f"\0{i}:{r}"
            rank[dummy], width[dummy], gap[dummy] = r, dummy_w, dummy_gap
            dummies.add(dummy)
            chain.append(dummy)
        chain.append(v)
        for a, b in itertools.pairwise(chain):
            down[a].append(b)
            up[b].append(a)
        chains.append((u, v, key, reversed_, chain))
    rows: list[list[str]] = [[] for _ in range(max(rank.values(), default=0) + 1)]
    for node in [*nodes, *sorted(dummies)]:
        rows[rank[node]].append(node)
    crossings = _order(rows, down, up)
    centre = _place(rows, width, gap, down, up, dummies)
    left = min((centre[n] - width[n] / 2 for n in centre), default=0.0)
    shift = pad - left
    top = {n: pad + rank[n] * (box_h + gap_y) for n in rank}
    boxes = {n: Box(n, centre[n] - width[n] / 2 + shift, top[n], box_w[n], box_h) for n in nodes}
    total_w = max((centre[n] + width[n] / 2 + shift for n in centre), default=0.0) + pad
    total_h = pad + len(rows) * (box_h + gap_y) - gap_y + pad
    ports = _ports(chains, boxes, centre, shift)
    routes = []
    for i, (u, v, key, reversed_, chain) in enumerate(chains):
        route = _route(i, chain, boxes, centre, shift, top, box_h, gap_y, ports)
        if reversed_:
            route = _reverse(route)
        routes.append(Route(v if reversed_ else u, u if reversed_ else v, key, route))
    for u, v, key in edges:
        if u == v:
            routes.append(Route(u, v, key, _loop(boxes[u])))
    return Layout(total_w, total_h, boxes, routes, crossings)


def _ports(
    chains: list[tuple[str, str, str, bool, list[str]]],
    boxes: dict[str, Box],
    centre: dict[str, float],
    shift: float,
) -> dict[tuple[int, str], float]:
    """Where each chain leaves its first box and enters its last, spread along the box's
    bottom and top edges in the order of where the edges go, so they do not cross there."""
    leaving: dict[str, list[tuple[float, int]]] = defaultdict(list)
    entering: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for i, (_, _, _, _, chain) in enumerate(chains):
        leaving[chain[0]].append((centre[chain[1]], i))
        entering[chain[-1]].append((centre[chain[-2]], i))
    ports: dict[tuple[int, str], float] = {}
    for side, groups in (("out", leaving), ("in", entering)):
        for node, items in groups.items():
            box = boxes[node]
            items.sort()
            for k, (_, i) in enumerate(items):
                ports[(i, side)] = box.x + box.w * (k + 1) / (len(items) + 1)
    return ports


def _route(
    i: int,
    chain: list[str],
    boxes: dict[str, Box],
    centre: dict[str, float],
    shift: float,
    top: dict[str, float],
    box_h: float,
    gap_y: float,
    ports: dict[tuple[int, str], float],
) -> list[tuple[object, ...]]:
    pieces: list[tuple[object, ...]] = []
    first, last = chain[0], chain[-1]
    at: Point = (ports[(i, "out")], boxes[first].bottom)
    for node in chain[1:]:
        if node == last:
            end: Point = (ports[(i, "in")], boxes[last].y)
        else:
            end = (centre[node] + shift, top[node])
        mid = gap_y / 2
        pieces.append(("C", at, (at[0], at[1] + mid), (end[0], end[1] - mid), end))
        if node != last:
            below = (end[0], end[1] + box_h)
            pieces.append(("L", end, below))
            at = below
    return pieces


def _reverse(pieces: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return [(piece[0], *reversed(piece[1:])) for piece in reversed(pieces)]


def _loop(box: Box) -> list[tuple[object, ...]]:
    a: Point = (box.right, box.y + box.h * 0.3)
    b: Point = (box.right, box.y + box.h * 0.7)
    reach = box.right + LOOP_W - 4
    return [("C", a, (reach, a[1] - 6), (reach, b[1] + 6), b)]
