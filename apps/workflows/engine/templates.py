"""ASL payload templates: ``Parameters``, ``ItemSelector``, ``ResultSelector``.

A template is JSON whose ``"<key>.$"`` values are JSONPaths (:mod:`.paths`) or intrinsic
functions (:mod:`.intrinsics`); both kinds meet here, so neither module needs the other.
"""

from __future__ import annotations

from typing import Any

from apps.workflows.engine import intrinsics, paths


def render(
    template: Any,
    data: Any,
    context: Any,
    *,
    field: str = "Parameters",
    variables: dict[str, Any] | None = None,
) -> Any:
    """Evaluate a payload template (``Parameters``, ``ItemSelector``, ``ResultSelector``).

    Keys ending in ``.$`` take the value of a path or an intrinsic function; the ``.$`` is
    dropped from the key. Nested objects and arrays are rendered too. ``field`` is kept for
    callers' messages; a missing path is reported under its own key, as Step Functions does.
    """
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                # A path that finds nothing fails the execution with States.Runtime, which
                # no Retry or Catch intercepts; the cause names the key ('x.$').
                if value.startswith("$"):
                    out[key[:-2]] = paths.read(value, data, context, field=key, variables=variables)
                else:
                    out[key[:-2]] = intrinsics.evaluate(value, data, context, variables=variables)
            else:
                out[key] = render(value, data, context, field=field, variables=variables)
        return out
    if isinstance(template, list):
        return [render(item, data, context, field=field, variables=variables) for item in template]
    return template
