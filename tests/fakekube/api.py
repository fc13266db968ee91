"""The Kubernetes API: discovery and the REST verbs (get, list, create, update, patch, apply, delete)."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import cloudcontrollers
import deployments
import discovery
import errors
import fieldmanager
import keda
import labelselectors
import reviews
import storage
from catalog import ResourceType
from fieldpaths import dotted
from manifests import ManifestError, load_object
from patching import PatchError, json_patch, merge_patch
from pods import stored_pod_status
from reconcile import reconcile
from registry import Registry
from reviews import ADMIN, AccessPolicy, UserInfo
from routing import ResourcePath, Route
from status import BUILTIN_STATUS, StatusFunction, World
from store import Key, Record, Store, rfc3339

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
BODY_TYPES = ("application/json", "application/yaml", "")
RETURNS_DELETED_OBJECT = {("", "pods"), ("", "services")}
STATUS_FUNCTIONS: dict[tuple[str, str], StatusFunction] = {
    **BUILTIN_STATUS,
    ("", "Pod"): stored_pod_status,
    ("apps", "Deployment"): deployments.deployment_status,
    ("apps", "ReplicaSet"): deployments.replica_set_status,
    ("", "Service"): cloudcontrollers.service_status,
    ("networking.k8s.io", "Ingress"): cloudcontrollers.ingress_status,
    ("", "PersistentVolume"): storage.volume_status,
    ("", "PersistentVolumeClaim"): storage.claim_status,
    (keda.GROUP, keda.KIND): keda.scaledobject_status,
}


@dataclass
class Request:
    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    user: UserInfo = ADMIN  # who the authenticator (eksauth.py) says sent it

    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("true", "1")

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"


@dataclass
class Response:
    code: int
    body: Any
    content_type: str = "application/json"


def _manager(request: Request) -> str:
    """`fieldManager`, or like kube-apiserver the user agent's first word."""
    return request.query.get("fieldManager") or request.headers.get("user-agent", "").split("/")[0] or "unknown"


def _body(request: Request) -> dict[str, Any]:
    try:
        return load_object(request.body)
    except (ManifestError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"the request body could not be decoded: {exc}") from exc


def _check_identity(rt: ResourceType, obj: dict[str, Any], path: ResourcePath, required: bool) -> None:
    """The body must describe the object the URL names (apiVersion, kind, name, namespace)."""
    for field, expected in (("apiVersion", rt.api_version), ("kind", rt.kind)):
        value = obj.get(field)
        if value is None and required:
            raise errors.bad_request(f"{field} must be set")
        if value is not None and value != expected:
            raise errors.bad_request(f"the {field} in the data ({value}) does not match the expected {field} "
                                     f"({expected})")
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        if metadata is None and not required:
            return
        raise errors.bad_request("metadata must be an object")
    if path.name is not None and metadata.get("name", path.name) != path.name:
        raise errors.bad_request(f"the name of the object ({metadata.get('name')}) does not match the name on "
                                 f"the URL ({path.name})")
    if path.namespace is not None and metadata.get("namespace", path.namespace) != path.namespace:
        raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                 "request")


def _check_resource_version(rt: ResourceType, obj: dict[str, Any], existing: Record) -> None:
    wanted = (obj.get("metadata") or {}).get("resourceVersion")
    if wanted and wanted != existing.metadata.get("resourceVersion"):
        raise errors.modified_conflict(rt.plural, rt.group, existing.metadata["name"])


