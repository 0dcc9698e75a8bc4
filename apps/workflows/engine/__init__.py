"""A local engine for the Amazon States Language, in plain Python (no Django).

``definition`` parses and validates ASL; ``interpreter`` runs it as a resumable, JSON
serialisable run; ``paths``, ``intrinsics`` and ``choice`` implement the data flow.
"""

from apps.workflows.engine.definition import validate, walk_states
from apps.workflows.engine.errors import DefinitionError, StatesError
from apps.workflows.engine.interpreter import Interpreter, pending_tokens, token_hash

__all__ = [
    "DefinitionError",
    "Interpreter",
    "StatesError",
    "pending_tokens",
    "token_hash",
    "validate",
    "walk_states",
]
