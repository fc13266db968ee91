"""Behaviour of the fake Kubernetes API server and of validate_manifests.py."""

from __future__ import annotations

import copy
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import HERE, READY_AFTER, start_server
from kubeclient import JSON_PATCH, MERGE, Kube, Reply, condition, is_true, url_for
from schemas import Schemas

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
SCALEDOBJECTS = "/apis/keda.sh/v1alpha1/namespaces/default/scaledobjects"
PARTIAL_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
PLURALS = {"Namespace": "namespaces", "CustomResourceDefinition": "customresourcedefinitions",
           "ServiceAccount": "serviceaccounts", "Role": "roles", "ClusterRole": "clusterroles",
           "RoleBinding": "rolebindings", "ClusterRoleBinding": "clusterrolebindings", "Service": "services",
           "Deployment": "deployments", "APIService": "apiservices",
           "ValidatingWebhookConfiguration": "validatingwebhookconfigurations"}


def deployment(name: str = "web", replicas: int = 2, annotations: dict[str, str] | None = None,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    template_metadata: dict[str, Any] = {"labels": {"app": name}}
    if annotations:
        template_metadata["annotations"] = annotations
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": template_metadata,
                              "spec": {"containers": [{"name": name, "image": f"example.com/{name}:1"}]}}},
    }


def configmap(name: str, labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": labels or {}}
    metadata.update(extra.pop("metadata", {}))
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, **extra}


def install_keda_crds(kube: Kube, keda_objects: list[dict[str, Any]]) -> None:
    urls = []
    for crd in (o for o in keda_objects if o["kind"] == "CustomResourceDefinition"):
        urls.append(url_for(crd, "customresourcedefinitions"))
        assert kube.apply(urls[-1], crd).code == 201
    for url in urls:
        kube.wait_for(url, lambda r: is_true(r.body, "Established"))


def scaled_object(**spec: Any) -> dict[str, Any]:
    """ScaledObject `web` scaling Deployment `web` on one SQS trigger."""
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": {"name": "web"},
                     "triggers": [{"type": "aws-sqs-queue", "metadata": {"queueURL": "q", "queueLength": "5"}}],
                     **spec}}


def available(reply: Reply) -> bool:
    return reply.code == 200 and is_true(reply.body, "Available")


# --- basics and discovery ---------------------------------------------------------------------------------

def test_version_and_health(kube: Kube) -> None:
    version = kube.get("/version").body
    assert version["gitVersion"] == "v1.35.0-eks-fake"
    assert (version["major"], version["minor"]) == ("1", "35")
    for path in ("/healthz", "/readyz"):
        reply = kube.get(path)
        assert (reply.code, reply.body) == (200, "ok")


def test_legacy_discovery_lists_builtin_resources(kube: Kube) -> None:
    assert kube.get("/api").body["versions"] == ["v1"]
    core = {r["name"]: r for r in kube.get("/api/v1").body["resources"]}
    assert core["namespaces"]["namespaced"] is False and core["namespaces"]["shortNames"] == ["ns"]
    assert {"serviceaccounts", "services", "configmaps", "secrets", "pods", "nodes", "events",
            "endpoints"} <= core.keys()
    groups = {g["name"]: g for g in kube.get("/apis").body["groups"]}
    expected = {"apps": "v1", "batch": "v1", "autoscaling": "v2", "policy": "v1", "rbac.authorization.k8s.io": "v1",
                "apiextensions.k8s.io": "v1", "apiregistration.k8s.io": "v1",
                "admissionregistration.k8s.io": "v1", "coordination.k8s.io": "v1", "networking.k8s.io": "v1"}
    for group, version in expected.items():
        assert groups[group]["preferredVersion"] == {"groupVersion": f"{group}/{version}", "version": version}
    assert kube.get("/apis/apps").body["preferredVersion"]["groupVersion"] == "apps/v1"
    apps = {r["name"]: r for r in kube.get("/apis/apps/v1").body["resources"]}
    assert apps["deployments"]["kind"] == "Deployment" and apps["deployments"]["singularName"] == "deployment"
    assert apps["deployments"]["shortNames"] == ["deploy"] and "patch" in apps["deployments"]["verbs"]
    assert apps["deployments/status"]["kind"] == "Deployment"
    assert (apps["deployments/scale"]["group"], apps["deployments/scale"]["kind"]) == ("autoscaling", "Scale")
    assert kube.get("/apis/no.such.group/v1").code == 404


