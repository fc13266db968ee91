"""Status as the simulated controllers would have written it, computed when an object is read.

An object's controllers "catch up" --ready-after seconds after its creation or last spec change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

import labelselectors
from failures import injected_failure
from registry import Registry
from store import Record, rfc3339

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


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


def short_hash(text: str, length: int) -> str:
    """Kubernetes-style random-looking suffix (the alphabet avoids vowels and look-alike digits)."""
    number = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(_SAFE_ALPHABET))
        chars.append(_SAFE_ALPHABET[digit])
    return "".join(chars)


def replica_set_name(deployment: dict[str, Any]) -> str:
    """`<deployment>-<pod-template-hash>`, stable while the pod template does not change."""
    template = json.dumps(deployment.get("spec", {}).get("template", {}), sort_keys=True)
    return f"{deployment['metadata']['name']}-{short_hash(template, 10)}"


def deployment_available(record: Record, world: World) -> bool:
    return world.ready(record) and _template_failure(record.obj) is None


def deployment_status(record: Record, world: World) -> dict[str, Any]:
    obj = record.obj
    replicas = int(obj.get("spec", {}).get("replicas", 1))
    changed, caught_up = rfc3339(record.changed_at), world.ready_time(record)
    status: dict[str, Any] = {"observedGeneration": obj["metadata"].get("generation", 1), "replicas": replicas,
                              "updatedReplicas": replicas}
    name = replica_set_name(obj)
    if deployment_available(record, world):
        status.update(readyReplicas=replicas, availableReplicas=replicas)
        status["conditions"] = [
            condition("Available", True, "MinimumReplicasAvailable", "Deployment has minimum availability.",
                      caught_up),
            condition("Progressing", True, "NewReplicaSetAvailable",
                      f'ReplicaSet "{name}" has successfully progressed.', caught_up),
        ]
    else:
        if replicas:
            status["unavailableReplicas"] = replicas
        status["conditions"] = [
            condition("Available", False, "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.", changed),
            condition("Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.', changed),
        ]
    return status


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
    selector = service.obj.get("spec", {}).get("selector") or {}
    requirements = labelselectors.from_label_selector({"matchLabels": selector})
    namespace = service.metadata["namespace"]
    return bool(selector) and any(
        labelselectors.matches(requirements, d.obj.get("spec", {}).get("template", {}).get("metadata", {})
                               .get("labels")) and deployment_available(d, world)
        for _, d in world.registry.store.select("apps", "deployments", namespace))


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
        conditions.append(condition("Terminating", True, "InstanceDeletionInProgress",
                                    "CustomResource deletion is in progress", rfc3339(record.deleting_since)))
    stored = [v["name"] for v in spec.get("versions", []) if v.get("storage")]
    return {"acceptedNames": accepted, "conditions": conditions, "storedVersions": stored}


def namespace_status(record: Record, world: World) -> dict[str, Any]:
    return {"phase": "Terminating" if record.deleting_since is not None else "Active"}


StatusFunction = Callable[[Record, World], dict[str, Any]]

BUILTIN_STATUS: dict[tuple[str, str], StatusFunction] = {
    ("apps", "Deployment"): deployment_status,
    ("batch", "Job"): job_status,
    ("apiregistration.k8s.io", "APIService"): apiservice_status,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): crd_status,
    ("", "Namespace"): namespace_status,
}
