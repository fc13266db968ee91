"""Pods: the ones a Deployment's ReplicaSet would run (synthesized on read, read-only) and pod status."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from failures import injected_failure
from status import World, condition, replica_set_name, short_hash
from store import Record, rfc3339

UNSCHEDULABLE_MESSAGE = "0/0 nodes are available: no nodes registered"


def _container_state(container: dict[str, Any], pod: dict[str, Any], failure: str | None, ready: bool,
                     started: str) -> dict[str, Any]:
    image, name = container.get("image", ""), container.get("name", "")
    state: dict[str, Any] = {"name": name, "image": image, "imageID": "", "ready": False, "started": False,
                             "restartCount": 0}
    if failure == "ImagePullBackOff" and ready:
        state["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                      "message": f'Back-off pulling image "{image}"'}}
    elif failure == "CrashLoopBackOff" and ready:
        metadata = pod["metadata"]
        state.update(restartCount=1, lastState={"terminated": {"exitCode": 1, "reason": "Error",
                                                               "startedAt": started, "finishedAt": started}})
        state["state"] = {"waiting": {
            "reason": "CrashLoopBackOff",
            "message": f"back-off 10s restarting failed container={name} "
                       f"pod={metadata['name']}_{metadata.get('namespace', '')}({metadata.get('uid', '')})"}}
    elif ready and failure is None:
        state.update(ready=True, started=True, state={"running": {"startedAt": started}})
    else:
        state["state"] = {"waiting": {"reason": "ContainerCreating"}}
    return state


def pod_status(pod: dict[str, Any], ready: bool, created: str, started: str) -> dict[str, Any]:
    """Status of a pod whose kubelet has (ready=True) or has not yet caught up."""
    failure = injected_failure(pod.get("metadata"))
    if failure == "Unschedulable":
        return {"phase": "Pending", "conditions": [
            condition("PodScheduled", False, "Unschedulable", UNSCHEDULABLE_MESSAGE, created)]}
    running = ready and failure is None
    containers = [_container_state(c, pod, failure, ready, started)
                  for c in pod.get("spec", {}).get("containers", [])]
    at = started if ready else created
    return {
        "phase": "Running" if running or (ready and failure == "CrashLoopBackOff") else "Pending",
        "conditions": [
            condition("PodScheduled", True, "", "", created),
            condition("Initialized", True, "", "", created),
            condition("ContainersReady", running, "" if running else "ContainersNotReady", "", at),
            condition("Ready", running, "" if running else "ContainersNotReady", "", at),
        ],
        "startTime": created,
        "containerStatuses": containers,
    }


def stored_pod_status(record: Record, world: World) -> dict[str, Any]:
    return pod_status(record.obj, world.ready(record), rfc3339(record.changed_at), world.ready_time(record))


def _deployment_pods(record: Record, world: World) -> list[dict[str, Any]]:
    deployment = record.obj
    metadata = deployment["metadata"]
    template = deployment.get("spec", {}).get("template", {})
    replica_set = replica_set_name(deployment)
    template_hash = replica_set.rsplit("-", 1)[1]
    replica_set_uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{metadata['uid']}/{replica_set}"))
    created, started = rfc3339(record.changed_at), world.ready_time(record)
    pods = []
    for index in range(int(deployment.get("spec", {}).get("replicas", 1))):
        name = f"{replica_set}-{short_hash(f'{replica_set_uid}/{index}', 5)}"
        template_metadata = template.get("metadata", {})
        pod: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "generateName": f"{replica_set}-",
                "namespace": metadata["namespace"],
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{replica_set_uid}/{name}")),
                "resourceVersion": metadata["resourceVersion"],
                "creationTimestamp": created,
                "labels": {**template_metadata.get("labels", {}), "pod-template-hash": template_hash},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set,
                                     "uid": replica_set_uid, "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": copy.deepcopy(template.get("spec", {})),
        }
        if template_metadata.get("annotations"):
            pod["metadata"]["annotations"] = dict(template_metadata["annotations"])
        pod["status"] = pod_status(pod, world.ready(record), created, started)
        pods.append(pod)
    return pods


def synthesized_pods(world: World, namespace: str | None) -> list[dict[str, Any]]:
    """The pods every Deployment in `namespace` (or everywhere) is running."""
    return [pod for _, record in world.registry.store.select("apps", "deployments", namespace)
            for pod in _deployment_pods(record, world)]