def test_aggregated_discovery(kube: Kube) -> None:
    reply = kube.request("GET", "/apis", headers={"Accept": AGGREGATED})
    assert reply.content_type.startswith("application/json;g=apidiscovery.k8s.io;v=v2")
    assert reply.body["kind"] == "APIGroupDiscoveryList"
    apps = next(g for g in reply.body["items"] if g["metadata"].get("name") == "apps")
    resources = {r["resource"]: r for r in apps["versions"][0]["resources"]}
    assert resources["deployments"]["scope"] == "Namespaced"
    assert {s["subresource"] for s in resources["deployments"]["subresources"]} == {"status", "scale"}
    core = kube.request("GET", "/api", headers={"Accept": AGGREGATED}).body
    assert any(r["resource"] == "pods" for r in core["items"][0]["versions"][0]["resources"])


# --- server-side apply ------------------------------------------------------------------------------------

def test_apply_creates_with_201_and_identical_reapply_changes_nothing(kube: Kube) -> None:
    created = kube.apply(f"{DEPLOYMENTS}/web", deployment())
    assert created.code == 201
    metadata = created.body["metadata"]
    assert metadata["generation"] == 1 and metadata["uid"] and metadata["creationTimestamp"]
    assert metadata["managedFields"][0]["manager"] == "test"
    assert metadata["managedFields"][0]["operation"] == "Apply"
    writes = kube.requests()["writes"]
    again = kube.apply(f"{DEPLOYMENTS}/web", yaml.safe_dump(deployment()))  # the YAML form of the same config
    assert again.code == 200
    assert again.body["metadata"]["resourceVersion"] == metadata["resourceVersion"]
    assert kube.requests()["writes"] == writes


def test_changed_apply_bumps_resource_version_and_generation(kube: Kube) -> None:
    first = kube.apply(f"{DEPLOYMENTS}/web", deployment(replicas=1)).body["metadata"]
    scaled = kube.apply(f"{DEPLOYMENTS}/web", deployment(replicas=3)).body
    assert int(scaled["metadata"]["resourceVersion"]) > int(first["resourceVersion"])
    assert scaled["metadata"]["generation"] == 2 and scaled["spec"]["replicas"] == 3
    relabelled = kube.apply(f"{DEPLOYMENTS}/web", deployment(replicas=3, labels={"app": "web", "tier": "x"})).body
    assert relabelled["metadata"]["resourceVersion"] != scaled["metadata"]["resourceVersion"]
    assert relabelled["metadata"]["generation"] == 2  # metadata-only change


