"""The simulated controllers that write: Deployments and ReplicaSets (deployments.py), the namespace and CRD
finalizers, the garbage collector, the KEDA operator (HPAs and finalizer.keda.sh), the load balancer
controllers (cloudcontrollers.py) and the volume controllers (storage.py).

They run before every request and after every write ("driven on read"), so no background thread touches the
state. A client that polls slowly must see the same history as one that polls fast, so the controllers first
catch up: they run at every past moment something became due (a pod turning Ready, a deletion's
--ready-after, a progress deadline), with writes dated then, and finally at the present.
"""

from __future__ import annotations

import catalog
import cloudcontrollers
import deployments
import errors
import fieldmanager
import keda
import storage
from registry import (CRD_CLEANUP_FINALIZER, FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Registry)
from store import Key, Record, rfc3339

HPA = next(rt for rt in catalog.BUILTIN if rt.kind == "HorizontalPodAutoscaler")
_CONTROLLER_FINALIZERS = (CRD_CLEANUP_FINALIZER, ORPHAN_FINALIZER, FOREGROUND_FINALIZER, keda.FINALIZER,
                          *storage.FINALIZERS)
_MAX_PASSES = 20  # within one moment, controllers react to each other until nothing changes


def _simulated(finalizer: str) -> bool:
    """Whether a simulated controller owns the finalizer (it is then removed only by that controller)."""
    return finalizer in _CONTROLLER_FINALIZERS or cloudcontrollers.handles_finalizer(finalizer)


def _type_of(registry: Registry, key: Key) -> catalog.ResourceType | None:
    return next((rt for rt in registry.serving_types() if (rt.group, rt.plural) == key[:2]), None)


def _delete(registry: Registry, key: Key, record: Record) -> bool:
    """A controller's DELETE (background propagation, finalizers honoured)."""
    rt = _type_of(registry, key)
    if rt is None or record.deleting_since is not None:
        return False
    registry.delete(rt, key, record, "Background")
    return True


def _dependents(registry: Registry, owner: Record) -> list[tuple[Key, Record]]:
    uid = owner.metadata.get("uid")
    return [(k, r) for k, r in registry.store.select()
            if any(ref.get("uid") == uid for ref in r.metadata.get("ownerReferences") or [])]


def _finish_namespace(registry: Registry, key: Key, record: Record, at: float) -> bool:
    """The namespace controller: delete everything in it, remove it once nothing is left (content held by
    finalizers keeps it Terminating, as on a real cluster)."""
    content = registry.store.select(namespace=key[3])
    changed = any([_delete(registry, k, r) for k, r in content])
    if not registry.store.select(namespace=key[3]) and not record.metadata.get("finalizers") \
            and at - (record.deleting_since or at) >= registry.ready_after:
        registry.remove(key)
        changed = True
    return changed


