"""The generic registry: typed create/update/delete on top of the store, with validation and server-set
metadata. Shared by the HTTP verbs (api.py) and the simulated controllers (reconcile.py)."""

from __future__ import annotations

import base64
import copy
import secrets
import time
import uuid
from dataclasses import replace
from typing import Any

import catalog
import errors
import semantics
from catalog import ResourceType
from fieldmanager import Managers, same_ownership
from fieldpaths import same
from schemas import FieldError, SchemaError, Schemas
from store import Key, Record, Store, rfc3339

CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
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


class Registry:
    def __init__(self, schemas: Schemas, ready_after: float) -> None:
        self.schemas = schemas
        self.ready_after = ready_after
        self.store = Store()

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
        now = time.time()
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
        now = time.time()
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
        """Delete now, or mark for deletion when a finalizer (simulated controller) has to run first."""
        if rt == catalog.NAMESPACES and key[3] in UNDELETABLE_NAMESPACES:
            raise errors.forbidden(rt.plural, rt.group, key[3],
                                   f'namespaces "{key[3]}" is forbidden: this namespace may not be deleted')
        if dry_run:
            return record
        if propagation == "Orphan":
            self._orphan_dependents(record)
        if not self._held(rt, record):
            self.remove(key)
            return record
        if record.deleting_since is not None:
            return record
        now = time.time()
        obj = copy.deepcopy(record.obj)
        obj["metadata"].update(deletionTimestamp=rfc3339(now), deletionGracePeriodSeconds=0,
                               generation=int(record.metadata.get("generation", 1)) + 1,
                               resourceVersion=self.store.next_resource_version())
        marked = replace(record, obj=obj, deleting_since=now)
        self.store.put(key, marked)
        return marked

    def _orphan_dependents(self, owner: Record) -> None:
        uid = owner.metadata.get("uid")
        for key, record in self.store.select():
            references = record.metadata.get("ownerReferences") or []
            kept = [ref for ref in references if ref.get("uid") != uid]
            if len(kept) != len(references):
                obj = copy.deepcopy(record.obj)
                obj["metadata"]["ownerReferences"] = kept
                if not kept:
                    del obj["metadata"]["ownerReferences"]
                obj["metadata"]["resourceVersion"] = self.store.next_resource_version()
                self.store.put(key, replace(record, obj=obj))

    def remove(self, key: Key) -> None:
        """Final removal, with what the namespace and CRD controllers do: drop everything they contain."""
        record = self.store.pop(key)
        if record is None:
            return
        self.store.next_resource_version()
        group, plural, _, name = key
        if (group, plural) == (catalog.NAMESPACES.group, catalog.NAMESPACES.plural):
            contained = [k for k, _ in self.store.select(namespace=name)]
        elif (group, plural) == (catalog.CRDS.group, catalog.CRDS.plural):
            crd_group = record.obj.get("spec", {}).get("group", "")
            crd_plural = record.obj.get("spec", {}).get("names", {}).get("plural", "")
            contained = [k for k, _ in self.store.select(crd_group, crd_plural)]
        else:
            contained = []
        for contained_key in contained:
            self.remove(contained_key)

    # --- bootstrap ----------------------------------------------------------------------------------
    def seed(self) -> None:
        for name in DEFAULT_NAMESPACES:
            self.create(catalog.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                        {}, "")