def test_apply_conflicts_with_another_manager_unless_forced(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", deployment(replicas=2), manager="alpha")
    conflict = kube.apply(f"{DEPLOYMENTS}/web", deployment(replicas=5), manager="beta")
    assert (conflict.code, conflict.reason) == (409, "Conflict")
    assert '"alpha"' in conflict.body["message"] and ".spec.replicas" in conflict.body["message"]
    assert kube.apply(f"{DEPLOYMENTS}/web", deployment(replicas=2), manager="beta").code == 200  # same value
    forced = kube.apply(f"{DEPLOYMENTS}/web", deployment(replicas=5), manager="beta", force="true")
    assert forced.code == 200 and forced.body["spec"]["replicas"] == 5
    owners = {e["manager"]: e["fieldsV1"] for e in forced.body["metadata"]["managedFields"]}
    assert "f:replicas" in owners["beta"]["f:spec"] and "f:replicas" not in owners["alpha"]["f:spec"]


def test_apply_removes_fields_the_same_manager_dropped(kube: Kube) -> None:
    url = f"{CONFIGMAPS}/settings"
    kube.apply(url, configmap("settings", {"a": "1", "b": "2"}, data={"x": "1", "y": "2"}))
    kube.request("PATCH", url, {"metadata": {"labels": {"c": "3"}}}, MERGE, params={"fieldManager": "other"})
    reduced = kube.apply(url, configmap("settings", {"a": "1"}, data={"x": "1"})).body
    assert reduced["metadata"]["labels"] == {"a": "1", "c": "3"}  # c belongs to another manager
    assert reduced["data"] == {"x": "1"}


def test_apply_needs_a_field_manager_and_known_patch_types(kube: Kube) -> None:
    url = f"{CONFIGMAPS}/settings"
    missing = kube.request("PATCH", url, configmap("settings"), "application/apply-patch+yaml")
    assert (missing.code, missing.reason) == (400, "BadRequest")
    strategic = kube.request("PATCH", url, {}, "application/strategic-merge-patch+json")
    assert (strategic.code, strategic.reason) == (415, "UnsupportedMediaType")


def test_dry_run_apply_stores_nothing(kube: Kube) -> None:
    assert kube.apply(f"{CONFIGMAPS}/dry", configmap("dry"), dryRun="All").code == 201
    assert kube.get(f"{CONFIGMAPS}/dry").code == 404


# --- other verbs ------------------------------------------------------------------------------------------

def test_create_update_and_patch(kube: Kube) -> None:
    created = kube.request("POST", CONFIGMAPS, configmap("plain", data={"k": "v"}))
    assert created.code == 201
    assert kube.request("POST", CONFIGMAPS, configmap("plain")).reason == "AlreadyExists"
    stale = configmap("plain", data={"k": "w"}, metadata={"resourceVersion": "1"})
    assert kube.request("PUT", f"{CONFIGMAPS}/plain", stale).reason == "Conflict"
    current = copy.deepcopy(created.body)
    current["data"] = {"k": "w"}
    assert kube.request("PUT", f"{CONFIGMAPS}/plain", current).body["data"] == {"k": "w"}
    merged = kube.request("PATCH", f"{CONFIGMAPS}/plain", {"data": {"extra": "1"}}, MERGE).body
    assert merged["data"] == {"k": "w", "extra": "1"}
    patched = kube.request("PATCH", f"{CONFIGMAPS}/plain", [{"op": "remove", "path": "/data/k"}], JSON_PATCH)
    assert patched.body["data"] == {"extra": "1"}
    assert kube.request("PATCH", f"{CONFIGMAPS}/absent", {"data": {}}, MERGE).code == 404
    partial = kube.request("GET", f"{CONFIGMAPS}/plain", headers={"Accept": PARTIAL_METADATA}).body
    assert partial["kind"] == "PartialObjectMetadata" and "data" not in partial


def test_secret_string_data_is_stored_as_data(kube: Kube) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"user": "me"}}
    url = "/api/v1/namespaces/default/secrets/creds"
    created = kube.apply(url, secret).body
    assert created["data"] == {"user": "bWU="} and "stringData" not in created
    assert kube.apply(url, secret).body["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_names_in_paths_may_be_percent_encoded(kube: Kube) -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "system:reader"}, "rules": []}
    assert kube.apply("/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Areader", role).code == 201
    assert kube.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/system:reader").code == 200
    assert kube.get("/apis/apps/v1/deployments/web").code == 404  # a namespaced object needs its namespace


def test_missing_namespace_and_unknown_resource_are_404(kube: Kube) -> None:
    reply = kube.request("POST", "/api/v1/namespaces/nowhere/configmaps", configmap("x"))
    assert (reply.code, reply.reason) == (404, "NotFound")
    assert reply.body["message"] == 'namespaces "nowhere" not found'
    assert kube.get("/apis/apps/v1/namespaces/default/gadgets").code == 404
    assert kube.get(f"{DEPLOYMENTS}/absent").body["message"] == 'deployments.apps "absent" not found'


def test_label_and_field_selectors(kube: Kube) -> None:
    for name, labels in {"p1": {"env": "prod", "tier": "web"}, "p2": {"env": "prod"}, "d1": {"env": "dev"},
                         "n1": {}}.items():
        kube.request("POST", CONFIGMAPS, configmap(name, labels))

    def names(**params: str) -> list[str]:
        reply = kube.get(CONFIGMAPS, **params)
        assert reply.body["kind"] == "ConfigMapList" and all(i["kind"] == "ConfigMap" for i in reply.body["items"])
        return [item["metadata"]["name"] for item in reply.body["items"]]

    assert names(labelSelector="env=prod") == ["p1", "p2"]
    assert names(labelSelector="env==prod") == ["p1", "p2"]
    assert names(labelSelector="env!=prod") == ["d1", "n1"]
    assert names(labelSelector="tier") == ["p1"]
    assert names(labelSelector="!tier") == ["d1", "n1", "p2"]
    assert names(labelSelector="env in (prod,dev)") == ["d1", "p1", "p2"]
    assert names(labelSelector="env notin (prod)") == ["d1", "n1"]
    assert names(labelSelector="env=prod,!tier") == ["p2"]
    assert names(fieldSelector="metadata.name=d1") == ["d1"]
    assert names(fieldSelector="metadata.namespace!=default") == []
    assert kube.get(CONFIGMAPS, labelSelector="env in (prod").code == 400
    assert kube.get(CONFIGMAPS, fieldSelector="data.k=v").code == 400
    everywhere = kube.get("/api/v1/configmaps", labelSelector="env=dev").body["items"]
    assert [i["metadata"]["namespace"] for i in everywhere] == ["default"]
    removed = kube.request("DELETE", CONFIGMAPS, params={"labelSelector": "env=prod"})
    assert [i["metadata"]["name"] for i in removed.body["items"]] == ["p1", "p2"]
    assert names() == ["d1", "n1"]


# --- status progression -----------------------------------------------------------------------------------

def test_deployment_becomes_available_with_running_pods(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", deployment(replicas=2))
    early = kube.get(f"{DEPLOYMENTS}/web").body
    assert condition(early, "Available")["status"] == "False" and early["status"]["replicas"] == 2
    assert early["status"].get("availableReplicas", 0) == 0
    pods = kube.get(PODS, labelSelector="app=web").body["items"]
    assert len(pods) == 2 and all(p["status"]["phase"] == "Pending" for p in pods)

    ready = kube.wait_for(f"{DEPLOYMENTS}/web", available).body["status"]
    assert ready["observedGeneration"] == 1
    assert ready["readyReplicas"] == ready["availableReplicas"] == ready["updatedReplicas"] == 2
    assert condition({"status": ready}, "Progressing")["reason"] == "NewReplicaSetAvailable"
    pods = kube.get(PODS, labelSelector="app=web").body["items"]
    for pod in pods:
        assert re.fullmatch(r"web-[a-z0-9]{10}-[a-z0-9]{5}", pod["metadata"]["name"])
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert pod["status"]["phase"] == "Running" and is_true(pod, "Ready")
    single = kube.get(f"{PODS}/{pods[0]['metadata']['name']}")
    assert single.code == 200 and single.body["metadata"]["uid"] == pods[0]["metadata"]["uid"]
    scale = kube.get(f"{DEPLOYMENTS}/web/scale").body
    assert (scale["kind"], scale["spec"]["replicas"], scale["status"]["selector"]) == ("Scale", 2, "app=web")


@pytest.mark.parametrize("mode", ["ImagePullBackOff", "Unschedulable", "CrashLoopBackOff"])
def test_injected_failures_never_become_available(kube: Kube, mode: str) -> None:
    kube.apply(f"{DEPLOYMENTS}/broken", deployment("broken", 1, {"fakekube.eksscale.io/fail": mode}))
    time.sleep(READY_AFTER * 2.5)
    status = kube.get(f"{DEPLOYMENTS}/broken").body
    assert condition(status, "Available")["status"] == "False"
    (pod,) = kube.get(PODS, labelSelector="app=broken").body["items"]
    assert not is_true(pod, "Ready")
    if mode == "Unschedulable":
        scheduled = condition(pod, "PodScheduled")
        assert (pod["status"]["phase"], scheduled["status"], scheduled["reason"]) == ("Pending", "False", mode)
        assert scheduled["message"] == "0/0 nodes are available: no nodes registered"
    else:
        waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
        assert waiting["reason"] == mode
        if mode == "ImagePullBackOff":
            assert waiting["message"] == 'Back-off pulling image "example.com/broken:1"'


def test_job_completes(kube: Kube) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once", "namespace": "default"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "c", "image": "busybox"}]}}}}
    url = "/apis/batch/v1/namespaces/default/jobs/once"
    assert kube.apply(url, job).body["status"].get("succeeded") is None
    done = kube.wait_for(url, lambda r: is_true(r.body, "Complete")).body
    assert done["status"]["succeeded"] == 1


def test_apiservice_follows_its_backing_deployment(kube: Kube) -> None:
    apiservice = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                  "metadata": {"name": "v1beta1.external.metrics.k8s.io"},
                  "spec": {"group": "external.metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
                           "versionPriority": 100, "service": {"name": "metrics", "namespace": "default"}}}
    url = "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io"
    kube.apply(url, apiservice)
    assert condition(kube.get(url).body, "Available")["reason"] == "ServiceNotFound"
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "metrics", "namespace": "default"},
               "spec": {"selector": {"app": "metrics"}, "ports": [{"name": "https", "port": 443}]}}
    kube.apply("/api/v1/namespaces/default/services/metrics", service)
    kube.apply(f"{DEPLOYMENTS}/metrics", deployment("metrics", 1, {"fakekube.eksscale.io/fail": "CrashLoopBackOff"}))
    time.sleep(READY_AFTER * 2)
    assert condition(kube.get(url).body, "Available")["reason"] == "MissingEndpoints"
    kube.apply(f"{DEPLOYMENTS}/metrics", deployment("metrics", 1))
    kube.wait_for(url, available)


