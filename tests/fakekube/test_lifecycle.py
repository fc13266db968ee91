"""Deletion as a real cluster does it: KEDA's finalizers, CRDs and namespaces waiting for what they hold,
propagation policies, and what pruning relies on (cross-namespace label-selected lists, DELETE options)."""

from __future__ import annotations

import time
from typing import Any

from harness import READY_AFTER
from kubeclient import Kube, condition, url_for
from test_fakekube import CONFIGMAPS, CRDS, DEPLOYMENTS, available, configmap, deployment, install_keda_crds

KEDA_NS = "/api/v1/namespaces/keda"
OPERATOR = "/apis/apps/v1/namespaces/keda/deployments/keda-operator"
FINALIZER = "finalizer.keda.sh"


def keda_objects_to_finalize() -> dict[str, dict[str, Any]]:
    """One object of each kind KEDA's operator finalizes, in namespace `apps` (URL -> object)."""
    ns = {"name": "x", "namespace": "apps"}
    objects = [
        ("scaledobjects", {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": ns,
                           "spec": {"scaleTargetRef": {"name": "web"},
                                    "triggers": [{"type": "cpu", "metadata": {"value": "50"}}]}}),
        ("scaledjobs", {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledJob", "metadata": ns,
                        "spec": {"jobTargetRef": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
                                 "triggers": [{"type": "cpu", "metadata": {"value": "50"}}]}}),
        ("triggerauthentications", {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
                                    "metadata": ns, "spec": {"podIdentity": {"provider": "aws"}}}),
        ("clustertriggerauthentications", {"apiVersion": "keda.sh/v1alpha1", "kind": "ClusterTriggerAuthentication",
                                           "metadata": {"name": "x"}, "spec": {"podIdentity": {"provider": "aws"}}}),
        ("cloudeventsources", {"apiVersion": "eventing.keda.sh/v1alpha1", "kind": "CloudEventSource", "metadata": ns,
                               "spec": {"destination": {"http": {"uri": "http://sink"}}}}),
    ]
    return {url_for(obj, plural): obj for plural, obj in objects}


def start_operator(kube: Kube) -> None:
    kube.apply(KEDA_NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "keda"}})
    operator = deployment("keda-operator", 1)
    operator["metadata"]["namespace"] = "keda"
    assert kube.apply(OPERATOR, operator).code in (200, 201)
    kube.wait_for(OPERATOR, available)


def finalizers(kube: Kube, url: str) -> list[str]:
    reply = kube.get(url)
    assert reply.code == 200, (url, reply.body)
    found: list[str] = reply.body["metadata"].get("finalizers", [])
    return found


