"""JSON that lenet_xp reads back from files anyone may have edited (a checkpoint's meta, the
lines of metrics.jsonl, a run folder's lock): text nested deeper than lenet_xp ever writes is
refused with :class:`TooDeep`, where Python's parser raises RecursionError (text nested
200,000 deep) or hands on a value that breaks whatever walks it later.
"""

from __future__ import annotations

import json

#: the deepest nesting read: lenet_xp writes at most 4 levels (a checkpoint's history: the
#: meta, the list of epochs, one epoch, its optimiser's summary)
MAX_DEPTH = 16


class TooDeep(ValueError):
    """JSON nested deeper than :data:`MAX_DEPTH`."""

    def __init__(self):
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels, which lenet_xp never "
                         "writes")


def loads(text: str | bytes) -> object:
    """``json.loads(text)``; raises :class:`TooDeep` for text nested deeper than
    :data:`MAX_DEPTH`, ``json.JSONDecodeError`` for text that is not JSON (both ValueErrors)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep() from None
    if depth(value) > MAX_DEPTH:
        raise TooDeep()
    return value


def depth(value) -> int:
    """How deep lists and objects nest in a JSON value (a number or a string: 0), counted
    without recursion."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level + 1)
            pending.extend((child, level + 1) for child in item)
    return deepest