# --- deletion ---------------------------------------------------------------------------------------------

def test_finalizers_delay_deletion(kube: Kube) -> None:
    held = configmap("held", metadata={"finalizers": ["example.com/hold"]})
    kube.request("POST", CONFIGMAPS, held)
    deleted = kube.delete(f"{CONFIGMAPS}/held")
    assert deleted.code == 200 and deleted.body["metadata"]["deletionTimestamp"]
    assert kube.get(f"{CONFIGMAPS}/held").code == 200
    kube.wait_for(f"{CONFIGMAPS}/held", lambda r: r.code == 404)

    kube.request("POST", CONFIGMAPS, configmap("released", metadata={"finalizers": ["example.com/hold"]}))
    kube.delete(f"{CONFIGMAPS}/released")
    kube.request("PATCH", f"{CONFIGMAPS}/released", {"metadata": {"finalizers": None}}, MERGE)
    assert kube.get(f"{CONFIGMAPS}/released").code == 404  # gone as soon as the last finalizer is removed

    kube.request("POST", CONFIGMAPS, configmap("plain"))
    status = kube.delete(f"{CONFIGMAPS}/plain").body
    assert (status["kind"], status["status"]) == ("Status", "Success")
    # Foreground adds the foregroundDeletion finalizer, so the object is answered, then collected.
    kube.request("POST", CONFIGMAPS, configmap("plain"))
    pending = kube.delete(f"{CONFIGMAPS}/plain", propagationPolicy="Foreground").body
    assert pending["metadata"]["finalizers"] == ["foregroundDeletion"] and pending["metadata"]["deletionTimestamp"]
    assert kube.get(f"{CONFIGMAPS}/plain").code == 404