def _finish_crd(registry: Registry, key: Key, record: Record, at: float) -> bool:
    """The CRD finalizer: delete every instance, drop customresourcecleanup once none is left."""
    spec = record.obj.get("spec") or {}
    instances = registry.store.select(spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
    changed = any([_delete(registry, k, r) for k, r in instances])
    remaining = registry.store.select(spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
    if not remaining and at - (record.deleting_since or at) >= registry.ready_after:
        registry.drop_finalizer(key, CRD_CLEANUP_FINALIZER)
        changed = True
    return changed


def _orphan(registry: Registry, key: Key, record: Record) -> bool:
    """The garbage collector for `orphan`: strip the owner reference from every dependent, then let go."""
    uid = record.metadata.get("uid")
    for dependent_key, dependent in _dependents(registry, record):
        obj = {**dependent.obj, "metadata": dict(dependent.metadata)}
        kept = [ref for ref in dependent.metadata.get("ownerReferences") or [] if ref.get("uid") != uid]
        if kept:
            obj["metadata"]["ownerReferences"] = kept
        else:
            obj["metadata"].pop("ownerReferences", None)
        rt = _type_of(registry, dependent_key)
        if rt is not None:
            managers = fieldmanager.update(dependent.obj, obj, dependent.managers, "kube-controller-manager",
                                           rt.api_version, rfc3339(registry.now()))
            registry.update(rt, dependent_key, dependent, obj, managers)
    registry.drop_finalizer(key, ORPHAN_FINALIZER)
    return True


def _foreground(registry: Registry, key: Key, record: Record) -> bool:
    """The garbage collector for `foregroundDeletion`: delete the dependents, let go once those that block
    their owner's deletion (blockOwnerDeletion) are gone."""
    uid = record.metadata.get("uid")
    dependents = _dependents(registry, record)
    changed = any([_delete(registry, k, r) for k, r in dependents])
    blocking = [r for _, r in _dependents(registry, record)
                if any(ref.get("uid") == uid and ref.get("blockOwnerDeletion")
                       for ref in r.metadata.get("ownerReferences") or [])]
    if not blocking:
        registry.drop_finalizer(key, FOREGROUND_FINALIZER)
        changed = True
    return changed


def _finish_deletions(registry: Registry, at: float) -> bool:
    changed = False
    for key, record in registry.store.select():
        if record.deleting_since is None or registry.store.get(key) is not record:
            continue
        if at - record.deleting_since >= registry.ready_after:
            # Finalizers of controllers fakekube does not run are taken as handled after --ready-after.
            for finalizer in [f for f in record.metadata.get("finalizers") or [] if not _simulated(f)]:
                registry.drop_finalizer(key, finalizer)
                changed = True
            current = registry.store.get(key)
            if current is None:
                continue
            record = current
        finalizers = record.metadata.get("finalizers") or []
        if ORPHAN_FINALIZER in finalizers:
            changed |= _orphan(registry, key, record)
        elif FOREGROUND_FINALIZER in finalizers:
            changed |= _foreground(registry, key, record)
        elif key[:2] == ("", "namespaces"):
            changed |= _finish_namespace(registry, key, record, at)
        elif CRD_CLEANUP_FINALIZER in finalizers:
            changed |= _finish_crd(registry, key, record, at)
    return changed


def keda_operator_available(registry: Registry) -> bool:
    """A Deployment named keda-operator (any namespace), not being deleted, reporting Available=True."""
    return any(record.metadata["name"] == keda.OPERATOR and record.deleting_since is None
               and deployments.available(record)
               for _, record in registry.store.select("apps", "deployments"))


def _sync_keda_finalizers(registry: Registry, at: float) -> bool:
    """The KEDA operator puts finalizer.keda.sh on what it manages and removes it when one is deleted; with no
    running operator nothing removes it, so the object stays Terminating (and so do its CRD and namespace)."""
    if not keda_operator_available(registry):
        return False
    changed = False
    for group, plural in keda.FINALIZED:
        for key, record in registry.store.select(group, plural):
            finalizers = record.metadata.get("finalizers") or []
            if record.deleting_since is None and keda.FINALIZER not in finalizers:
                try:
                    registry.add_finalizer(key, keda.FINALIZER, keda.OPERATOR)
                    changed = True
                except errors.ApiError:
                    continue
            elif record.deleting_since is not None and keda.FINALIZER in finalizers \
                    and at - record.deleting_since >= registry.ready_after:
                registry.drop_finalizer(key, keda.FINALIZER)
                changed = True
    return changed


def _sync_keda_hpas(registry: Registry, at: float) -> bool:
    changed = False
    for _, scaled_object in registry.store.select(keda.GROUP, keda.PLURAL):
        if scaled_object.deleting_since is not None:
            continue
        desired = keda.desired_hpa(scaled_object.obj)
        namespace = scaled_object.metadata["namespace"]
        key = registry.key(HPA, namespace, desired["metadata"]["name"])
        existing = registry.store.get(key)
        try:
            if existing is None:
                managers = fieldmanager.update(None, desired, {}, keda.OPERATOR, HPA.api_version, rfc3339(at))
                registry.create(HPA, desired, managers, namespace)
                changed = True
            else:
                wanted = {**existing.obj, "spec": desired["spec"],
                          "metadata": {**existing.metadata, **desired["metadata"]}}
                managers = fieldmanager.update(existing.obj, wanted, existing.managers, keda.OPERATOR,
                                               HPA.api_version, rfc3339(at))
                changed |= registry.update(HPA, key, existing, wanted, managers)[1]
        except errors.ApiError:
            continue  # like the operator: it logs the rejected HPA and retries on the next reconcile
    return changed


def _collect_garbage(registry: Registry) -> bool:
    """Delete (in the background, finalizers honoured) objects all of whose owners are gone."""
    uids = registry.store.uids()
    changed = False
    for key, record in registry.store.select():
        owners = record.metadata.get("ownerReferences") or []
        if owners and all(owner.get("uid") not in uids for owner in owners):
            changed |= _delete(registry, key, record)
    return changed


def _pass(registry: Registry, at: float) -> None:
    registry.clock = at
    try:
        for _ in range(_MAX_PASSES):
            changed = _finish_deletions(registry, at)
            changed |= _sync_keda_hpas(registry, at)
            changed |= deployments.Controllers(registry, at, registry.deadline_scale).run()
            changed |= _sync_keda_finalizers(registry, at)
            changed |= cloudcontrollers.run(registry, at)
            changed |= storage.run(registry, at)
            changed |= _collect_garbage(registry)
            if not changed:
                break
    finally:
        registry.clock = None


def _due(registry: Registry) -> list[float]:
    moments = deployments.pending_moments(registry) + storage.released_moments(registry)
    moments += [record.deleting_since + registry.ready_after for _, record in registry.store.select()
                if record.deleting_since is not None]
    return moments


def reconcile(registry: Registry, now: float) -> None:
    last = registry.reconciled_at
    for _ in range(1000):
        due = [t for t in _due(registry) if last < t < now]
        if not due:
            break
        last = min(due)
        _pass(registry, last)
    _pass(registry, now)
    registry.reconciled_at = now
