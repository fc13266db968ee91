"""Pod status as a kubelet would report it, computed on read from the pod's age and failure annotation.

Pods are real stored objects, created by the ReplicaSet controller (deployments.py) or by a client.
"""

from __future__ import annotations

from typing import Any

from failures import injected_failure
from status import World, condition
from store import Record, rfc3339

UNSCHEDULABLE_MESSAGE = "0/0 nodes are available: no nodes registered"


def ready_at(pod: Record, ready_after: float) -> float | None:
    """When the kubelet reports the pod Ready (None: never, because of an injected failure)."""
    if pod.deleting_since is not None or injected_failure(pod.metadata) is not None:
        return None
    return pod.changed_at + ready_after


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