def test_namespace_deletion_cascades(kube: Kube) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    kube.apply("/api/v1/namespaces/team", namespace)
    kube.request("POST", "/api/v1/namespaces/team/configmaps", configmap("cfg"))
    terminating = kube.delete("/api/v1/namespaces/team").body
    assert terminating["status"]["phase"] == "Terminating"
    refused = kube.request("POST", "/api/v1/namespaces/team/configmaps", configmap("late"))
    assert (refused.code, refused.reason) == (403, "Forbidden")
    kube.wait_for("/api/v1/namespaces/team", lambda r: r.code == 404)
    assert kube.get("/api/v1/namespaces/team/configmaps/cfg").code == 404
    assert kube.delete("/api/v1/namespaces/default").code == 403


@pytest.mark.parametrize(("policy", "dependent_survives"), [("Background", False), ("Orphan", True)])
def test_garbage_collection_follows_owner_references(kube: Kube, policy: str, dependent_survives: bool) -> None:
    owner = kube.request("POST", CONFIGMAPS, configmap("owner")).body
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    kube.request("POST", CONFIGMAPS, configmap("dependent", metadata={"ownerReferences": [reference]}))
    kube.delete(f"{CONFIGMAPS}/owner", propagationPolicy=policy)
    dependent = kube.get(f"{CONFIGMAPS}/dependent")
    assert (dependent.code == 200) is dependent_survives
    if dependent_survives:
        assert "ownerReferences" not in dependent.body["metadata"]


