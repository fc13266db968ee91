"""Deployments roll out through ReplicaSets and real pods, read the way `kubectl rollout status` reads them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness import READY_AFTER, start_server
from kubeclient import MERGE, Kube, condition, is_true
from test_fakekube import DEPLOYMENTS, PODS, available, deployment

REPLICASETS = "/apis/apps/v1/namespaces/default/replicasets"
FAIL = {"fakekube.eksscale.io/fail": "CrashLoopBackOff"}


class DeadlineExceeded(Exception):
    pass


def rollout_status(obj: dict[str, Any]) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer.Status (staging/src/k8s.io/kubectl/pkg/polymorphichelpers/
    rollout_status.go), without the pod warnings: (message, done), raising once the deadline is exceeded."""
    name, status, want = obj["metadata"]["name"], obj.get("status", {}), obj["spec"].get("replicas", 1)
    if obj["metadata"]["generation"] > status.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...", False
    progressing = next((c for c in status.get("conditions", []) if c["type"] == "Progressing"), None)
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        raise DeadlineExceeded(f'deployment "{name}" exceeded its progress deadline')
    updated, replicas = status.get("updatedReplicas", 0), status.get("replicas", 0)
    if updated < want:
        return (f'Waiting for deployment "{name}" rollout to finish: {updated} out of {want} new replicas have '
                "been updated..."), False
    if replicas > updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {replicas - updated} old replicas are pending '
                "termination..."), False
    if status.get("availableReplicas", 0) < updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {status.get("availableReplicas", 0)} of '
                f"{updated} updated replicas are available..."), False
    return f'deployment "{name}" successfully rolled out', True


