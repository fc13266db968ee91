"""Addressing fields of JSON objects by key paths; lists are treated as single (atomic) values."""

from __future__ import annotations

import json
from typing import Any, Iterable

Path = tuple[str, ...]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def same(a: Any, b: Any) -> bool:
    """JSON equality (unlike `==`, `True` and `1` differ)."""
    if a is MISSING or b is MISSING:
        return a is b
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def get_path(obj: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return MISSING
        obj = obj[key]
    return obj


def remove_path(obj: dict[str, Any], path: Path) -> None:
    """Remove the field and any map that became empty because of it (as `omitempty` would)."""
    parents = []
    node: Any = obj
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        parents.append((node, key))
        node = node[key]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for parent, key in reversed(parents):
        if parent[key] == {}:
            del parent[key]
        else:
            break


def leaf_paths(value: Any, prefix: Path = ()) -> Iterable[Path]:
    """Paths of every scalar, list or empty map below `value`."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from leaf_paths(child, prefix + (key,))
    elif prefix:
        yield prefix


def dotted(path: Path) -> str:
    return "." + ".".join(path)