class KubeApi:
    def __init__(self, registry: Registry, kubernetes_version: str, access: AccessPolicy) -> None:
        self.registry = registry
        self.kubernetes_version = kubernetes_version
        self.access = access

    @property
    def store(self) -> Store:
        return self.registry.store

    # --- entry point --------------------------------------------------------------------------------
    def handle(self, request: Request, route: Route) -> Response:
        now = time.time()
        reconcile(self.registry, now)
        if route.resource is not None:
            response = self._resource(request, route.resource, World(self.registry, now))
            if request.method != "GET":
                reconcile(self.registry, time.time())  # controllers react to the write before the next request
            return response
        if request.method != "GET":
            raise errors.method_not_allowed(f"{request.method} is not supported on {route.template}")
        types = self.registry.discoverable_types(now)
        aggregated = discovery.wants_aggregated(request.headers.get("accept", ""))
        match route.kind:
            case "version":
                return Response(200, self._version())
            case "health":
                return Response(200, "ok", "text/plain")
            case "core-versions" | "groups" if aggregated:
                return Response(200, discovery.aggregated(types, core=route.kind == "core-versions"),
                                discovery.AGGREGATED_CONTENT_TYPE)
            case "core-versions":
                return Response(200, discovery.api_versions())
            case "groups":
                return Response(200, discovery.group_list(types))
            case "group":
                return self._found(discovery.api_group(route.group, types))
            case "resources":
                return self._found(discovery.resource_list(route.group, route.version, types))
        raise AssertionError(f"unrouted {route.kind}")

    def _version(self) -> dict[str, Any]:
        """version.Info; typed clients (k8s-openapi) require every one of these fields."""
        major, minor = self.kubernetes_version.removeprefix("v").split(".")[:2]
        return {"major": major, "minor": minor, "gitVersion": f"v{major}.{minor}.0-eks-fake",
                "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc",
                "platform": "linux/amd64"}

    @staticmethod
    def _found(document: dict[str, Any] | None) -> Response:
        if document is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        return Response(200, document)

    # --- resources ----------------------------------------------------------------------------------
    def _resource(self, request: Request, path: ResourcePath, world: World) -> Response:
        rt = self.registry.find_type(path.group, path.version, path.plural)
        misplaced = rt is not None and (
            (path.namespace is not None and not rt.namespaced)  # cluster-scoped kinds have no namespace
            or (rt.namespaced and path.namespace is None and path.name is not None))  # only lists span namespaces
        if rt is None or misplaced:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        if request.flag("watch"):
            raise errors.method_not_allowed("watch is not supported by fakekube")
        if not rt.stored:
            if request.method != "POST" or path.name is not None or path.subresource is not None:
                raise errors.method_not_allowed("the server does not allow this method on the requested resource")
            return self._review(request, rt, world)
        namespace = path.namespace or ""
        if path.subresource is not None:
            if path.subresource not in rt.subresources or path.name is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            if request.method != "GET":
                raise errors.method_not_allowed(f"fakekube serves {path.subresource} read-only")
            return Response(200, self._subresource(rt, namespace, path.name, path.subresource, world))
        if path.name is None:
            return self._collection(request, rt, path, world)
        handlers: dict[str, Callable[[Request, ResourceType, ResourcePath, World], Response]] = {
            "GET": self._get, "PUT": self._update, "PATCH": self._patch, "DELETE": self._delete}
        if request.method not in handlers:
            raise errors.method_not_allowed(f"{request.method} is not supported on a single object")
        return handlers[request.method](request, rt, path, world)

    def _review(self, request: Request, rt: ResourceType, world: World) -> Response:
        self._require_body_type(request)
        body = _body(request)
        _check_identity(rt, body, ResourcePath(rt.group, rt.version, rt.plural, None, None, None), required=False)
        if rt.kind == "SelfSubjectAccessReview":
            return Response(201, reviews.access_review(body, self.access, world.now))
        return Response(201, reviews.self_review(request.user))

    def _collection(self, request: Request, rt: ResourceType, path: ResourcePath, world: World) -> Response:
        all_namespaces = rt.namespaced and path.namespace is None
        if request.method == "GET":
            return Response(200, self._list(request, rt, path.namespace, world))
        if request.method == "POST" and not all_namespaces:
            return self._create(request, rt, path, world)
        if request.method == "DELETE" and not all_namespaces:
            return Response(200, self._delete_collection(request, rt, path.namespace, world))
        raise errors.method_not_allowed(f"{request.method} is not supported on {rt.plural} here")

    def render(self, rt: ResourceType, record: Record, world: World) -> dict[str, Any]:
        obj = copy.deepcopy(record.obj)
        obj["apiVersion"] = rt.api_version
        managed = fieldmanager.managed_fields(record.managers)
        if managed:
            obj["metadata"]["managedFields"] = managed
        status = STATUS_FUNCTIONS.get((rt.group, rt.kind))
        if status is not None:
            obj["status"] = status(record, world)
        return obj

    def _key(self, rt: ResourceType, path: ResourcePath) -> Key:
        return self.registry.key(rt, path.namespace or "", path.name or "")

    def _existing(self, rt: ResourceType, key: Key) -> Record:
        record = self.store.get(key)
        if record is None:
            raise errors.not_found(rt.plural, rt.group, key[3])
        return record

    @staticmethod
    def _metadata_only(request: Request, obj: dict[str, Any]) -> dict[str, Any]:
        if "as=PartialObjectMetadata" not in request.headers.get("accept", ""):
            return obj
        return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}

    # --- reads --------------------------------------------------------------------------------------
    def _get(self, request: Request, rt: ResourceType, path: ResourcePath, world: World) -> Response:
        record = self._existing(rt, self._key(rt, path))
        return Response(200, self._metadata_only(request, self.render(rt, record, world)))

    def _list(self, request: Request, rt: ResourceType, namespace: str | None, world: World) -> dict[str, Any]:
        try:
            labels = labelselectors.parse_label_selector(request.query.get("labelSelector", ""))
            fields = labelselectors.parse_field_selector(request.query.get("fieldSelector", ""))
        except labelselectors.SelectorError as exc:
            raise errors.bad_request(str(exc)) from exc
        items = [self.render(rt, record, world) for _, record in self.store.select(rt.group, rt.plural, namespace)]
        items = [item for item in items if labelselectors.matches(labels, item["metadata"].get("labels"))
                 and labelselectors.field_matches(fields, item["metadata"])]
        list_metadata = {"resourceVersion": str(self.store.resource_version)}
        if "as=PartialObjectMetadataList" in request.headers.get("accept", ""):
            return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_metadata,
                    "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": item["metadata"]} for item in items]}
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": list_metadata, "items": items}

    def _subresource(self, rt: ResourceType, namespace: str, name: str, subresource: str,
                     world: World) -> dict[str, Any]:
        record = self._existing(rt, self.registry.key(rt, namespace, name))
        obj = self.render(rt, record, world)
        if subresource == "status":
            return obj
        spec, status = obj.get("spec", {}), obj.get("status", {})
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                         "creationTimestamp") if k in obj["metadata"]},
            "spec": {"replicas": spec.get("replicas", 1)},
            "status": {"replicas": status.get("replicas", 0),
                       "selector": labelselectors.to_string(
                           labelselectors.from_label_selector(spec.get("selector") or {}))},
        }

    # --- writes -------------------------------------------------------------------------------------
    def _require_body_type(self, request: Request) -> None:
        if request.media_type() not in BODY_TYPES:
            raise errors.unsupported_media_type(request.media_type(), ["application/json", "application/yaml"])

    def _create(self, request: Request, rt: ResourceType, path: ResourcePath, world: World) -> Response:
        self._require_body_type(request)
        obj = _body(request)
        _check_identity(rt, obj, path, required=False)
        managers = fieldmanager.update(None, obj, {}, _manager(request), rt.api_version, rfc3339(world.now))
        record = self.registry.create(rt, obj, managers, path.namespace or "", request.dry_run)
        return Response(201, self.render(rt, record, world))

    def _write(self, request: Request, rt: ResourceType, key: Key, existing: Record, new_obj: dict[str, Any],
               world: World) -> Response:
        """Store a non-apply change to an existing object."""
        _check_resource_version(rt, new_obj, existing)
        managers = fieldmanager.update(existing.obj, new_obj, existing.managers, _manager(request),
                                       rt.api_version, rfc3339(world.now))
        record, _ = self.registry.update(rt, key, existing, new_obj, managers, request.dry_run)
        return Response(200, self.render(rt, record, world))

    def _update(self, request: Request, rt: ResourceType, path: ResourcePath, world: World) -> Response:
        self._require_body_type(request)
        obj = _body(request)
        _check_identity(rt, obj, path, required=False)
        key = self._key(rt, path)
        return self._write(request, rt, key, self._existing(rt, key), obj, world)

    def _patch(self, request: Request, rt: ResourceType, path: ResourcePath, world: World) -> Response:
        media_type = request.media_type()
        if media_type not in PATCH_TYPES:
            raise errors.unsupported_media_type(media_type, PATCH_TYPES)
        key = self._key(rt, path)
        if media_type == APPLY_PATCH:
            return self._apply(request, rt, path, key, world)
        existing = self._existing(rt, key)
        try:
            patch = json.loads(request.body or b"null")
            patched = (merge_patch(existing.obj, patch) if media_type == MERGE_PATCH
                       else json_patch(existing.obj, patch))
        except (json.JSONDecodeError, PatchError) as exc:
            raise errors.bad_request(f"the patch could not be applied: {exc}") from exc
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch must leave an object")
        _check_identity(rt, patched, path, required=False)
        return self._write(request, rt, key, existing, patched, world)

    def _apply(self, request: Request, rt: ResourceType, path: ResourcePath, key: Key, world: World) -> Response:
        manager = request.query.get("fieldManager")
        if not manager:
            raise errors.bad_request("fieldManager is required for apply requests")
        config = _body(request)
        _check_identity(rt, config, path, required=True)
        if config["metadata"].get("managedFields") is not None:
            raise errors.bad_request("metadata.managedFields must be nil")
        config["metadata"].setdefault("name", path.name)
        existing = self.store.get(key)
        now = rfc3339(world.now)
        if existing is None:
            merged, managers = fieldmanager.apply(None, {}, config, manager, request.flag("force"), now)
            record = self.registry.create(rt, merged, managers, path.namespace or "", request.dry_run)
            return Response(201, self.render(rt, record, world))
        _check_resource_version(rt, config, existing)
        try:
            merged, managers = fieldmanager.apply(existing.obj, existing.managers, config, manager,
                                                  request.flag("force"), now)
        except fieldmanager.ApplyConflict as conflict:
            causes = [{"reason": "FieldManagerConflict", "message": f'conflict with "{entry.manager}"',
                       "field": dotted(field)} for field, entry in conflict.conflicts]
            raise errors.ApiError(409, "Conflict", conflict.message(), {
                "name": path.name, "group": rt.group, "kind": rt.plural, "causes": causes}) from None
        record, _ = self.registry.update(rt, key, existing, merged, managers, request.dry_run)
        return Response(200, self.render(rt, record, world))

    # --- deletes ------------------------------------------------------------------------------------
    @staticmethod
    def _delete_options(request: Request) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if request.body.strip():
            options = _body(request)
        if "propagationPolicy" in request.query:
            options["propagationPolicy"] = request.query["propagationPolicy"]
        policy = options.get("propagationPolicy", "Background")
        if policy not in ("Background", "Foreground", "Orphan"):
            raise errors.bad_request(f'propagationPolicy "{policy}" is not supported: must be Background, '
                                     "Foreground or Orphan")
        return options

    def _delete_record(self, request: Request, rt: ResourceType, key: Key, existing: Record,
                       world: World) -> tuple[dict[str, Any], bool]:
        """Returns the object as the response shows it, and whether it is gone already."""
        options = self._delete_options(request)
        for field in ("uid", "resourceVersion"):
            wanted = (options.get("preconditions") or {}).get(field)
            if wanted and wanted != existing.metadata.get(field):
                raise errors.ApiError(409, "Conflict", f"Precondition failed: {field} in precondition: {wanted}, "
                                                       f"{field} in object meta: {existing.metadata.get(field)}")
        record = self.registry.delete(rt, key, existing, options.get("propagationPolicy", "Background"),
                                      request.dry_run)
        gone = self.store.get(key) is None
        return self.render(rt, record, world), gone

    def _delete(self, request: Request, rt: ResourceType, path: ResourcePath, world: World) -> Response:
        key = self._key(rt, path)
        obj, gone = self._delete_record(request, rt, key, self._existing(rt, key), world)
        if gone and (rt.group, rt.plural) not in RETURNS_DELETED_OBJECT:
            return Response(200, errors.success_status({"name": path.name, "group": rt.group, "kind": rt.plural,
                                                        "uid": obj["metadata"].get("uid")}))
        return Response(200, obj)

    def _delete_collection(self, request: Request, rt: ResourceType, namespace: str | None,
                           world: World) -> dict[str, Any]:
        listed = self._list(request, rt, namespace, world)
        deleted = []
        for item in listed["items"]:
            key = self.registry.key(rt, item["metadata"].get("namespace", ""), item["metadata"]["name"])
            existing = self.store.get(key)
            if existing is not None:
                deleted.append(self._delete_record(request, rt, key, existing, world)[0])
        return {**listed, "metadata": {"resourceVersion": str(self.store.resource_version)}, "items": deleted}

    def stored_objects(self) -> list[dict[str, Any]]:
        """Everything in the store as kept (managedFields included, computed status not)."""
        objects = []
        for _, record in self.store.select():
            obj = copy.deepcopy(record.obj)
            managed = fieldmanager.managed_fields(record.managers)
            if managed:
                obj["metadata"]["managedFields"] = managed
            objects.append(obj)
        return objects
