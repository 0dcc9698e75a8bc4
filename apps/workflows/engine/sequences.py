"""Array helpers shared by the intrinsic functions (``States.ArrayPartition``,
``States.ArrayRange``) and their JSONata counterparts (``$partition``, ``$range``).

Each caller checks its own argument types and words its own error; these only compute.
"""

from __future__ import annotations

from typing import Any

#: Step Functions caps ``States.ArrayRange`` and ``$range`` at this many items.
RANGE_LIMIT = 1000


class SequenceError(ValueError):
    """The arguments describe no valid sequence; ``str()`` says why, without a prefix."""


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    """``items`` in chunks of ``size``; the last may be shorter."""
    if size < 1:
        raise SequenceError("chunk size must be positive")
    return [items[i : i + size] for i in range(0, len(items), size)]


def inclusive_range(first: int, last: int, step: int) -> list[int]:
    """From ``first`` to ``last`` inclusive by ``step`` (negative counts down)."""
    if step == 0:
        raise SequenceError("step must not be 0")
    values = list(range(first, last + (1 if step > 0 else -1), step))
    if len(values) > RANGE_LIMIT:
        raise SequenceError(f"may produce at most {RANGE_LIMIT} items")
    return values
