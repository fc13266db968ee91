"""Status as the simulated controllers would have written it, computed when an object is read.

An object's controllers "catch up" --ready-after seconds after its creation or last spec change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import labelselectors
from failures import injected_failure
from registry import Registry
from store import Record, rfc3339

@dataclass(frozen=True)
class World:
    registry: Registry
    now: float

    def ready(self, record: Record) -> bool:
        return self.registry.ready(record, self.now)

    def ready_time(self, record: Record) -> str:
        return rfc3339(record.changed_at + self.registry.ready_after)


def condition(kind: str, status: bool, reason: str, message: str, at: str | None) -> dict[str, Any]:
    """A status condition; empty fields are left out, as Go's omitempty does."""
    out = {"type": kind, "status": "True" if status else "False"}
    if at:
        out["lastTransitionTime"] = at
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def _template_failure(obj: dict[str, Any]) -> str | None:
    return injected_failure(obj.get("spec", {}).get("template", {}).get("metadata"))


def job_status(record: Record, world: World) -> dict[str, Any]:
    spec = record.obj.get("spec", {})
    started = rfc3339(record.changed_at)
    if not world.ready(record) or _template_failure(record.obj) is not None:
        return {"startTime": started, "active": int(spec.get("parallelism", 1)), "ready": 0}
    done = world.ready_time(record)
    message = "Reached expected number of succeeded pods"
    return {
        "startTime": started,
        "completionTime": done,
        "succeeded": int(spec.get("completions", 1)),
        "conditions": [condition("SuccessCriteriaMet", True, "CompletionsReached", message, done),
                       condition("Complete", True, "CompletionsReached", message, done)],
    }


def _service_backends_available(service: Record, world: World) -> bool:
    """Whether the Service has endpoints: a Ready pod its selector picks (the EndpointSlice controller)."""
    selector = service.obj.get("spec", {}).get("selector") or {}
    requirements = labelselectors.from_label_selector({"matchLabels": selector})
    namespace = service.metadata["namespace"]
    return bool(selector) and any(
        labelselectors.matches(requirements, pod.metadata.get("labels")) and pod.deleting_since is None
        and injected_failure(pod.metadata) is None and world.ready(pod)
        for _, pod in world.registry.store.select("", "pods", namespace))


def apiservice_status(record: Record, world: World) -> dict[str, Any]:
    reference = record.obj.get("spec", {}).get("service")
    at = world.ready_time(record)
    if not reference:
        return {"conditions": [condition("Available", True, "Local", "Local APIServices are always available",
                                         rfc3339(record.changed_at))]}
    namespace, name = reference.get("namespace", ""), reference.get("name", "")
    service = world.registry.store.get(("", "services", namespace, name))
    if service is None:
        available = condition("Available", False, "ServiceNotFound",
                              f'service/{name} in "{namespace}" is not present', at)
    elif not _service_backends_available(service, world):
        available = condition("Available", False, "MissingEndpoints",
                              f'endpoints for service/{name} in "{namespace}" have no addresses with port name '
                              '"https"', at)
    elif not world.ready(record):
        available = condition("Available", False, "FailedDiscoveryCheck",
                              f"failing or missing response from https://{name}.{namespace}.svc:443", at)
    else:
        available = condition("Available", True, "Passed", "all checks passed", at)
    return {"conditions": [available]}


def crd_status(record: Record, world: World) -> dict[str, Any]:
    spec = record.obj.get("spec", {})
    accepted = dict(spec.get("names", {}))
    accepted.setdefault("singular", accepted.get("kind", "").lower())
    accepted.setdefault("listKind", accepted.get("kind", "") + "List")
    created = rfc3339(record.changed_at)
    conditions = [condition("NamesAccepted", True, "NoConflicts", "no conflicts found", created)]
    if world.registry.established(record, world.now):
        conditions.append(condition("Established", True, "InitialNamesAccepted", "the initial names have been "
                                    "accepted", rfc3339(record.created_at + world.registry.ready_after)))
    else:
        conditions.append(condition("Established", False, "Installing", "the initial names have been accepted",
                                    created))
    if record.deleting_since is not None:
        conditions.append(_crd_terminating(record, world))
    stored = [v["name"] for v in spec.get("versions", []) if v.get("storage")]
    return {"acceptedNames": accepted, "conditions": conditions, "storedVersions": stored}


def _crd_terminating(record: Record, world: World) -> dict[str, Any]:
    """The CRD finalizer's condition (apiextensions-apiserver pkg/controller/finalizer/crd_finalizer.go): it
    deletes every instance, then polls until none is left; instances held by finalizers keep it waiting."""
    since = rfc3339(record.deleting_since or world.now)
    if world.now - (record.deleting_since or world.now) < world.registry.ready_after:
        return condition("Terminating", True, "InstanceDeletionInProgress", "CustomResource deletion is in progress",
                         since)
    return condition("Terminating", True, "InstanceDeletionCheck",
                     "could not confirm zero CustomResources remaining: context deadline exceeded", since)


def namespace_status(record: Record, world: World) -> dict[str, Any]:
    if record.deleting_since is None:
        return {"phase": "Active"}
    return {"phase": "Terminating", "conditions": namespace_deletion_conditions(record, world)}


def namespace_deletion_conditions(record: Record, world: World) -> list[dict[str, Any]]:
    """What the namespace controller reports while it empties a namespace (pkg/controller/namespace/deletion/
    namespaced_resources_deleter.go): counts of what remains, and the finalizers holding it."""
    at = rfc3339(record.deleting_since or world.now)
    resources: dict[str, int] = {}
    finalizers: dict[str, int] = {}
    for key, content in world.registry.store.select(namespace=record.metadata["name"]):
        name = f"{key[1]}.{key[0]}"  # "%s.%s" of resource and group: core resources read "pods."
        resources[name] = resources.get(name, 0) + 1
        for finalizer in content.metadata.get("finalizers") or []:
            finalizers[finalizer] = finalizers.get(finalizer, 0) + 1
    remaining = sorted(f"{name} has {count} resource instances" for name, count in resources.items())
    held = sorted(f"{name} in {count} resource instances" for name, count in finalizers.items())
    return [
        condition("NamespaceDeletionDiscoveryFailure", False, "ResourcesDiscovered",
                  "All resources successfully discovered", at),
        condition("NamespaceDeletionGroupVersionParsingFailure", False, "ParsedGroupVersions",
                  "All legacy kube types successfully parsed", at),
        condition("NamespaceDeletionContentFailure", False, "ContentDeleted",
                  "All content successfully deleted, may be waiting on finalization", at),
        condition("NamespaceContentRemaining", True, "SomeResourcesRemain",
                  "Some resources are remaining: " + ", ".join(remaining), at) if remaining else
        condition("NamespaceContentRemaining", False, "ContentRemoved", "All content successfully removed", at),
        condition("NamespaceFinalizersRemaining", True, "SomeFinalizersRemain",
                  "Some content in the namespace has finalizers remaining: " + ", ".join(held), at) if held else
        condition("NamespaceFinalizersRemaining", False, "ContentHasNoFinalizers",
                  "All content-preserving finalizers finished", at),
    ]


StatusFunction = Callable[[Record, World], dict[str, Any]]

BUILTIN_STATUS: dict[tuple[str, str], StatusFunction] = {
    ("batch", "Job"): job_status,
    ("apiregistration.k8s.io", "APIService"): apiservice_status,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): crd_status,
    ("", "Namespace"): namespace_status,
}
