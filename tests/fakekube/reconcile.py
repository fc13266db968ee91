"""The simulated controllers that write: finalizers, garbage collection and the KEDA operator's HPAs.

They run before every request ("driven on read"), so no background thread touches the state.
"""

from __future__ import annotations

import catalog
import errors
import fieldmanager
import keda
from registry import Registry
from store import rfc3339

HPA = next(rt for rt in catalog.BUILTIN if rt.kind == "HorizontalPodAutoscaler")


def _finish_deletions(registry: Registry, now: float) -> None:
    """The owner of a finalizer (or the namespace controller) is done ready-after seconds after deletion."""
    for key, record in registry.store.select():
        if record.deleting_since is not None and now - record.deleting_since >= registry.ready_after:
            registry.remove(key)


def _sync_keda(registry: Registry, now: float) -> None:
    for _, scaled_object in registry.store.select(keda.GROUP, keda.PLURAL):
        if scaled_object.deleting_since is not None:
            continue
        desired = keda.desired_hpa(scaled_object.obj)
        namespace = scaled_object.metadata["namespace"]
        key = registry.key(HPA, namespace, desired["metadata"]["name"])
        existing = registry.store.get(key)
        try:
            if existing is None:
                managers = fieldmanager.update(None, desired, {}, keda.OPERATOR, HPA.api_version, rfc3339(now))
                registry.create(HPA, desired, managers, namespace)
            else:
                wanted = {**existing.obj, "spec": desired["spec"],
                          "metadata": {**existing.metadata, **desired["metadata"]}}
                managers = fieldmanager.update(existing.obj, wanted, existing.managers, keda.OPERATOR,
                                               HPA.api_version, rfc3339(now))
                registry.update(HPA, key, existing, wanted, managers)
        except errors.ApiError:
            continue  # like the operator: it logs the rejected HPA and retries on the next reconcile


def _collect_garbage(registry: Registry) -> None:
    """Delete objects all of whose owners are gone (background propagation), until nothing changes."""
    removed = True
    while removed:
        removed = False
        uids = registry.store.uids()
        for key, record in registry.store.select():
            owners = record.metadata.get("ownerReferences") or []
            if owners and all(owner.get("uid") not in uids for owner in owners):
                registry.remove(key)
                removed = True


def reconcile(registry: Registry, now: float) -> None:
    _finish_deletions(registry, now)
    _sync_keda(registry, now)
    _collect_garbage(registry)
