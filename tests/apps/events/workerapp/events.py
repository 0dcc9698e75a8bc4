from apps.events.registry import declare_event

declare_event(
    "killtest.Work",
    schema={"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
)