# --- custom resources and KEDA ----------------------------------------------------------------------------

def test_crd_is_discoverable_once_established(kube: Kube, keda_objects: list[dict[str, Any]]) -> None:
    crd = next(o for o in keda_objects if o["metadata"]["name"] == "scaledobjects.keda.sh")
    url = f"{CRDS}/scaledobjects.keda.sh"
    status = kube.apply(url, crd).body["status"]
    assert is_true({"status": status}, "NamesAccepted") and not is_true({"status": status}, "Established")
    assert status["acceptedNames"]["kind"] == "ScaledObject"
    assert "keda.sh" not in [g["name"] for g in kube.get("/apis").body["groups"]]
    kube.wait_for(url, lambda r: is_true(r.body, "Established"))
    group = next(g for g in kube.get("/apis").body["groups"] if g["name"] == "keda.sh")
    assert group["preferredVersion"]["version"] == "v1alpha1"
    resources = {r["name"]: r for r in kube.get("/apis/keda.sh/v1alpha1").body["resources"]}
    assert resources["scaledobjects"]["shortNames"] == ["so"]
    assert resources["scaledobjects"]["singularName"] == "scaledobject"
    assert resources["scaledobjects"]["namespaced"] is True and "scaledobjects/status" in resources


def test_crd_deletion_removes_its_objects_and_discovery(kube: Kube, keda_objects: list[dict[str, Any]]) -> None:
    install_keda_crds(kube, keda_objects)
    kube.apply(f"{SCALEDOBJECTS}/web", scaled_object())
    kube.delete(f"{CRDS}/scaledobjects.keda.sh")
    kube.wait_for(f"{CRDS}/scaledobjects.keda.sh", lambda r: r.code == 404)
    assert kube.get(f"{SCALEDOBJECTS}/web").code == 404
    assert kube.get("/apis/keda.sh/v1alpha1/scaledobjects").code == 404
    remaining = {r["name"] for r in kube.get("/apis/keda.sh/v1alpha1").body["resources"]}
    assert "scaledobjects" not in remaining and "scaledjobs" in remaining
    assert not any(o["kind"] == "ScaledObject" for o in kube.get("/_fake/objects").body["items"])


