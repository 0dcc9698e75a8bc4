"""JSONPath for ASL: reading paths and ``ResultPath`` writes (templates: ``templates.py``).

Reading uses jsonpath-ng's extended parser (filters, slices, wildcards). A *definite* path
(only fields and indexes) yields one value and fails when nothing matches; any other path
yields the list of matches, as Step Functions does. ``$$`` paths read the context object.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

from apps.workflows.engine import errors
from apps.workflows.engine.errors import StatesError

_FIELD = r"(?:\.[^.\[\]()@*?\s'\"]+|\['(?:[^'\\]|\\.)*'\]|\[\d+\])"
_DEFINITE = re.compile(rf"^\${_FIELD}*$")
_SEGMENT = re.compile(r"\.([^.\[\]]+)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")


@lru_cache(maxsize=1024)
def _compiled(path: str) -> Any:
    from jsonpath_ng.ext import parse

    return parse(path)


def is_path(value: object) -> bool:
    return isinstance(value, str) and value.startswith("$")


_VARIABLE_PATH = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)(.*)$", re.DOTALL)


def variable_of(path: str) -> tuple[str, str] | None:
    """``("name", "$.rest")`` for a path that reads a workflow variable (``$name.rest``)."""
    match = _VARIABLE_PATH.match(path)
    if match is None:
        return None
    return match.group(1), "$" + match.group(2)


def check_path(path: str) -> None:
    """Raise ValueError when ``path`` is not a JSONPath (``$...``, ``$$...`` or a
    variable's ``$name...``)."""
    if not path.startswith("$"):
        raise ValueError(f"{path!r} is not a JSONPath (it must start with '$')")
    variable = variable_of(path)
    body = variable[1] if variable else path[1:] if path.startswith("$$") else path
    try:
        _compiled(body)
    except Exception as exc:
        raise ValueError(f"{path!r} is not a valid JSONPath: {exc}") from exc


def check_reference_path(path: str) -> None:
    """Reference paths (``ResultPath``) may only name fields and indexes."""
    if not _DEFINITE.match(path):
        raise ValueError(f"{path!r} is not a reference path (fields and indexes only)")


def read(
    path: str,
    data: Any,
    context: Any = None,
    *,
    field: str = "path",
    variables: dict[str, Any] | None = None,
) -> Any:
    """The value at ``path`` in ``data`` (in ``context`` for ``$$`` paths, in a workflow
    variable for ``$name`` paths)."""
    given = path
    if path.startswith("$$"):
        path, data = path[1:], context
    elif (variable := variable_of(path)) is not None:
        name, path = variable
        if variables is None or name not in variables:
            raise StatesError(
                errors.RUNTIME,
                f"The JSONPath '{given}' specified for the field '{field}' references the "
                f"variable '{name}', which has no value in this scope",
            )
        data = variables[name]
    if path == "$":
        return data
    matches = [m.value for m in _compiled(path).find(data)]
    if _DEFINITE.match(path):
        if not matches:
            raise StatesError(
                errors.RUNTIME,
                f"The JSONPath '{given}' specified for the field '{field}' could not be found "
                f"in the input '{compact(data)}'",
            )
        return matches[0]
    return matches


def compact(value: Any) -> str:
    """JSON as Step Functions prints it in causes: no spaces."""
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def segments(path: str) -> list[str | int]:
    """Split a reference path into field names and indexes."""
    out: list[str | int] = []
    for name, quoted, index in _SEGMENT.findall(path[1:]):
        if index:
            out.append(int(index))
        else:
            out.append(name or re.sub(r"\\(.)", r"\1", quoted))
    return out


def write(path: str | None, target: Any, value: Any) -> Any:
    """Apply ``ResultPath``: ``value`` placed into a copy of ``target`` at ``path``."""
    if path is None:
        return target
    if path == "$":
        return value
    result = copy.deepcopy(target)
    node = result
    parts = segments(path)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise _result_path_failure(path, target)
            if last:
                node[part] = value
            else:
                node = node[part]
            continue
        if not isinstance(node, dict):
            raise _result_path_failure(path, target)
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})
    return result


def _result_path_failure(path: str, target: Any) -> StatesError:
    import json

    return StatesError(
        errors.RESULT_PATH_MATCH_FAILURE,
        f"Unable to apply ReferencePath {path} to input {json.dumps(target)}",
    )