def test_kedas_operator_finalizes_what_it_manages_while_it_runs(kube: Kube,
                                                                keda_objects: list[dict[str, Any]]) -> None:
    install_keda_crds(kube, keda_objects)
    kube.apply("/api/v1/namespaces/apps", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    objects = keda_objects_to_finalize()
    for url, obj in objects.items():  # without an operator nobody adds a finalizer
        assert kube.apply(url, obj).code == 201, kube.apply(url, obj).body
        assert finalizers(kube, url) == []
    start_operator(kube)
    for url in objects:  # the operator claims what exists, and what is created later
        assert finalizers(kube, url) == [FINALIZER], url
    scaled_object = next(iter(objects))
    deleted = kube.delete(scaled_object).body
    assert deleted["metadata"]["deletionTimestamp"] and deleted["metadata"]["finalizers"] == [FINALIZER]
    kube.wait_for(scaled_object, lambda r: r.code == 404)  # the running operator lets go

    kube.delete(OPERATOR)  # now nothing can remove finalizer.keda.sh
    stuck = [url for url in objects if url != scaled_object]
    for url in stuck:
        kube.delete(url)
    time.sleep(READY_AFTER * 3)
    for url in stuck:
        reply = kube.get(url)
        assert reply.code == 200 and reply.body["metadata"]["deletionTimestamp"], url

    crd_url = f"{CRDS}/triggerauthentications.keda.sh"
    kube.delete(crd_url)
    kube.delete("/api/v1/namespaces/apps")
    time.sleep(READY_AFTER * 3)
    crd = kube.get(crd_url).body  # a CRD waits for its instances
    terminating = condition(crd, "Terminating")
    assert (terminating["status"], terminating["reason"]) == ("True", "InstanceDeletionCheck")
    namespace = kube.get("/api/v1/namespaces/apps").body  # and so does a namespace
    assert namespace["status"]["phase"] == "Terminating"
    held = condition(namespace, "NamespaceFinalizersRemaining")
    assert held["message"] == ("Some content in the namespace has finalizers remaining: finalizer.keda.sh in 3 "
                               "resource instances")
    assert condition(namespace, "NamespaceContentRemaining")["message"] == (
        "Some resources are remaining: cloudeventsources.eventing.keda.sh has 1 resource instances, "
        "scaledjobs.keda.sh has 1 resource instances, triggerauthentications.keda.sh has 1 resource instances")

    start_operator(kube)  # an operator back up finishes the job
    for url in stuck:
        kube.wait_for(url, lambda r: r.code == 404)
    kube.wait_for(crd_url, lambda r: r.code == 404)
    kube.wait_for("/api/v1/namespaces/apps", lambda r: r.code == 404)


def test_foreground_deletion_waits_for_dependents(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", deployment())
    kube.wait_for(f"{DEPLOYMENTS}/web", available)
    pending = kube.delete(f"{DEPLOYMENTS}/web", propagationPolicy="Foreground")
    assert pending.code == 200 and pending.body["metadata"]["finalizers"] == ["foregroundDeletion"]
    kube.wait_for(f"{DEPLOYMENTS}/web", lambda r: r.code == 404)
    assert kube.get("/apis/apps/v1/namespaces/default/replicasets").body["items"] == []
    assert kube.get("/api/v1/namespaces/default/pods").body["items"] == []


def test_orphan_deletion_keeps_dependents_without_their_owner(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", deployment())
    kube.wait_for(f"{DEPLOYMENTS}/web", available)
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"}  # as kube-rs sends it
    pending = kube.request("DELETE", f"{DEPLOYMENTS}/web", body)
    assert pending.body["metadata"]["finalizers"] == ["orphan"]
    kube.wait_for(f"{DEPLOYMENTS}/web", lambda r: r.code == 404)
    (replica_set,) = kube.get("/apis/apps/v1/namespaces/default/replicasets").body["items"]
    assert "ownerReferences" not in replica_set["metadata"]
    assert len(kube.get("/api/v1/namespaces/default/pods").body["items"]) == 2  # still run by the ReplicaSet


def test_background_deletion_answers_success_and_collects_dependents(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", deployment())
    reply = kube.request("DELETE", f"{DEPLOYMENTS}/web", {"propagationPolicy": "Background"})
    assert (reply.body["kind"], reply.body["status"]) == ("Status", "Success")
    assert kube.get("/api/v1/namespaces/default/pods").body["items"] == []
    assert kube.request("DELETE", f"{CONFIGMAPS}/none", params={"propagationPolicy": "Sideways"}).code == 404


def test_pruning_lists_by_label_everywhere_and_deletes(kube: Kube) -> None:
    kube.apply("/api/v1/namespaces/team", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    owned = {"app.kubernetes.io/managed-by": "eksscale", "eksscale.io/cluster": "demo"}
    for namespace in ("default", "team"):
        kube.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", configmap("mine", owned))
        kube.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", configmap("theirs", {"x": "y"}))
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "mine",
                                                                                                "labels": owned}}
    kube.apply("/apis/rbac.authorization.k8s.io/v1/clusterroles/mine", role)
    selector = "app.kubernetes.io/managed-by=eksscale,eksscale.io/cluster=demo"
    found = kube.get("/api/v1/configmaps", labelSelector=selector).body
    assert found["kind"] == "ConfigMapList"
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in found["items"]] == [
        ("default", "mine"), ("team", "mine")]
    roles = kube.get("/apis/rbac.authorization.k8s.io/v1/clusterroles", labelSelector=selector).body["items"]
    assert [r["metadata"]["name"] for r in roles] == ["mine"]
    assert kube.request("DELETE", "/api/v1/configmaps").code == 405  # no deletecollection across namespaces
    for item in found["items"]:
        assert kube.delete(url_for({**item, "apiVersion": "v1"}, "configmaps"),
                           propagationPolicy="Background").code == 200
    assert kube.get("/api/v1/configmaps", labelSelector=selector).body["items"] == []
    assert len(kube.get("/api/v1/configmaps", labelSelector="x=y").body["items"]) == 2
