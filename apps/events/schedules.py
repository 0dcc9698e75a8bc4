"""EventBridge schedule expressions: parsed once, run locally by ``manage.py worker``.

``rate(<n> minute|minutes|hour|hours|day|days)`` runs every n units. ``cron(<min> <hour>
<day-of-month> <month> <day-of-week> <year>)`` follows EventBridge (UTC, six fields, one of
the two day fields is ``?``, day-of-week 1-7 = SUN-SAT). The local scheduler supports
``*``, ``?``, values, names, ranges, lists and ``/`` steps; ``L``, ``W`` and ``#`` are
refused when declared rather than silently never running.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apps.events.exceptions import InvalidScheduleError

logger = logging.getLogger("nimbus.events.schedules")

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
# (name, low, high, names)
_FIELDS: list[tuple[str, int, int, dict[str, int]]] = [
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _DAYS),
    ("year", 1970, 2199, {}),
]


@dataclass(frozen=True)
class ScheduleSpec:
    expression: str
    every_seconds: int | None = None
    #: allowed values per cron field; None means "any" (``*`` or ``?``)
    cron: tuple[frozenset[int] | None, ...] | None = None

    def due(self, moment: datetime) -> bool:
        """For cron specs: does the minute of ``moment`` (UTC) match?"""
        assert self.cron is not None
        moment = moment.astimezone(UTC)
        dow = moment.isoweekday() % 7 + 1  # SUN=1 .. SAT=7
        values = (moment.minute, moment.hour, moment.day, moment.month, dow, moment.year)
        return all(
            allowed is None or value in allowed
            for allowed, value in zip(self.cron, values, strict=True)
        )


def parse_schedule(expression: str) -> ScheduleSpec:
    """Parse a ``rate()``/``cron()`` expression or raise :class:`InvalidScheduleError`."""
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise InvalidScheduleError(
                f"{expression!r}: use a positive value, singular unit only for 1 (rate(1 hour))."
            )
        return ScheduleSpec(expression, every_seconds=value * _UNIT_SECONDS[unit.rstrip("s")])
    cron = _CRON.match(expression)
    if not cron:
        raise InvalidScheduleError(f"{expression!r} is neither rate(...) nor cron(...).")
    parts = cron.group(1).split()
    if len(parts) != 6:
        raise InvalidScheduleError(
            f"{expression!r}: cron takes six fields (min hour dom mon dow year)."
        )
    if (parts[2] == "?") == (parts[4] == "?"):
        raise InvalidScheduleError(
            f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'."
        )
    fields = tuple(
        _parse_field(part, spec, expression) for part, spec in zip(parts, _FIELDS, strict=True)
    )
    return ScheduleSpec(expression, cron=fields)


def _parse_field(
    part: str, spec: tuple[str, int, int, dict[str, int]], expression: str
) -> frozenset[int] | None:
    name, low, high, names = spec
    if part in ("*", "?"):
        if part == "?" and name not in ("day-of-month", "day-of-week"):
            raise InvalidScheduleError(f"{expression!r}: '?' only fits the day fields.")
        return None
    bare = part.upper()
    for label in names:
        bare = bare.replace(label, "")
    if re.search(r"[LW#]", bare):
        raise InvalidScheduleError(
            f"{expression!r}: L, W and # are not supported by Nimbus's schedules."
        )
    allowed: set[int] = set()
    for item in part.split(","):
        allowed.update(_parse_item(item, low, high, names, f"{expression!r} ({name})"))
    return frozenset(allowed)


def _parse_item(item: str, low: int, high: int, names: dict[str, int], where: str) -> range:
    base, _, step_text = item.partition("/")
    step = _number(step_text, names, where) if step_text else 1
    if base == "*":
        start, stop = low, high
    elif "-" in base:
        first, last = base.split("-", 1)
        start, stop = _number(first, names, where), _number(last, names, where)
    else:
        start = _number(base, names, where)
        stop = high if step_text else start
    if not (low <= start <= stop <= high) or step < 1:
        raise InvalidScheduleError(f"{where}: {item!r} is outside {low}-{high}.")
    return range(start, stop + 1, step)


def _number(text: str, names: dict[str, int], where: str) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise InvalidScheduleError(f"{where}: {text!r} is not a number.")
    return int(text)


def register_locally(name: str, func: Callable[[], Any], spec: ScheduleSpec) -> None:
    """Have ``manage.py worker`` run job ``name`` (rates directly, cron checked each 20 s)."""
    from project.worker import every

    if spec.every_seconds is not None:
        every(spec.every_seconds, name=f"schedule:{name}")(func)
        return
    last_minute: dict[str, Any] = {"at": None}

    def run_if_due() -> None:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        if last_minute["at"] != now and spec.due(now):
            last_minute["at"] = now
            func()

    every(20, name=f"schedule:{name}")(run_if_due)
