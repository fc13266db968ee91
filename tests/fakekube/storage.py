"""PersistentVolumeClaims and PersistentVolumes: kube-controller-manager's volume controllers and the EBS CSI
driver's external-provisioner, as far as binding and deletion go (no dynamic provisioning: tests create the
PV, and the EBS volume in the AWS emulator, themselves).

- Admission (registry.py, StorageObjectInUseProtection) puts `kubernetes.io/pvc-protection` on every new PVC
  and `kubernetes.io/pv-protection` on every new PV. The protection controllers put them back if removed.
- PV controller (kubernetes pkg/controller/volume/persistentvolume/pv_controller.go): a PV whose
  `spec.claimRef` names an existing PVC (and whose `claimRef.uid`, when set, is that PVC's) is bound to it:
  the controller completes `claimRef` (uid) and the PVC's `spec.volumeName` and annotations
  `pv.kubernetes.io/bind-completed` and `pv.kubernetes.io/bound-by-controller`; a PVC naming an unclaimed PV
  in `spec.volumeName` claims it. Phases (status, computed on read): PV `Available` (no or a pre-bound
  claimRef), `Bound`, `Released` (its bound claim is gone); PVC `Pending`, `Bound`, `Lost` (its bound PV is
  gone). A released PV with reclaim policy `Retain` stays `Released`.
- pvc-protection controller (pkg/controller/volume/pvcprotection/pvc_protection_controller.go): a deleted PVC
  loses its finalizer once no scheduled pod uses it (`spec.volumes[].persistentVolumeClaim.claimName`, or a
  generic ephemeral volume `<pod>-<volume>`); fakekube's pods count as scheduled unless they carry the
  `Unschedulable` failure annotation (there are no nodes, so `spec.nodeName` is rarely set).
- pv-protection controller (pkg/controller/volume/pvprotection/pv_protection_controller.go): a deleted PV loses
  its finalizer once it is not Bound.
- EBS CSI driver (kubernetes-sigs/aws-ebs-csi-driver, `ebs.csi.aws.com`) with kubernetes-csi/
  external-provisioner and sig-storage-lib-external-provisioner (controller.go finalizerPV, shouldDelete,
  deleteVolumeOperation), HonorPVReclaimPolicy taken as enabled (KEP-2644): every Bound PV of the driver with
  reclaim policy Delete, statically provisioned ones included, gets
  `external-provisioner.volume.kubernetes.io/finalizer`. With --aws-endpoint, `--ready-after` after such a PV
  is Released, the driver's DeleteVolume (pkg/driver/controller.go) deletes `spec.csi.volumeHandle` in EC2
  (a missing volume counts as deleted, as in the driver; an attached one fails with VolumeInUse and is
  retried), then the PV is deleted and loses that finalizer. Without --aws-endpoint, or while the call fails,
  the PV stays Released.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import catalog
import errors
import fieldmanager
from awscloud import CloudError
from failures import injected_failure
from registry import PV_PROTECTION_FINALIZER, PVC_PROTECTION_FINALIZER, Registry
from status import World
from store import Key, Record, rfc3339

PROVISIONER_FINALIZER = "external-provisioner.volume.kubernetes.io/finalizer"
EBS_CSI_DRIVER = "ebs.csi.aws.com"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
CONTROLLER_MANAGER = "kube-controller-manager"
PROVISIONER = "csi-provisioner"  # assumed field manager of the external-provisioner's writes
FINALIZERS = (PVC_PROTECTION_FINALIZER, PV_PROTECTION_FINALIZER, PROVISIONER_FINALIZER)
RELEASED_AT = "releasedAt"  # record memory: when the PV controller first saw the PV Released
RETRY_AT = "cloudRetryAt"


def _spec(record: Record) -> dict[str, Any]:
    spec = record.obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _claim_key(namespace: str, name: str) -> Key:
    return (catalog.PVCS.group, catalog.PVCS.plural, namespace, name)


def _volume_key(name: str) -> Key:
    return (catalog.PVS.group, catalog.PVS.plural, "", name)


# --- phases --------------------------------------------------------------------------------------------------

def volume_phase(registry: Registry, pv: Record) -> str:
    reference = _spec(pv).get("claimRef") or {}
    if not reference.get("name"):
        return "Available"
    claim = registry.store.get(_claim_key(str(reference.get("namespace", "")), str(reference["name"])))
    if not reference.get("uid"):
        return "Available"  # pre-bound: waiting for its claim
    if claim is None or claim.metadata.get("uid") != reference["uid"]:
        return "Released"
    return "Bound"


def claim_phase(registry: Registry, pvc: Record) -> tuple[str, Record | None]:
    name = _spec(pvc).get("volumeName")
    if not name:
        return "Pending", None
    pv = registry.store.get(_volume_key(str(name)))
    if pv is None:
        bound = (pvc.metadata.get("annotations") or {}).get(BIND_COMPLETED)
        return ("Lost" if bound else "Pending"), None
    reference = _spec(pv).get("claimRef") or {}
    if reference.get("uid") == pvc.metadata.get("uid"):
        return "Bound", pv
    return "Pending", None


def volume_status(record: Record, world: World) -> dict[str, Any]:
    return {"phase": volume_phase(world.registry, record)}


def claim_status(record: Record, world: World) -> dict[str, Any]:
    phase, pv = claim_phase(world.registry, record)
    status: dict[str, Any] = {"phase": phase}
    if pv is not None:
        volume_spec = _spec(pv)
        for field in ("accessModes", "capacity"):
            if volume_spec.get(field):
                status[field] = copy.deepcopy(volume_spec[field])
    return status


# --- controllers ---------------------------------------------------------------------------------------------

def run(registry: Registry, at: float) -> bool:
    changed = _bind(registry, at)
    changed |= _protect(registry, at)
    changed |= _provisioner(registry, at)
    return changed


def _write(registry: Registry, rt: catalog.ResourceType, key: Key, record: Record, obj: dict[str, Any],
           manager: str, at: float) -> bool:
    managers = fieldmanager.update(record.obj, obj, record.managers, manager, rt.api_version, rfc3339(at))
    try:
        return registry.update(rt, key, record, obj, managers)[1]
    except errors.ApiError:
        return False  # refused: the controller tries again on its next pass


def _bind(registry: Registry, at: float) -> bool:
    """The PV controller's binding (syncVolume / syncClaim), without provisioning or matching by size."""
    changed = False
    for key, pv in registry.store.select(catalog.PVS.group, catalog.PVS.plural):
        reference = _spec(pv).get("claimRef") or {}
        if pv.deleting_since is not None or not reference.get("name"):
            continue
        claim_key = _claim_key(str(reference.get("namespace", "")), str(reference["name"]))
        claim = registry.store.get(claim_key)
        if claim is None or reference.get("uid") not in (None, "", claim.metadata.get("uid")) \
                or _spec(claim).get("volumeName") not in (None, "", key[3]):
            continue
        if not reference.get("uid"):
            obj = copy.deepcopy(pv.obj)
            obj["spec"]["claimRef"] = {**reference, "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                       "uid": claim.metadata["uid"]}
            changed |= _write(registry, catalog.PVS, key, pv, obj, CONTROLLER_MANAGER, at)
        claim = registry.store.get(claim_key)
        if claim is None or (_spec(claim).get("volumeName")
                             and (claim.metadata.get("annotations") or {}).get(BIND_COMPLETED)):
            continue
        obj = copy.deepcopy(claim.obj)
        annotations = obj["metadata"].setdefault("annotations", {})
        if not _spec(claim).get("volumeName"):
            obj.setdefault("spec", {})["volumeName"] = key[3]
            annotations[BOUND_BY_CONTROLLER] = "yes"
        annotations[BIND_COMPLETED] = "yes"
        changed |= _write(registry, catalog.PVCS, claim_key, claim, obj, CONTROLLER_MANAGER, at)
    for claim_key, claim in registry.store.select(catalog.PVCS.group, catalog.PVCS.plural):
        name = _spec(claim).get("volumeName")
        pv = registry.store.get(_volume_key(str(name))) if name else None
        if pv is None or pv.deleting_since is not None or (_spec(pv).get("claimRef") or {}).get("name"):
            continue
        obj = copy.deepcopy(pv.obj)  # a claim asking for an unclaimed volume by name gets it
        obj["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                   "namespace": claim_key[2], "name": claim_key[3], "uid": claim.metadata["uid"]}
        obj["metadata"].setdefault("annotations", {})[BOUND_BY_CONTROLLER] = "yes"
        changed |= _write(registry, catalog.PVS, _volume_key(str(name)), pv, obj, CONTROLLER_MANAGER, at)
    return changed


def _scheduled(pod: Record) -> bool:
    return bool(_spec(pod).get("nodeName")) or injected_failure(pod.metadata) != "Unschedulable"


def claim_in_use(registry: Registry, claim_key: Key) -> bool:
    """pvc-protection's podUsesPVC over the claim's namespace."""
    name = claim_key[3]
    for _, pod in registry.store.select("", "pods", claim_key[2]):
        if not _scheduled(pod):
            continue
        for volume in _spec(pod).get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            ephemeral = "ephemeral" in volume and f"{pod.metadata['name']}-{volume.get('name')}" == name
            if claim == name or ephemeral:
                return True
    return False


def _add(registry: Registry, key: Key, finalizer: str, manager: str) -> bool:
    try:
        registry.add_finalizer(key, finalizer, manager)
    except errors.ApiError:
        return False
    return True


def _protect(registry: Registry, at: float) -> bool:
    """The pvc-protection and pv-protection controllers."""
    changed = False
    for key, claim in registry.store.select(catalog.PVCS.group, catalog.PVCS.plural):
        finalizers = claim.metadata.get("finalizers") or []
        if claim.deleting_since is None:
            if PVC_PROTECTION_FINALIZER not in finalizers:
                changed |= _add(registry, key, PVC_PROTECTION_FINALIZER, CONTROLLER_MANAGER)
        elif PVC_PROTECTION_FINALIZER in finalizers and at - claim.deleting_since >= registry.ready_after \
                and not claim_in_use(registry, key):
            registry.drop_finalizer(key, PVC_PROTECTION_FINALIZER)
            changed = True
    for key, pv in registry.store.select(catalog.PVS.group, catalog.PVS.plural):
        finalizers = pv.metadata.get("finalizers") or []
        if pv.deleting_since is None:
            if PV_PROTECTION_FINALIZER not in finalizers:
                changed |= _add(registry, key, PV_PROTECTION_FINALIZER, CONTROLLER_MANAGER)
        elif PV_PROTECTION_FINALIZER in finalizers and at - pv.deleting_since >= registry.ready_after \
                and volume_phase(registry, pv) != "Bound":
            registry.drop_finalizer(key, PV_PROTECTION_FINALIZER)
            changed = True
    return changed


def _ebs(pv: Record) -> bool:
    return (_spec(pv).get("csi") or {}).get("driver") == EBS_CSI_DRIVER


def _reclaim_delete(pv: Record) -> bool:
    return _spec(pv).get("persistentVolumeReclaimPolicy") == "Delete"


def released_moments(registry: Registry) -> list[float]:
    """When Released EBS volumes fall due for deletion (for reconcile's catch-up)."""
    return [pv.memory[RELEASED_AT] + registry.ready_after
            for _, pv in registry.store.select(catalog.PVS.group, catalog.PVS.plural) if RELEASED_AT in pv.memory]


def _provisioner(registry: Registry, at: float) -> bool:
    """The EBS CSI driver's external-provisioner: finalizer on bound Delete volumes, DeleteVolume once released."""
    changed = False
    aws = registry.cloud.aws
    for key, pv in registry.store.select(catalog.PVS.group, catalog.PVS.plural):
        if not _ebs(pv):
            continue
        phase = volume_phase(registry, pv)
        finalizers = pv.metadata.get("finalizers") or []
        if phase != "Released":
            pv.memory.pop(RELEASED_AT, None)
        if phase == "Bound" and _reclaim_delete(pv) and pv.deleting_since is None \
                and PROVISIONER_FINALIZER not in finalizers:
            changed |= _add(registry, key, PROVISIONER_FINALIZER, PROVISIONER)
            continue
        if phase != "Released" or not _reclaim_delete(pv):
            continue
        pv.memory.setdefault(RELEASED_AT, at)
        # shouldDelete: a PV being deleted is handled only while it still carries the provisioner's finalizer
        if aws is None or (pv.deleting_since is not None and PROVISIONER_FINALIZER not in finalizers) \
                or at - pv.memory[RELEASED_AT] < registry.ready_after \
                or time.time() < pv.memory.get(RETRY_AT, 0.0):
            continue
        handle = str((_spec(pv).get("csi") or {}).get("volumeHandle", ""))
        try:
            aws.delete_volume(handle)
        except CloudError:
            pv.memory[RETRY_AT] = time.time() + max(registry.ready_after, 1.0)
            continue
        pv.memory.pop(RETRY_AT, None)
        registry.delete(catalog.PVS, key, pv, "Background")  # the PV object goes after the volume
        registry.drop_finalizer(key, PROVISIONER_FINALIZER)
        changed = True
    return changed
