"""The generic registry: typed create/update/delete on top of the store, with validation and server-set
metadata. Shared by the HTTP verbs (api.py) and the simulated controllers (reconcile.py)."""

from __future__ import annotations

import base64
import copy
import secrets
import time
import uuid
from dataclasses import replace
from typing import Any, Callable

import catalog
import errors
import semantics
from awscloud import CloudSettings
from catalog import ResourceType
from fieldmanager import Managers, same_ownership
from fieldmanager import update as fieldmanager_update_raw
from fieldpaths import same
from schemas import FieldError, SchemaError, Schemas
from store import Key, Record, Store, rfc3339

CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
# metav1.FinalizerOrphanDependents / FinalizerDeleteDependents, added by the apiserver's store on a DELETE
# with propagationPolicy Orphan / Foreground (apiserver pkg/registry/generic/registry/store.go,
# deletionFinalizersForGarbageCollection) and removed by the garbage collector once it has done its part.
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
# Added on creation by the StorageObjectInUseProtection admission plugin (kubernetes plugin/pkg/admission/storage/
# storageobjectinuseprotection/admission.go; names in pkg/volume/util/finalizer.go), removed by kube-controller-
# manager's pvc-protection and pv-protection controllers (storage.py).
PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"
PV_PROTECTION_FINALIZER = "kubernetes.io/pv-protection"
# The DefaultIngressClass admission plugin (plugin/pkg/admission/network/defaultingressclass/admission.go).
DEFAULT_INGRESS_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")
_SERVER_METADATA = ("uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp",
                    "deletionGracePeriodSeconds")
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _fold_string_data(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Secrets: `stringData` is write-only, merged into `data` (base64) on every write."""
    string_data = obj.pop("stringData", None) if (rt.group, rt.kind) == ("", "Secret") else None
    if string_data:
        obj["data"] = {**(obj.get("data") or {}),
                       **{k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()}}


PodMutator = Callable[["Registry", dict[str, Any]], None]


def fieldmanager_update(record: Record, new_obj: dict[str, Any], manager: str, api_version: str,
                        now: str) -> Managers:
    return fieldmanager_update_raw(record.obj, new_obj, record.managers, manager, api_version, now)


class Registry:
    def __init__(self, schemas: Schemas, ready_after: float, pod_mutators: tuple[PodMutator, ...] = (),
                 deadline_scale: float = 1.0, cloud: CloudSettings | None = None) -> None:
        self.schemas = schemas
        self.ready_after = ready_after
        self.deadline_scale = deadline_scale  # progressDeadlineSeconds is multiplied by this (tests: seconds)
        # The cluster's region and name, and the AWS emulator the cloud controllers call (None: unreachable).
        self.cloud = cloud or CloudSettings()
        self.store = Store()
        # Mutating admission for pods, run on creation only (as webhooks run on CREATE of pods).
        self.pod_mutators = pod_mutators
        # While the controllers catch up on a past moment (reconcile.py), writes are dated then.
        self.clock: float | None = None
        self.reconciled_at = time.time()

    def now(self) -> float:
        return self.clock if self.clock is not None else time.time()

    # --- timing -------------------------------------------------------------------------------------
    def ready(self, record: Record, now: float) -> bool:
        """Whether the simulated controllers have caught up with the record's last change."""
        return now - record.changed_at >= self.ready_after

    def established(self, crd: Record, now: float) -> bool:
        """A CRD is Established ready-after seconds after its creation, and stays so."""
        return now - crd.created_at >= self.ready_after

    # --- types --------------------------------------------------------------------------------------
    def crds(self) -> list[Record]:
        return [record for _, record in self.store.select(catalog.CRDS.group, catalog.CRDS.plural)]

    def serving_types(self) -> list[ResourceType]:
        """Every type requests can address (custom types from the moment their CRD exists)."""
        return list(catalog.BUILTIN) + [rt for crd in self.crds() for rt in catalog.crd_types(crd.obj)]

    def discoverable_types(self, now: float) -> list[ResourceType]:
        """Types listed by discovery: custom types only once their CRD is Established."""
        return list(catalog.BUILTIN) + [rt for crd in self.crds() if self.established(crd, now)
                                        for rt in catalog.crd_types(crd.obj)]

    def find_type(self, group: str, version: str, plural: str) -> ResourceType | None:
        return next((rt for rt in self.serving_types() if (rt.group, rt.version, rt.plural) ==
                     (group, version, plural)), None)

    def find_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return next((rt for rt in self.serving_types() if (rt.api_version, rt.kind) == (api_version, kind)),
                    None)

    def crd_of(self, rt: ResourceType) -> Record | None:
        if rt in catalog.BUILTIN:
            return None
        return self.store.get(self.key(catalog.CRDS, "", f"{rt.plural}.{rt.group}"))

    @staticmethod
    def key(rt: ResourceType, namespace: str, name: str) -> Key:
        return (rt.group, rt.plural, namespace if rt.namespaced else "", name)

    # --- validation ---------------------------------------------------------------------------------
    def validate(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        crd = self.crd_of(rt)
        try:
            problems: list[FieldError] = (self.schemas.validate_custom(obj, crd.obj) if crd
                                          else self.schemas.validate_builtin(obj))
        except SchemaError as exc:
            problems = [FieldError("", "FieldValueInvalid", str(exc))]
        problems += semantics.validate_object(obj)
        if old is not None:
            problems += semantics.validate_update(old, obj)
        if problems:
            name = str(obj.get("metadata", {}).get("name", ""))
            causes = [errors.Cause(p.reason, p.message, p.field) for p in problems]
            raise errors.invalid(rt.kind, rt.group, name, causes)

    def _check_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        if not rt.namespaced:
            return
        record = self.store.get(self.key(catalog.NAMESPACES, "", namespace))
        if record is None:
            raise errors.not_found("namespaces", "", namespace)
        if record.deleting_since is not None:
            raise errors.forbidden(rt.plural, rt.group, name,
                                   f'{errors.qualified(rt.plural, rt.group)} "{name}" is forbidden: unable to '
                                   f"create new content in namespace {namespace} because it is being terminated")

    # --- writes -------------------------------------------------------------------------------------
    def create(self, rt: ResourceType, obj: dict[str, Any], managers: Managers, namespace: str,
               dry_run: bool = False) -> Record:
        obj = copy.deepcopy(obj)
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + "".join(
                secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5))
        name = str(metadata.get("name", ""))
        self._check_namespace(rt, namespace, name)
        crd = self.crd_of(rt)
        if crd is not None and crd.deleting_since is not None:
            raise errors.method_not_allowed("create not allowed while custom resource definition is terminating")
        key = self.key(rt, namespace, name)
        if name and self.store.get(key) is not None:
            raise errors.already_exists(rt.plural, rt.group, name)
        if rt == catalog.PODS:
            self._admit_pod(obj, namespace, name)
        if rt == catalog.INGRESSES:
            self._default_ingress_class(obj)
        now = self.now()
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        for field in _SERVER_METADATA:
            metadata.pop(field, None)
        if rt.namespaced:
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        metadata.update(uid=str(uuid.uuid4()), creationTimestamp=rfc3339(now), generation=1)
        if "status" in rt.subresources:
            obj.pop("status", None)
        if rt == catalog.CRDS and CRD_CLEANUP_FINALIZER not in (metadata.get("finalizers") or []):
            metadata["finalizers"] = [*(metadata.get("finalizers") or []), CRD_CLEANUP_FINALIZER]
        if rt == catalog.NAMESPACES:
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        protection = {catalog.PVCS: PVC_PROTECTION_FINALIZER, catalog.PVS: PV_PROTECTION_FINALIZER}.get(rt)
        if protection and protection not in (metadata.get("finalizers") or []):
            metadata["finalizers"] = [*(metadata.get("finalizers") or []), protection]
        self.validate(rt, obj, None)
        _fold_string_data(rt, obj)
        record = Record(obj, managers, now, now)
        if not dry_run:
            metadata["resourceVersion"] = self.store.next_resource_version()
            self.store.put(key, record)
        return record

    def update(self, rt: ResourceType, key: Key, old: Record, new_obj: dict[str, Any], managers: Managers,
               dry_run: bool = False) -> tuple[Record, bool]:
        """Store `new_obj` in place of `old`; returns the resulting record and whether anything changed."""
        new_obj = copy.deepcopy(new_obj)
        metadata = new_obj.setdefault("metadata", {})
        new_obj["apiVersion"], new_obj["kind"] = rt.api_version, rt.kind
        for field in ("name", "namespace", *_SERVER_METADATA):
            if field in old.metadata:
                metadata[field] = old.metadata[field]
            else:
                metadata.pop(field, None)
        if "status" in rt.subresources:
            new_obj.pop("status", None)
        self.validate(rt, new_obj, old.obj)
        _fold_string_data(rt, new_obj)
        if same(new_obj, old.obj) and same_ownership(managers, old.managers):
            return old, False
        spec_changed = not same(_spec_part(new_obj), _spec_part(old.obj))
        now = self.now()
        if spec_changed:
            metadata["generation"] = int(old.metadata.get("generation", 1)) + 1
        record = replace(old, obj=new_obj, managers=managers, changed_at=now if spec_changed else old.changed_at)
        if not dry_run:
            metadata["resourceVersion"] = self.store.next_resource_version()
            self.store.put(key, record)
            if record.deleting_since is not None and not self._held(rt, record):
                self.remove(key)
        return record, True

    @staticmethod
    def _held(rt: ResourceType, record: Record) -> bool:
        """Whether deletion must wait for a finalizing controller."""
        return bool(record.metadata.get("finalizers")) or rt == catalog.NAMESPACES

    def delete(self, rt: ResourceType, key: Key, record: Record, propagation: str, dry_run: bool = False) -> Record:
        """Delete now, or mark for deletion when a finalizer (simulated controller) has to run first.

        Like the apiserver's store: Orphan and Foreground add the `orphan` / `foregroundDeletion` finalizer
        (so the object is answered with its deletionTimestamp, and the garbage collector finishes it);
        Background adds nothing.
        """
        if rt == catalog.NAMESPACES and key[3] in UNDELETABLE_NAMESPACES:
            raise errors.forbidden(rt.plural, rt.group, key[3],
                                   f'namespaces "{key[3]}" is forbidden: this namespace may not be deleted')
        if dry_run or record.deleting_since is not None:
            return record
        finalizers = [f for f in record.metadata.get("finalizers") or []
                      if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)]
        if propagation == "Orphan":
            finalizers.append(ORPHAN_FINALIZER)
        elif propagation == "Foreground":
            finalizers.append(FOREGROUND_FINALIZER)
        if not finalizers and rt != catalog.NAMESPACES:
            self.remove(key)
            return record
        now = self.now()
        obj = copy.deepcopy(record.obj)
        obj["metadata"].update(deletionTimestamp=rfc3339(now), deletionGracePeriodSeconds=0,
                               generation=int(record.metadata.get("generation", 1)) + 1,
                               resourceVersion=self.store.next_resource_version())
        if finalizers:
            obj["metadata"]["finalizers"] = finalizers
        marked = replace(record, obj=obj, deleting_since=now)
        self.store.put(key, marked)
        return marked

    def drop_finalizer(self, key: Key, finalizer: str) -> None:
        """What a controller does when its work for a deleted object is done; the last one removes it."""
        record = self.store.get(key)
        if record is None or finalizer not in (record.metadata.get("finalizers") or []):
            return
        obj = copy.deepcopy(record.obj)
        left = [f for f in obj["metadata"]["finalizers"] if f != finalizer]
        if left:
            obj["metadata"]["finalizers"] = left
        else:
            del obj["metadata"]["finalizers"]
        obj["metadata"]["resourceVersion"] = self.store.next_resource_version()
        self.store.put(key, replace(record, obj=obj))
        if not left and record.deleting_since is not None and key[:2] != ("", "namespaces"):
            self.remove(key)

    def add_finalizer(self, key: Key, finalizer: str, manager: str) -> None:
        """A controller claiming an object (KEDA's operator adding finalizer.keda.sh): an Update write."""
        record = self.store.get(key)
        if record is None or finalizer in (record.metadata.get("finalizers") or []):
            return
        obj = copy.deepcopy(record.obj)
        obj["metadata"]["finalizers"] = [*(obj["metadata"].get("finalizers") or []), finalizer]
        rt = self.find_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        if rt is None:
            return
        managers = fieldmanager_update(record, obj, manager, rt.api_version, rfc3339(self.now()))
        self.update(rt, key, record, obj, managers)

    def remove(self, key: Key) -> None:
        """Final removal. Namespaces and CRDs get here only once their controllers emptied them (reconcile.py)."""
        if self.store.pop(key) is not None:
            self.store.next_resource_version()

    # --- admission ----------------------------------------------------------------------------------
    def _admit_pod(self, pod: dict[str, Any], namespace: str, name: str) -> None:
        """The ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount/admission.go): default
        `serviceAccountName` and refuse a pod whose ServiceAccount does not exist; then the mutating
        webhooks. fakekube runs no ServiceAccount controller, so `default` is taken to exist."""
        spec = pod.setdefault("spec", {})
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = account
        if account != "default" and self.store.get(self.key(catalog.SERVICEACCOUNTS, namespace, account)) is None:
            shown = name or (pod.get("metadata") or {}).get("generateName", "")
            raise errors.forbidden("pods", "", shown,
                                   f'pods "{shown}" is forbidden: error looking up service account '
                                   f'{namespace}/{account}: serviceaccount "{account}" not found')
        pod.setdefault("metadata", {})["namespace"] = namespace
        for mutate in self.pod_mutators:
            mutate(self, pod)

    def _default_ingress_class(self, ingress: dict[str, Any]) -> None:
        """DefaultIngressClass admission: an Ingress with neither `spec.ingressClassName` nor the
        `kubernetes.io/ingress.class` annotation gets the default IngressClass (the newest one when several are
        marked default)."""
        spec = ingress.get("spec")
        annotations = (ingress.get("metadata") or {}).get("annotations") or {}
        if not isinstance(spec, dict) or spec.get("ingressClassName") or INGRESS_CLASS_ANNOTATION in annotations:
            return
        defaults = [r for _, r in self.store.select(catalog.INGRESSCLASSES.group, catalog.INGRESSCLASSES.plural)
                    if (r.metadata.get("annotations") or {}).get(DEFAULT_INGRESS_CLASS_ANNOTATION) == "true"]
        if defaults:  # getDefaultClass: the newest, ties broken by name
            spec["ingressClassName"] = min(defaults, key=lambda r: (-r.created_at, r.metadata["name"])).metadata["name"]

    # --- bootstrap ----------------------------------------------------------------------------------
    def seed(self) -> None:
        for name in DEFAULT_NAMESPACES:
            self.create(catalog.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                        {}, "")