def wait_rolled_out(kube: Kube, name: str = "web", timeout: float = 15) -> list[str]:
    """Poll like `kubectl rollout status`; the messages seen on the way."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message, done = rollout_status(kube.get(f"{DEPLOYMENTS}/{name}").body)
        if not seen or seen[-1] != message:
            seen.append(message)
        if done:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"rollout did not finish: {seen}")


def replica_sets(kube: Kube) -> dict[str, dict[str, Any]]:
    return {rs["metadata"]["name"]: rs for rs in kube.get(REPLICASETS).body["items"]}


def image(name: str, tag: str, replicas: int = 2, annotations: dict[str, str] | None = None,
          **spec: Any) -> dict[str, Any]:
    obj = deployment(name, replicas, annotations)
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = f"example.com/{name}:{tag}"
    obj["spec"].update(spec)
    return obj


def test_a_template_change_rolls_out_through_a_new_replica_set(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "1", replicas=4))
    wait_rolled_out(kube)
    (first,) = replica_sets(kube).values()
    hash_1 = first["metadata"]["labels"]["pod-template-hash"]
    assert first["metadata"]["name"] == f"web-{hash_1}" and first["spec"]["selector"]["matchLabels"] == {
        "app": "web", "pod-template-hash": hash_1}
    assert first["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert first["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"

    kube.apply(f"{DEPLOYMENTS}/web", image("web", "2", replicas=4))
    status = kube.get(f"{DEPLOYMENTS}/web").body["status"]
    # maxSurge 25% of 4 = 1 extra pod, maxUnavailable 25% = 1: old pods keep serving meanwhile
    assert status["observedGeneration"] == 2 and status["replicas"] == 5 and status["updatedReplicas"] == 2
    assert is_true({"status": status}, "Available")
    messages = wait_rolled_out(kube)
    assert any("new replicas have been updated" in m or "updated replicas are available" in m for m in messages)
    sets = replica_sets(kube)
    new = next(rs for name, rs in sets.items() if name != first["metadata"]["name"])
    assert sets[first["metadata"]["name"]]["spec"]["replicas"] == 0
    assert new["spec"]["replicas"] == 4 and new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    status = kube.get(f"{DEPLOYMENTS}/web").body["status"]
    assert condition({"status": status}, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert condition({"status": status}, "Progressing")["message"] == \
        f'ReplicaSet "{new["metadata"]["name"]}" has successfully progressed.'
    pods = kube.get(PODS, labelSelector="app=web").body["items"]
    assert len(pods) == 4
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {new["metadata"]["labels"][
        "pod-template-hash"]}
    assert all(p["metadata"]["ownerReferences"][0]["name"] == new["metadata"]["name"] for p in pods)

    kube.apply(f"{DEPLOYMENTS}/web", image("web", "1", replicas=4))  # a rollback reuses the first ReplicaSet
    wait_rolled_out(kube)
    back = replica_sets(kube)[first["metadata"]["name"]]
    assert back["spec"]["replicas"] == 4 and back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_a_failing_template_leaves_the_old_pods_serving(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "1"))
    wait_rolled_out(kube)
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "2", annotations=FAIL))
    time.sleep(READY_AFTER * 3)
    obj = kube.get(f"{DEPLOYMENTS}/web").body
    status = obj["status"]
    assert status["updatedReplicas"] == 1 < obj["spec"]["replicas"]  # one surge pod, never ready
    assert status["availableReplicas"] == 2 and status["replicas"] == 3 and status["unavailableReplicas"] == 1
    assert is_true(obj, "Available")
    assert rollout_status(obj) == ('Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have '
                                   "been updated...", False)
    pods = kube.get(PODS, labelSelector="app=web").body["items"]
    ready = [p for p in pods if is_true(p, "Ready")]
    assert len(ready) == 2 and all("fakekube.eksscale.io/fail" not in p["metadata"].get("annotations", {})
                                   for p in ready)


@pytest.fixture
def fast_deadlines(tmp_path: Path) -> Iterator[Kube]:
    """A server where progressDeadlineSeconds counts in hundredths of seconds."""
    process = start_server(tmp_path / "port", "--progress-deadline-scale", "0.01")
    try:
        yield Kube("127.0.0.1", int((tmp_path / "port").read_text()))
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_progress_deadline_exceeded_when_new_pods_never_become_available(fast_deadlines: Kube) -> None:
    kube = fast_deadlines
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "1", progressDeadlineSeconds=150))
    wait_rolled_out(kube)
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "2", annotations=FAIL, progressDeadlineSeconds=150))
    assert not rollout_status(kube.get(f"{DEPLOYMENTS}/web").body)[1]  # still progressing at first
    time.sleep(2.0)  # 150 s scaled by 0.01, plus room; no polling meanwhile: the server catches up by itself
    obj = kube.get(f"{DEPLOYMENTS}/web").body
    progressing = condition(obj, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert progressing["message"].endswith("has timed out progressing.")
    with pytest.raises(DeadlineExceeded, match='deployment "web" exceeded its progress deadline'):
        rollout_status(obj)
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "3", progressDeadlineSeconds=150))  # a fix rolls out again
    wait_rolled_out(kube)


def test_a_slow_poller_sees_the_same_timeline(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "1", replicas=4))
    time.sleep(READY_AFTER * 6)  # every step of the rollout fell due meanwhile
    obj = kube.get(f"{DEPLOYMENTS}/web").body
    assert rollout_status(obj)[1]
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "2", replicas=4))
    time.sleep(READY_AFTER * 6)
    assert rollout_status(kube.get(f"{DEPLOYMENTS}/web").body)[1]


def test_recreate_replaces_all_pods_at_once(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "1", strategy={"type": "Recreate"}))
    wait_rolled_out(kube)
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "2", strategy={"type": "Recreate"}))
    pods = kube.get(PODS, labelSelector="app=web").body["items"]
    assert len(pods) == 2 and all(p["spec"]["containers"][0]["image"] == "example.com/web:2" for p in pods)
    assert not is_true(kube.get(f"{DEPLOYMENTS}/web").body, "Available")
    kube.wait_for(f"{DEPLOYMENTS}/web", available)


def test_a_deleted_pod_is_replaced_and_scaling_follows_replicas(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "1"))
    wait_rolled_out(kube)
    victim = kube.get(PODS, labelSelector="app=web").body["items"][0]["metadata"]["name"]
    assert kube.delete(f"{PODS}/{victim}").code == 200
    names = {p["metadata"]["name"] for p in kube.get(PODS, labelSelector="app=web").body["items"]}
    assert len(names) == 2 and victim not in names
    kube.request("PATCH", f"{DEPLOYMENTS}/web", {"spec": {"replicas": 3}}, MERGE)
    assert len(kube.get(PODS, labelSelector="app=web").body["items"]) == 3
    kube.request("PATCH", f"{DEPLOYMENTS}/web", {"spec": {"replicas": 1}}, MERGE)
    assert len(kube.get(PODS, labelSelector="app=web").body["items"]) == 1
    assert len(replica_sets(kube)) == 1  # scaling is not a new revision


def test_pods_of_a_missing_service_account_are_refused_until_it_exists(kube: Kube) -> None:
    obj = image("web", "1")
    obj["spec"]["template"]["spec"]["serviceAccountName"] = "runner"
    kube.apply(f"{DEPLOYMENTS}/web", obj)
    failure = condition(kube.get(f"{DEPLOYMENTS}/web").body, "ReplicaFailure")
    assert failure["reason"] == "FailedCreate"
    assert 'error looking up service account default/runner: serviceaccount "runner" not found' in failure["message"]
    assert kube.get(PODS, labelSelector="app=web").body["items"] == []
    kube.apply("/api/v1/namespaces/default/serviceaccounts/runner",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"}})
    wait_rolled_out(kube)
    assert "ReplicaFailure" not in [c["type"] for c in kube.get(f"{DEPLOYMENTS}/web").body["status"]["conditions"]]


def test_pod_specs_cannot_change_but_images_can(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", image("web", "1", replicas=1))
    (pod,) = kube.get(PODS, labelSelector="app=web").body["items"]
    url = f"{PODS}/{pod['metadata']['name']}"
    refused = kube.request("PATCH", url, {"spec": {"hostname": "other"}}, MERGE)
    assert (refused.code, refused.reason) == (422, "Invalid")
    assert "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`" in \
        refused.body["message"]
    patched = [{"op": "replace", "path": "/spec/containers/0/image", "value": "example.com/web:9"}]
    assert kube.request("PATCH", url, patched, "application/json-patch+json").code == 200
