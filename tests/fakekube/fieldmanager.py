"""Field ownership (managedFields) and the server-side apply merge.

Simplifications against structured-merge-diff: ownership is tracked per leaf field, lists are atomic
(owned and replaced as a whole, including list-map lists such as `containers`), and `null` in an applied
configuration is ignored.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from fieldpaths import Path, dotted, get_path, leaf_paths, remove_path, same
from patching import deep_merge

SERVER_METADATA = frozenset({"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                             "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"})


@dataclass(frozen=True)
class ManagedEntry:
    manager: str
    operation: str  # "Apply" or "Update"
    api_version: str
    time: str
    fields: frozenset[Path]


Managers = dict[tuple[str, str], ManagedEntry]


@dataclass
class ApplyConflict(Exception):
    conflicts: list[tuple[Path, ManagedEntry]]

    def message(self) -> str:
        described = [f'conflict with "{entry.manager}"'
                     + (f" using {entry.api_version}" if entry.operation == "Update" else "")
                     + f": {dotted(path)}" for path, entry in self.conflicts]
        count = len(self.conflicts)
        return f"Apply failed with {count} conflict{'s' if count > 1 else ''}: " + "\n".join(described)


def owned_paths(obj: dict[str, Any]) -> frozenset[Path]:
    """Leaf fields that can be owned: everything but identity, server-set metadata and status."""
    paths: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata" and isinstance(value, dict):
            for meta_key, meta_value in value.items():
                if meta_key not in SERVER_METADATA:
                    paths.update(leaf_paths(meta_value, ("metadata", meta_key)))
        else:
            paths.update(leaf_paths(value, (key,)))
    return frozenset(paths)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _prune(managers: Managers, obj: dict[str, Any]) -> Managers:
    """Drop ownership of fields that no longer exist, and managers that own nothing."""
    present = owned_paths(obj)
    pruned = {key: replace(entry, fields=entry.fields & present) for key, entry in managers.items()}
    return {key: entry for key, entry in pruned.items() if entry.fields}


def apply(live: dict[str, Any] | None, managers: Managers, config: dict[str, Any], manager: str,
          force: bool, now: str) -> tuple[dict[str, Any], Managers]:
    """Merge an applied configuration into the live object (None when creating)."""
    config = _without_nulls(config)
    me = (manager, "Apply")
    config_paths = owned_paths(config)
    others = {key: entry for key, entry in managers.items() if key != me}
    conflicts = []
    if live is not None:
        for path in sorted(config_paths):
            if same(get_path(live, path), get_path(config, path)):
                continue
            conflicts += [(path, entry) for entry in others.values() if path in entry.fields]
    if conflicts and not force:
        raise ApplyConflict(conflicts)

    merged = copy.deepcopy(live) if live is not None else {}
    shared = frozenset().union(*(entry.fields for entry in others.values()))
    previously = managers[me].fields if me in managers else frozenset()
    for path in previously - config_paths - shared:
        remove_path(merged, path)
    merged = deep_merge(merged, config)

    taken = {path for path, _ in conflicts}
    result = {key: replace(entry, fields=entry.fields - taken) for key, entry in others.items()}
    result[me] = ManagedEntry(manager, "Apply", str(config.get("apiVersion", "")), now, config_paths)
    return merged, _prune(result, merged)


def update(old: dict[str, Any] | None, new: dict[str, Any], managers: Managers, manager: str,
           api_version: str, now: str) -> Managers:
    """Ownership after a non-apply write: the writer takes every field it changed, without conflicts."""
    new_paths = owned_paths(new)
    changed = {p for p in new_paths if old is None or not same(get_path(old, p), get_path(new, p))}
    me = (manager, "Update")
    result = {key: replace(entry, fields=entry.fields - changed) for key, entry in managers.items() if key != me}
    mine = (managers[me].fields if me in managers else frozenset()) | changed
    if mine:
        result[me] = ManagedEntry(manager, "Update", api_version, now if changed else managers[me].time,
                                  frozenset(mine))
    return _prune(result, new)


def same_ownership(a: Managers, b: Managers) -> bool:
    """Equal apart from timestamps."""
    return {k: (e.api_version, e.fields) for k, e in a.items()} == {k: (e.api_version, e.fields) for k, e in b.items()}


def _fields_v1(paths: frozenset[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


def managed_fields(managers: Managers) -> list[dict[str, Any]]:
    """The `metadata.managedFields` view of the ownership table."""
    return [
        {"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version, "time": e.time,
         "fieldsType": "FieldsV1", "fieldsV1": _fields_v1(e.fields)}
        for e in sorted(managers.values(), key=lambda e: (e.operation != "Apply", e.manager))
    ]