def test_scaledobject_gets_an_hpa_and_status(kube: Kube, keda_objects: list[dict[str, Any]]) -> None:
    install_keda_crds(kube, keda_objects)
    kube.apply(f"{DEPLOYMENTS}/web", deployment())
    so = kube.apply(f"{SCALEDOBJECTS}/web", scaled_object(minReplicaCount=1, maxReplicaCount=7)).body
    assert is_true(so, "Ready") and condition(so, "Active")["status"] == "False"
    hpa_url = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/keda-hpa-web"
    hpa = kube.get(hpa_url).body
    assert hpa["metadata"]["labels"]["scaledobject.keda.sh/name"] == "web"
    assert hpa["metadata"]["ownerReferences"][0]["uid"] == so["metadata"]["uid"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 7)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    kube.apply(f"{SCALEDOBJECTS}/web", scaled_object(minReplicaCount=2, maxReplicaCount=9))
    assert kube.get(hpa_url).body["spec"]["maxReplicas"] == 9
    kube.delete(f"{SCALEDOBJECTS}/web")
    assert kube.get(hpa_url).code == 404


def test_served_objects_conform_to_their_schemas(kube: Kube, keda_objects: list[dict[str, Any]]) -> None:
    """Status written by the simulated controllers must decode in a typed client (k8s-openapi)."""
    install_keda_crds(kube, keda_objects)
    kube.apply(f"{DEPLOYMENTS}/web", deployment())
    kube.apply(f"{DEPLOYMENTS}/stuck", deployment("stuck", 1, {"fakekube.eksscale.io/fail": "CrashLoopBackOff"}))
    kube.apply(f"{SCALEDOBJECTS}/web", scaled_object())
    kube.wait_for(f"{DEPLOYMENTS}/web", available)
    schemas = Schemas("1.35")
    crd = next(o for o in keda_objects if o["metadata"]["name"] == "scaledobjects.keda.sh")
    served = [*kube.get(DEPLOYMENTS).body["items"], *kube.get(PODS).body["items"],
              *kube.get("/api/v1/namespaces").body["items"], *kube.get(CRDS).body["items"],
              *kube.get("/apis/autoscaling/v2/horizontalpodautoscalers").body["items"]]
    for obj in served:
        assert schemas.validate_builtin(obj) == [], obj["metadata"]["name"]
    for obj in kube.get(SCALEDOBJECTS).body["items"]:
        assert schemas.validate_custom(obj, crd) == []


# --- validation -------------------------------------------------------------------------------------------

