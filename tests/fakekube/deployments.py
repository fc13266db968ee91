"""The Deployment and ReplicaSet controllers, as kube-controller-manager runs them (simplified).

Sources: kubernetes pkg/controller/deployment (sync.go, rolling.go, recreate.go, progress.go,
util/deployment_util.go) and pkg/controller/replicaset/replica_set.go. What kubectl's `rollout status`
reads from the result is in staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go.

Every template change makes a new ReplicaSet `<deployment>-<pod-template-hash>`; a RollingUpdate (default
maxSurge and maxUnavailable 25%) scales it up and the old ones down as new pods become available, so a
template whose pods never become ready leaves the old pods serving. ReplicaSets create and delete real Pod
objects. The Deployment's status (counts and the Available / Progressing / ReplicaFailure conditions) is
what syncRolloutStatus would write; it is kept in the record's memory, not stored, so it costs no write.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import catalog
import errors
import fieldmanager
from pods import ready_at
from registry import Registry
from status import World, condition
from store import Key, Record, rfc3339

CONTROLLER_MANAGER = "kube-controller-manager"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
DEFAULT_PROGRESS_DEADLINE = 600  # apps/v1 defaulting of progressDeadlineSeconds
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # rand.SafeEncodeString: no vowels, no look-alike digits


def short_hash(text: str, length: int) -> str:
    number = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(_SAFE_ALPHABET))
        chars.append(_SAFE_ALPHABET[digit])
    return "".join(chars)


def template_hash(template: dict[str, Any]) -> str:
    """The pod-template-hash: a hash of the template without the hash label itself (controller.ComputeHash)."""
    bare = copy.deepcopy(template)
    (bare.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return short_hash(json.dumps(bare, sort_keys=True), 10)


def _controller_uid(record: Record) -> str | None:
    return next((ref.get("uid") for ref in record.metadata.get("ownerReferences") or [] if ref.get("controller")),
                None)


def _owned(registry: Registry, group: str, plural: str, owner: Record) -> list[tuple[Key, Record]]:
    """Live objects whose controller is `owner`, oldest first."""
    uid = owner.metadata["uid"]
    found = [(k, r) for k, r in registry.store.select(group, plural, owner.metadata.get("namespace", ""))
             if _controller_uid(r) == uid and r.deleting_since is None]
    return sorted(found, key=lambda item: (item[1].created_at, item[0][3]))


def _replicas(obj: dict[str, Any]) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1))


@dataclass(frozen=True)
class Counts:
    """A ReplicaSet's status counts at one moment."""
    replicas: int
    ready: int
    available: int


def replica_set_counts(registry: Registry, rs: Record, at: float) -> Counts:
    min_ready = int((rs.obj.get("spec") or {}).get("minReadySeconds", 0))
    pods = [pod for _, pod in _owned(registry, "", "pods", rs)]
    ready = [ready_at(pod, registry.ready_after) for pod in pods]
    return Counts(len(pods), sum(1 for t in ready if t is not None and t <= at),
                  sum(1 for t in ready if t is not None and t + min_ready <= at))


def pending_moments(registry: Registry) -> list[float]:
    """When a pod becomes available or a progress deadline passes: the moments the controllers must run."""
    moments = []
    for _, rs in registry.store.select("apps", "replicasets"):
        min_ready = int((rs.obj.get("spec") or {}).get("minReadySeconds", 0))
        for _, pod in _owned(registry, "", "pods", rs):
            at = ready_at(pod, registry.ready_after)
            if at is not None:
                moments += [at, at + min_ready]
    for _, deployment in registry.store.select("apps", "deployments"):
        deadline = deployment.memory.get("deadline")
        if deadline is not None:
            moments.append(deadline)
    return moments


# --- rollout arithmetic (util/deployment_util.go) ---------------------------------------------------------

