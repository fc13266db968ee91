"""In-memory object storage with a global resourceVersion counter. Callers serialize access (one lock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from fieldmanager import Managers

Key = tuple[str, str, str, str]  # group, plural, namespace ("" when cluster-scoped), name


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Record:
    obj: dict[str, Any]  # as stored: no managedFields (see `managers`) and no controller-computed status
    managers: Managers
    created_at: float  # epoch seconds
    changed_at: float  # epoch seconds of creation or of the last change outside metadata/status
    deleting_since: float | None = None
    # What a simulated controller remembers about the object (a Deployment's conditions, a ReplicaSet's
    # failed pod creation): rendered into status on read, never stored in the object, never a write.
    memory: dict[str, Any] = field(default_factory=dict)

    @property
    def metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = self.obj["metadata"]
        return metadata


class Store:
    def __init__(self) -> None:
        self._records: dict[Key, Record] = {}
        self._resource_version = 0

    @property
    def resource_version(self) -> int:
        return self._resource_version

    def next_resource_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def get(self, key: Key) -> Record | None:
        return self._records.get(key)

    def put(self, key: Key, record: Record) -> None:
        self._records[key] = record

    def pop(self, key: Key) -> Record | None:
        return self._records.pop(key, None)

    def select(self, group: str | None = None, plural: str | None = None,
               namespace: str | None = None) -> list[tuple[Key, Record]]:
        """Records matching the given parts of the key, ordered like etcd keys (namespace, name)."""
        found = [(key, record) for key, record in self._records.items()
                 if (group is None or key[0] == group) and (plural is None or key[1] == plural)
                 and (namespace is None or key[2] == namespace)]
        return sorted(found, key=lambda item: (item[0][2], item[0][3], item[0][0], item[0][1]))

    def uids(self) -> set[str]:
        return {record.metadata.get("uid", "") for record in self._records.values()}