def test_invalid_deployment_is_rejected(kube: Kube) -> None:
    bad = deployment()
    bad["spec"]["replicas"] = "two"
    bad["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "Always"
    reply = kube.apply(f"{DEPLOYMENTS}/web", bad)
    assert (reply.code, reply.reason) == (422, "Invalid")
    assert "spec.replicas" in reply.body["message"]
    assert "spec.template.spec.containers[0].imagePolicy" in reply.body["message"]
    assert {c["field"] for c in reply.body["details"]["causes"]} >= {"spec.replicas"}
    mismatched = deployment()
    mismatched["spec"]["selector"]["matchLabels"] = {"app": "other"}
    assert kube.apply(f"{DEPLOYMENTS}/web", mismatched).code == 422
    bad_name = kube.request("POST", CONFIGMAPS, configmap("Not_A_Name"))
    assert bad_name.code == 422 and "metadata.name" in bad_name.body["message"]
    assert kube.get(f"{DEPLOYMENTS}/web").code == 404


def test_invalid_scaledobject_is_rejected(kube: Kube, keda_objects: list[dict[str, Any]]) -> None:
    install_keda_crds(kube, keda_objects)
    bad = scaled_object(minReplicaCount="one")
    del bad["spec"]["triggers"]
    reply = kube.apply(f"{SCALEDOBJECTS}/web", bad)
    assert (reply.code, reply.reason) == (422, "Invalid")
    assert "spec.triggers" in reply.body["message"] and "spec.minReplicaCount" in reply.body["message"]
    assert reply.body["message"].startswith('ScaledObject.keda.sh "web" is invalid')


def test_keda_manifest_installs_and_becomes_available(kube: Kube, keda_objects: list[dict[str, Any]]) -> None:
    objects = keda_objects
    assert len(objects) == 24
    first = [o for o in objects if o["kind"] in ("CustomResourceDefinition", "Namespace")]
    ordered = first + [o for o in objects if o not in first]
    for obj in ordered:
        reply = kube.apply(url_for(obj, PLURALS[obj["kind"]]), obj, manager="eksscale")
        assert reply.code == 201, reply.body
    for obj in objects:
        if obj["kind"] in ("Deployment", "APIService"):
            kube.wait_for(url_for(obj, PLURALS[obj["kind"]]), available)
    versions = {url_for(o, PLURALS[o["kind"]]): kube.get(url_for(o, PLURALS[o["kind"]])).body["metadata"]
                ["resourceVersion"] for o in objects}
    writes = kube.requests()["writes"]
    for obj in ordered:
        reply = kube.apply(url_for(obj, PLURALS[obj["kind"]]), obj, manager="eksscale")
        assert reply.code == 200 and reply.body["metadata"]["resourceVersion"] == versions[
            url_for(obj, PLURALS[obj["kind"]])]
    assert kube.requests()["writes"] == writes


# --- process behaviour and hooks --------------------------------------------------------------------------

def test_request_accounting_and_authorization(kube: Kube) -> None:
    kube.request("GET", CONFIGMAPS, headers={"Authorization": "Bearer not-a-real-token"})
    kube.apply(f"{CONFIGMAPS}/a", configmap("a"))
    stats = kube.requests()
    assert stats["authorization"]["bearer"] == 1 and stats["authorization"]["none"] == 1
    assert stats["byRoute"]["PATCH /api/v1/namespaces/{namespace}/configmaps/{name}"] == 1
    assert stats["byVerb"] == {"apply": 1, "list": 1} and stats["writes"] == 1 and stats["total"] == 2


def test_server_process_lifecycle(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    process = start_server(port_file, "--verbose")
    assert re.fullmatch(r"\d+\n", port_file.read_text())
    kube = Kube("127.0.0.1", int(port_file.read_text()))
    assert kube.request("GET", "/version", headers={"Authorization": "Bearer sekret-value"}).code == 200
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "GET /version" in stderr and "sekret-value" not in stderr


# --- validate_manifests.py --------------------------------------------------------------------------------

def run_validator(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(HERE / "validate_manifests.py"), "--kubernetes-version", "1.35",
                           *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_validator_accepts_the_keda_manifest(keda_manifest: Path) -> None:
    result = run_validator(str(keda_manifest))
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert sum(line.startswith("ok ") for line in lines) == 24
    assert "ok Deployment/keda/keda-operator" in lines


def test_validator_rejects_broken_objects(tmp_path: Path, keda_manifest: Path) -> None:
    broken = tmp_path / "manifests" / "broken.yaml"
    broken.parent.mkdir()
    bad = deployment()
    bad["spec"]["replicas"] = "two"
    broken.write_text(yaml.safe_dump_all([configmap("fine"), bad, {"apiVersion": "example.com/v1", "kind": "Gizmo",
                                                                    "metadata": {"name": "g"}}]))
    result = run_validator(str(tmp_path / "manifests"))
    assert result.returncode == 1
    assert "ok ConfigMap/fine" in result.stdout
    assert f"error {broken}: Deployment/web: spec.replicas" in result.stdout
    assert "unknown kind Gizmo" in result.stdout

    custom = yaml.safe_dump(scaled_object())
    assert run_validator("-", stdin=custom).returncode == 1
    assert run_validator("--crds", str(keda_manifest), "-", stdin=custom).returncode == 0