def _scaled(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def _rolling(spec: dict[str, Any]) -> bool:
    return bool((spec.get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate")


def fenceposts(spec: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as ResolveFenceposts gives them (25% each by default; never both 0)."""
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    replicas = _replicas({"spec": spec})
    surge = _scaled(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), replicas, False)
    return (surge, 1) if surge == 0 and unavailable == 0 else (surge, unavailable)


def max_unavailable(spec: dict[str, Any]) -> int:
    replicas = _replicas({"spec": spec})
    if not _rolling(spec) or replicas == 0:
        return 0
    return min(fenceposts(spec)[1], replicas)


# --- the controllers --------------------------------------------------------------------------------------

class Controllers:
    """One pass of the Deployment and ReplicaSet controllers at a moment `at` (see reconcile.py)."""

    def __init__(self, registry: Registry, at: float, deadline_scale: float) -> None:
        self.registry = registry
        self.at = at
        self.deadline_scale = deadline_scale
        self.changed = False

    def run(self) -> bool:
        for key, deployment in self.registry.store.select("apps", "deployments"):
            if deployment.deleting_since is None:
                self._sync_deployment(key, deployment)
        for key, rs in self.registry.store.select("apps", "replicasets"):
            if rs.deleting_since is None:
                self._sync_replica_set(key, rs)
        for key, deployment in self.registry.store.select("apps", "deployments"):
            if deployment.deleting_since is None:
                self._sync_status(deployment)
        return self.changed

    # -- writes ----------------------------------------------------------------------------------------
    def _write(self, key: Key, record: Record, obj: dict[str, Any]) -> None:
        rt = catalog.REPLICASETS
        managers = fieldmanager.update(record.obj, obj, record.managers, CONTROLLER_MANAGER, rt.api_version,
                                       rfc3339(self.at))
        _, changed = self.registry.update(rt, key, record, obj, managers)
        self.changed |= changed

    def _scale(self, key: Key, rs: Record, replicas: int, deployment: dict[str, Any]) -> None:
        if _replicas(rs.obj) == replicas:
            return
        obj = copy.deepcopy(rs.obj)
        obj["spec"]["replicas"] = replicas
        surge = fenceposts(deployment.get("spec") or {})[0] if _rolling(deployment.get("spec") or {}) else 0
        obj["metadata"].setdefault("annotations", {}).update({
            DESIRED_REPLICAS: str(_replicas(deployment)), MAX_REPLICAS: str(_replicas(deployment) + surge)})
        self._write(key, rs, obj)

    def _create_replica_set(self, deployment: Record, template_key: str, replicas: int, revision: int) -> None:
        metadata, spec = deployment.metadata, deployment.obj.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = template_key
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = template_key
        surge = fenceposts(spec)[0] if _rolling(spec) else 0
        rs_spec: dict[str, Any] = {"replicas": replicas, "selector": selector, "template": template}
        if spec.get("minReadySeconds"):
            rs_spec["minReadySeconds"] = spec["minReadySeconds"]
        name = f"{metadata['name']}-{template_key}"
        obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": name, "namespace": metadata["namespace"], "labels": dict(template["metadata"]["labels"]),
                "annotations": {DESIRED_REPLICAS: str(_replicas(deployment.obj)),
                                MAX_REPLICAS: str(_replicas(deployment.obj) + surge), REVISION: str(revision)},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": metadata["name"],
                                     "uid": metadata["uid"], "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": rs_spec,
        }
        rt = catalog.REPLICASETS
        managers = fieldmanager.update(None, obj, {}, CONTROLLER_MANAGER, rt.api_version, rfc3339(self.at))
        self.registry.create(rt, obj, managers, metadata["namespace"])
        self.changed = True
        # getNewReplicaSet: "Created new replica set" (a Progressing=True condition, reason NewReplicaSetCreated)
        _set_condition(deployment.memory, condition("Progressing", True, "NewReplicaSetCreated",
                                                    f'Created new replica set "{name}"', None), self.at)

    # -- Deployment ------------------------------------------------------------------------------------
    def _sync_deployment(self, key: Key, deployment: Record) -> None:
        spec = deployment.obj.get("spec") or {}
        if spec.get("paused"):
            return
        template_key = template_hash(spec.get("template") or {})
        owned = _owned(self.registry, "apps", "replicasets", deployment)
        new = next(((k, r) for k, r in owned if (r.metadata.get("labels") or {}).get(HASH_LABEL) == template_key),
                   None)
        old = [(k, r) for k, r in owned if new is None or k != new[0]]
        revisions = [int((r.metadata.get("annotations") or {}).get(REVISION, "0")) for _, r in old]
        if new is None:
            if _rolling(spec):
                initial = self._new_replicas(spec, [r for _, r in old], 0)
            else:  # Recreate makes the new ReplicaSet only once the old pods are gone
                self._recreate(deployment, None, None, old)
                if any(replica_set_counts(self.registry, r, self.at).replicas for _, r in old):
                    return
                initial = _replicas(deployment.obj)
            try:
                self._create_replica_set(deployment, template_key, initial, max(revisions, default=0) + 1)
            except errors.ApiError:
                pass  # a name collision or a terminating namespace: the controller retries later
            return
        new_key, new_rs = new
        if revisions and int((new_rs.metadata.get("annotations") or {}).get(REVISION, "0")) <= max(revisions):
            obj = copy.deepcopy(new_rs.obj)  # a rollback: the old template's ReplicaSet gets the next revision
            obj["metadata"].setdefault("annotations", {})[REVISION] = str(max(revisions) + 1)
            self._write(new_key, new_rs, obj)
            return
        if _rolling(spec):
            self._rolling_update(deployment, new_key, new_rs, old)
        else:
            self._recreate(deployment, new_key, new_rs, old)

    def _new_replicas(self, spec: dict[str, Any], others: list[Record], new_replicas: int) -> int:
        """NewRSNewReplicas for RollingUpdate: grow the new ReplicaSet up to replicas + maxSurge pods in all."""
        replicas = _replicas({"spec": spec})
        current = new_replicas + sum(_replicas(r.obj) for r in others)
        most = replicas + fenceposts(spec)[0]
        if current >= most:
            return new_replicas
        return new_replicas + min(most - current, replicas - new_replicas)

    def _rolling_update(self, deployment: Record, new_key: Key, new_rs: Record,
                        old: list[tuple[Key, Record]]) -> None:
        """rolloutRolling: scale up if we can, else scale down old ReplicaSets if we can."""
        spec = deployment.obj.get("spec") or {}
        replicas, new_replicas = _replicas(deployment.obj), _replicas(new_rs.obj)
        if new_replicas > replicas:
            self._scale(new_key, new_rs, replicas, deployment.obj)
            return
        if new_replicas < replicas:
            wanted = self._new_replicas(spec, [r for _, r in old], new_replicas)
            if wanted != new_replicas:
                self._scale(new_key, new_rs, wanted, deployment.obj)
                return
        self._scale_down_old(deployment, new_rs, old)

    def _scale_down_old(self, deployment: Record, new_rs: Record, old: list[tuple[Key, Record]]) -> None:
        """reconcileOldReplicaSets: first unhealthy old replicas, then as many as availability allows."""
        if not any(_replicas(r.obj) for _, r in old):
            return
        spec = deployment.obj.get("spec") or {}
        all_pods = _replicas(new_rs.obj) + sum(_replicas(r.obj) for _, r in old)
        min_available = _replicas(deployment.obj) - max_unavailable(spec)
        new_counts = replica_set_counts(self.registry, new_rs, self.at)
        room = all_pods - min_available - (_replicas(new_rs.obj) - new_counts.available)
        if room <= 0:
            return
        cleaned = 0
        for key, rs in old:  # cleanupUnhealthyReplicas, oldest first
            counts, wanted = replica_set_counts(self.registry, rs, self.at), _replicas(rs.obj)
            if cleaned >= room or wanted == 0 or wanted == counts.available:
                continue
            down = min(room - cleaned, wanted - counts.available)
            self._scale(key, rs, wanted - down, deployment.obj)
            cleaned += down
        current = {key: self.registry.store.get(key) for key, _ in old}
        available = new_counts.available + sum(replica_set_counts(self.registry, r, self.at).available
                                               for r in current.values() if r is not None)
        budget = available - min_available  # scaleDownOldReplicaSetsForRollingUpdate
        for key, latest in current.items():
            if latest is None or budget <= 0 or _replicas(latest.obj) == 0:
                continue
            down = min(_replicas(latest.obj), budget)
            self._scale(key, latest, _replicas(latest.obj) - down, deployment.obj)
            budget -= down

    def _recreate(self, deployment: Record, new_key: Key | None, new_rs: Record | None,
                  old: list[tuple[Key, Record]]) -> None:
        """rolloutRecreate: old ReplicaSets to zero, and only once their pods are gone the new one up."""
        for key, rs in old:
            self._scale(key, rs, 0, deployment.obj)
        if new_key is not None and new_rs is not None and all(
                replica_set_counts(self.registry, r, self.at).replicas == 0 for _, r in old):
            self._scale(new_key, new_rs, _replicas(deployment.obj), deployment.obj)

    # -- ReplicaSet ------------------------------------------------------------------------------------
    def _sync_replica_set(self, key: Key, rs: Record) -> None:
        """manageReplicas: create or delete pods until the count matches; creation can be refused."""
        pods = _owned(self.registry, "", "pods", rs)
        missing = _replicas(rs.obj) - len(pods)
        for _ in range(max(missing, 0)):
            try:
                self._create_pod(rs)
            except errors.ApiError as refused:
                # The ReplicaFailure condition (reason FailedCreate) carries the admission error.
                rs.memory["failure"] = (refused.message, self.at)
                return
        rs.memory.pop("failure", None)
        if missing < 0:
            # getPodsToDelete: not-ready pods before ready ones, and then the newest first
            def rank(item: tuple[Key, Record]) -> tuple[bool, float]:
                at = ready_at(item[1], self.registry.ready_after)
                return at is not None and at <= self.at, -item[1].created_at
            for pod_key, _ in sorted(pods, key=rank)[:-missing]:
                self.registry.remove(pod_key)
                self.changed = True

    def _create_pod(self, rs: Record) -> None:
        metadata, template = rs.metadata, (rs.obj.get("spec") or {}).get("template") or {}
        template_metadata = template.get("metadata") or {}
        pod: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "generateName": f"{metadata['name']}-", "namespace": metadata["namespace"],
                "labels": dict(template_metadata.get("labels") or {}),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": metadata["name"],
                                     "uid": metadata["uid"], "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        if template_metadata.get("annotations"):
            pod["metadata"]["annotations"] = dict(template_metadata["annotations"])
        managers = fieldmanager.update(None, pod, {}, CONTROLLER_MANAGER, "v1", rfc3339(self.at))
        self.registry.create(catalog.PODS, pod, managers, metadata["namespace"])
        self.changed = True

    # -- Deployment status (sync.go calculateStatus, progress.go syncRolloutStatus) ----------------------
    def _sync_status(self, deployment: Record) -> None:
        spec = deployment.obj.get("spec") or {}
        replicas = _replicas(deployment.obj)
        owned = [r for _, r in _owned(self.registry, "apps", "replicasets", deployment)]
        template_key = template_hash(spec.get("template") or {})
        new = next((r for r in owned if (r.metadata.get("labels") or {}).get(HASH_LABEL) == template_key), None)
        counts = {r.metadata["uid"]: replica_set_counts(self.registry, r, self.at) for r in owned}
        available = sum(c.available for c in counts.values())
        old_status = deployment.memory.get("status") or {}
        memory = deployment.memory
        status = {
            "observedGeneration": deployment.metadata.get("generation", 1),
            "replicas": sum(c.replicas for c in counts.values()),
            "updatedReplicas": counts[new.metadata["uid"]].replicas if new else 0,
            "readyReplicas": sum(c.ready for c in counts.values()),
            "availableReplicas": available,
            "unavailableReplicas": max(sum(_replicas(r.obj) for r in owned) - available, 0),
        }
        if available >= replicas - max_unavailable(spec):
            _set_condition(memory, condition("Available", True, "MinimumReplicasAvailable",
                                             "Deployment has minimum availability.", None), self.at)
        else:
            _set_condition(memory, condition("Available", False, "MinimumReplicasUnavailable",
                                             "Deployment does not have minimum availability.", None), self.at)
        rs_name = new.metadata["name"] if new else ""
        current = _condition(memory, "Progressing")
        complete = (status["updatedReplicas"] == replicas and status["replicas"] == replicas
                    and available == replicas)
        finished = (status["replicas"] == status["updatedReplicas"] and current is not None
                    and current["reason"] == "NewReplicaSetAvailable")
        deadline = int(spec.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE)) * self.deadline_scale
        memory.pop("deadline", None)
        if not finished:
            if complete:
                _set_condition(memory, condition("Progressing", True, "NewReplicaSetAvailable",
                                                 f'ReplicaSet "{rs_name}" has successfully progressed.', None),
                               self.at)
            elif _progressing(old_status, status):
                # Progress moves lastUpdateTime on (keeping lastTransitionTime while it stays True).
                _set_condition(memory, condition("Progressing", True, "ReplicaSetUpdated",
                                                 f'ReplicaSet "{rs_name}" is progressing.', None), self.at,
                               force_update=True)
            elif current is not None and current["reason"] != "ProgressDeadlineExceeded" \
                    and self.at >= memory["updated_at"]["Progressing"] + deadline:
                _set_condition(memory, condition("Progressing", False, "ProgressDeadlineExceeded",
                                                 f'ReplicaSet "{rs_name}" has timed out progressing.', None), self.at)
            progressing = _condition(memory, "Progressing")
            if progressing is not None and progressing["status"] == "True" \
                    and progressing["reason"] != "NewReplicaSetAvailable":
                memory["deadline"] = memory["updated_at"]["Progressing"] + deadline  # DeploymentTimedOut
        failure = next((r.memory["failure"] for r in owned if "failure" in r.memory), None)
        if failure is not None:
            _set_condition(memory, condition("ReplicaFailure", True, "FailedCreate", failure[0], None), failure[1])
        else:
            _remove_condition(memory, "ReplicaFailure")
        memory["status"] = status


def _condition(memory: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in memory.get("conditions", []) if c["type"] == kind), None)


def _remove_condition(memory: dict[str, Any], kind: str) -> None:
    memory["conditions"] = [c for c in memory.get("conditions", []) if c["type"] != kind]


def _set_condition(memory: dict[str, Any], new: dict[str, Any], at: float, force_update: bool = False) -> None:
    """SetDeploymentCondition: unchanged status and reason keep the condition as it is; an unchanged status
    keeps lastTransitionTime; a changed condition moves to the end of the list."""
    current = _condition(memory, new["type"])
    if current is not None and current["status"] == new["status"] and current["reason"] == new["reason"] \
            and not force_update:
        return
    stamp = rfc3339(at)
    new = {**new, "lastUpdateTime": stamp, "lastTransitionTime": stamp}
    if current is not None and current["status"] == new["status"]:
        new["lastTransitionTime"] = current["lastTransitionTime"]
    _remove_condition(memory, new["type"])
    memory["conditions"].append(new)
    memory.setdefault("updated_at", {})[new["type"]] = at


def _progressing(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """util.DeploymentProgressing: more updated, ready or available replicas, or fewer old ones."""
    def get(status: dict[str, Any], field: str) -> int:
        return int(status.get(field, 0))
    return (get(new, "updatedReplicas") > get(old, "updatedReplicas")
            or get(new, "replicas") - get(new, "updatedReplicas") < get(old, "replicas") - get(old, "updatedReplicas")
            or get(new, "readyReplicas") > get(old, "readyReplicas")
            or get(new, "availableReplicas") > get(old, "availableReplicas"))


def _without_zeros(status: dict[str, Any]) -> dict[str, Any]:
    """Go's omitempty drops zero counts."""
    return {k: v for k, v in status.items() if v not in (0, None, [], {})}


def _render_condition(c: dict[str, Any]) -> dict[str, Any]:
    order = ("type", "status", "lastUpdateTime", "lastTransitionTime", "reason", "message")
    return {k: c[k] for k in order if c.get(k)}


def deployment_status(record: Record, world: World) -> dict[str, Any]:
    status = _without_zeros(dict(record.memory.get("status") or {}))
    if record.memory.get("conditions"):
        status["conditions"] = [_render_condition(c) for c in record.memory["conditions"]]
    return status


def replica_set_status(record: Record, world: World) -> dict[str, Any]:
    counts = replica_set_counts(world.registry, record, world.now)
    status = _without_zeros({"replicas": counts.replicas, "fullyLabeledReplicas": counts.replicas,
                             "readyReplicas": counts.ready, "availableReplicas": counts.available,
                             "observedGeneration": record.metadata.get("generation", 1)})
    status["replicas"] = counts.replicas  # required, so present even when 0
    if "failure" in record.memory:
        message, at = record.memory["failure"]
        status["conditions"] = [condition("ReplicaFailure", True, "FailedCreate", message, rfc3339(at))]
    return status


def available(record: Record) -> bool:
    """Whether the Deployment reports Available=True (what the KEDA operator's presence is judged by)."""
    return any(c["type"] == "Available" and c["status"] == "True" for c in record.memory.get("conditions", []))
