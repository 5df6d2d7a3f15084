"""Display helpers shared by the admins of every app (Django and the stdlib only)."""

import json
from typing import Any


def json_display(value: Any, limit: int = 1000) -> str:
    """``value`` as JSON text for display, cut to about ``limit`` characters.

    Iterative: a stored value nested deeper than the recursion limit (a value
    from before MERP_EXTENSIONS_JSON_MAX_DEPTH) renders instead of raising
    RecursionError.
    """
    out: list[str] = []
    size = 0
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack:
        literal, item = stack.pop()
        if literal:
            piece = item
        elif isinstance(item, dict):
            piece = "{"
            stack.append((True, "}"))
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                key, child = entries[index]
                stack.append((False, child))
                prefix = ", " if index else ""
                stack.append((True, f"{prefix}{json.dumps(str(key))}: "))
        elif isinstance(item, list | tuple):
            piece = "["
            stack.append((True, "]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append((False, item[index]))
                if index:
                    stack.append((True, ", "))
        else:
            piece = json.dumps(item, ensure_ascii=False, default=str)
        out.append(piece)
        size += len(piece)
        if size > limit:
            return "".join(out)[:limit] + "…"
    return "".join(out)
