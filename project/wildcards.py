"""Wildcard strings as EventBridge (``wildcard``) and Step Functions (``StringMatches``)
read them: ``*`` matches any run of characters, newlines included; a backslash makes the
next character literal (``\\*`` a star, ``\\\\`` a backslash). The whole value must match.

Which escapes a pattern may use is each caller's rule (EventBridge refuses all but those
two when the pattern is declared); matching is the same for both.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=1024)
def wildcard_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "*" else re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def wildcard_match(pattern: str, value: str) -> bool:
    return wildcard_regex(pattern).fullmatch(value) is not None
