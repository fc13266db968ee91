"""What holds the deletion of Services of type LoadBalancer, ALB Ingresses and EBS-backed claims on an EKS
cluster: the controllers' finalizers, and (with --aws-endpoint) the AWS resources they delete first."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from awscloud import AwsCloud
from harness import READY_AFTER, start_emulator, start_server
from kubeclient import JSON_PATCH, MERGE, Kube, Reply
from schemas import Schemas
from test_admission import messages
from test_fakekube import DEPLOYMENTS, deployment

CLUSTER, REGION = "demo", "us-east-1"
LB_CLEANUP = "service.kubernetes.io/load-balancer-cleanup"
LBC_SERVICE = "service.k8s.aws/resources"
LBC_INGRESS = "ingress.k8s.aws/resources"
PVC_PROTECTION, PV_PROTECTION = "kubernetes.io/pvc-protection", "kubernetes.io/pv-protection"
PROVISIONER = "external-provisioner.volume.kubernetes.io/finalizer"
INGRESSES = "/apis/networking.k8s.io/v1/namespaces/apps/ingresses"
INGRESS_CLASSES = "/apis/networking.k8s.io/v1/ingressclasses"
SERVICES = "/api/v1/namespaces/apps/services"
PVCS = "/api/v1/namespaces/apps/persistentvolumeclaims"
PVS = "/api/v1/persistentvolumes"
PODS = "/api/v1/namespaces/apps/pods"


# --- objects ------------------------------------------------------------------------------------------------

def namespace(kube: Kube, name: str = "apps") -> None:
    assert kube.apply(f"/api/v1/namespaces/{name}", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": name}}).code in (200, 201)


def service(name: str, kind: str = "LoadBalancer", annotations: dict[str, str] | None = None,
            load_balancer_class: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": kind, "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}
    if load_balancer_class:
        spec["loadBalancerClass"] = load_balancer_class
    metadata: dict[str, Any] = {"name": name, "namespace": "apps", "labels": labels or {"app": name}}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def ingress(name: str, class_name: str | None = "alb", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}
    if class_name:
        spec["ingressClassName"] = class_name
    metadata: dict[str, Any] = {"name": name, "namespace": "apps"}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec}


def ingress_class(name: str = "alb", controller: str = "ingress.k8s.aws/alb",
                  default: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if default:
        metadata["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": metadata,
            "spec": {"controller": controller}}


def volume(name: str, volume_id: str, claim: str | None = "data", policy: str = "Delete") -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                            "persistentVolumeReclaimPolicy": policy, "storageClassName": "gp3",
                            "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": volume_id, "fsType": "ext4"}}
    if claim:
        spec["claimRef"] = {"namespace": "apps", "name": claim}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def claim(name: str = "data", volume_name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3",
                            "resources": {"requests": {"storage": "1Gi"}}}
    if volume_name:
        spec["volumeName"] = volume_name
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "apps"},
            "spec": spec}


def pod_using(claim_name: str, name: str = "writer", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "apps"}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": "c", "image": "example.com/c:1",
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]}}


def finalizers(kube: Kube, url: str) -> list[str]:
    reply = kube.get(url)
    assert reply.code == 200, (url, reply.body)
    found: list[str] = reply.body["metadata"].get("finalizers", [])
    return found


def create(kube: Kube, url: str, obj: dict[str, Any]) -> dict[str, Any]:
    reply = kube.apply(url, obj)
    assert reply.code == 201, reply.body
    body: dict[str, Any] = reply.body
    return body


def gone(reply: Reply) -> bool:
    return reply.code == 404


def stays(kube: Kube, url: str) -> dict[str, Any]:
    """The object is still there, terminating, well after the controllers would have let go."""
    time.sleep(READY_AFTER * 3)
    reply = kube.get(url)
    assert reply.code == 200 and reply.body["metadata"].get("deletionTimestamp"), (url, reply.body)
    body: dict[str, Any] = reply.body
    return body


def conform(kube: Kube, *lists: str) -> None:
    """What is served (status included) decodes in a typed client: it passes the strict schemas."""
    schemas = Schemas("1.35")
    for url in lists:
        items = kube.get(url).body["items"]
        assert items, url
        for obj in items:
            assert schemas.validate_builtin(obj) == [], obj


def hostname(reply: Reply) -> str | None:
    found = reply.body.get("status", {}).get("loadBalancer", {}).get("ingress") or [{}]
    value: str | None = found[0].get("hostname")
    return value


# --- what the API serves ------------------------------------------------------------------------------------

def test_storage_and_ingress_kinds_are_served(kube: Kube) -> None:
    core = {r["name"]: r for r in kube.get("/api/v1").body["resources"]}
    assert core["persistentvolumeclaims"]["namespaced"] is True and core["persistentvolumeclaims"]["shortNames"] == [
        "pvc"]
    assert core["persistentvolumes"]["namespaced"] is False and "persistentvolumes/status" in core
    networking = {r["name"]: r for r in kube.get("/apis/networking.k8s.io/v1").body["resources"]}
    assert {"ingresses", "ingresses/status", "ingressclasses"} <= networking.keys()
    assert networking["ingressclasses"]["namespaced"] is False
    storage = {r["name"]: r for r in kube.get("/apis/storage.k8s.io/v1").body["resources"]}
    assert storage["storageclasses"]["namespaced"] is False and storage["storageclasses"]["shortNames"] == ["sc"]
    gp3 = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "gp3"},
           "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer",
           "parameters": {"type": "gp3"}}
    assert kube.apply("/apis/storage.k8s.io/v1/storageclasses/gp3", gp3).code == 201
    bad = {**gp3, "metadata": {"name": "bad"}, "provisioner": 3}
    assert kube.apply("/apis/storage.k8s.io/v1/storageclasses/bad", bad).code == 422
    namespace(kube)
    bad_claim = claim("x")
    bad_claim["spec"]["accessModes"] = "ReadWriteOnce"  # must be a list
    assert kube.apply(f"{PVCS}/x", bad_claim).code == 422


def test_services_are_listed_across_namespaces_by_label(kube: Kube) -> None:
    namespace(kube)
    namespace(kube, "other")
    create(kube, f"{SERVICES}/web", service("web", labels={"app": "web", "tier": "edge"}))
    other = service("api", "ClusterIP", labels={"app": "api"})
    other["metadata"]["namespace"] = "other"
    create(kube, "/api/v1/namespaces/other/services/api", other)
    every = kube.get("/api/v1/services").body
    assert every["kind"] == "ServiceList"
    assert {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in every["items"]} == {
        ("apps", "web"), ("other", "api")}
    edge = kube.get("/api/v1/services", labelSelector="tier=edge").body["items"]
    assert [s["metadata"]["name"] for s in edge] == ["web"]
    assert kube.get("/api/v1/services", labelSelector="app in (api),tier!=edge").body["items"][0]["metadata"][
        "name"] == "api"
    assert kube.get("/api/v1/persistentvolumeclaims").body["kind"] == "PersistentVolumeClaimList"
    assert kube.get("/apis/networking.k8s.io/v1/ingresses").body["kind"] == "IngressList"


def test_immutable_fields(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", deployment())
    moved = kube.get(f"{DEPLOYMENTS}/web").body
    moved["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    moved["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    expected = ['spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"x"}}: field is immutable']
    assert messages(kube.request("PUT", f"{DEPLOYMENTS}/web", moved)) == expected  # update
    patch = {"spec": {"selector": {"matchLabels": {"tier": "x"}},
                      "template": {"metadata": {"labels": {"tier": "x"}}}}}
    assert messages(kube.request("PATCH", f"{DEPLOYMENTS}/web", patch, MERGE)) == expected  # merge patch
    namespace(kube)
    create(kube, f"{SERVICES}/nlb", service("nlb", load_balancer_class="service.k8s.aws/nlb"))
    change = {"spec": {"loadBalancerClass": "example.com/other"}}
    assert messages(kube.request("PATCH", f"{SERVICES}/nlb", change, MERGE)) == [
        'spec.loadBalancerClass: Invalid value: "example.com/other": may not change once set']
    create(kube, f"{PVCS}/data", claim())
    bigger = [{"op": "replace", "path": "/spec/resources/requests/storage", "value": "2Gi"}]
    assert kube.request("PATCH", f"{PVCS}/data", bigger, JSON_PATCH).code == 200  # requests may change
    other_class = [{"op": "replace", "path": "/spec/storageClassName", "value": "io2"}]
    assert messages(kube.request("PATCH", f"{PVCS}/data", other_class, JSON_PATCH)) == [
        "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName "
        "for bound claims"]


# --- finalizers without AWS: deletions hang -------------------------------------------------------------------

def test_load_balancer_services_get_their_controllers_finalizers(kube: Kube) -> None:
    namespace(kube)
    created = create(kube, f"{SERVICES}/web", service("web"))
    create(kube, f"{SERVICES}/internal", service("internal", "ClusterIP"))
    create(kube, f"{SERVICES}/nlb", service("nlb", load_balancer_class="service.k8s.aws/nlb"))
    create(kube, f"{SERVICES}/legacy", service("legacy", annotations={
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}))
    create(kube, f"{SERVICES}/other", service("other", load_balancer_class="example.com/lb"))
    assert finalizers(kube, f"{SERVICES}/web") == [LB_CLEANUP]  # the cloud provider's service controller
    assert finalizers(kube, f"{SERVICES}/internal") == []
    assert finalizers(kube, f"{SERVICES}/nlb") == [LBC_SERVICE]  # the AWS Load Balancer Controller
    assert finalizers(kube, f"{SERVICES}/legacy") == [LB_CLEANUP, LBC_SERVICE]  # both: ImplementedElsewhere
    assert finalizers(kube, f"{SERVICES}/other") == []  # a class nobody here implements

    uid = created["metadata"]["uid"].replace("-", "")
    web = kube.wait_for(f"{SERVICES}/web", lambda r: hostname(r) is not None)
    assert hostname(web) is not None and hostname(web).startswith(f"a{uid}"[:32] + "-")  # type: ignore[union-attr]
    assert str(hostname(web)).endswith(f".{REGION}.elb.amazonaws.com")
    nlb = kube.wait_for(f"{SERVICES}/nlb", lambda r: hostname(r) is not None)
    assert str(hostname(nlb)).startswith("k8s-apps-nlb-") and f".elb.{REGION}." in str(hostname(nlb))
    assert kube.get(f"{SERVICES}/internal").body["status"] == {"loadBalancer": {}}
    conform(kube, "/api/v1/services")

    deleted = kube.delete(f"{SERVICES}/web")  # the object comes back, terminating
    assert deleted.code == 200 and deleted.body["kind"] == "Service"
    assert deleted.body["metadata"]["deletionTimestamp"] and deleted.body["metadata"]["finalizers"] == [LB_CLEANUP]
    kube.delete(f"{SERVICES}/nlb")
    assert kube.delete(f"{SERVICES}/internal").code == 200
    assert kube.get(f"{SERVICES}/internal").code == 404
    for name in ("web", "nlb"):  # no AWS: nobody can delete the load balancers, so nothing lets go
        assert stays(kube, f"{SERVICES}/{name}")["metadata"]["finalizers"]
    released = kube.request("PATCH", f"{SERVICES}/nlb", {"metadata": {"finalizers": None}}, MERGE)
    assert released.code == 200 and kube.get(f"{SERVICES}/nlb").code == 404  # a client may let go by hand
    kube.delete("/api/v1/namespaces/apps")
    time.sleep(READY_AFTER * 2)
    assert kube.get("/api/v1/namespaces/apps").body["status"]["phase"] == "Terminating"


def test_alb_ingresses_get_the_load_balancer_controllers_finalizer(kube: Kube) -> None:
    namespace(kube)
    create(kube, f"{INGRESS_CLASSES}/alb", ingress_class())
    create(kube, f"{INGRESS_CLASSES}/nginx", ingress_class("nginx", "k8s.io/ingress-nginx"))
    create(kube, f"{INGRESSES}/web", ingress("web"))
    create(kube, f"{INGRESSES}/annotated", ingress("annotated", None, {"kubernetes.io/ingress.class": "alb"}))
    grouped = ingress("grouped", annotations={"alb.ingress.kubernetes.io/group.name": "shop"})
    create(kube, f"{INGRESSES}/grouped", grouped)
    create(kube, f"{INGRESSES}/nginx", ingress("nginx", "nginx"))
    create(kube, f"{INGRESSES}/unknown", ingress("unknown", "missing"))  # no such IngressClass: not the LBC's
    create(kube, f"{INGRESSES}/overridden", ingress("overridden", "alb", {"kubernetes.io/ingress.class": "nginx"}))
    create(kube, f"{INGRESSES}/classless", ingress("classless", None))
    assert finalizers(kube, f"{INGRESSES}/web") == [LBC_INGRESS]
    assert finalizers(kube, f"{INGRESSES}/annotated") == [LBC_INGRESS]
    assert finalizers(kube, f"{INGRESSES}/grouped") == ["group.ingress.k8s.aws/shop"]
    for name in ("nginx", "unknown", "overridden", "classless"):
        assert finalizers(kube, f"{INGRESSES}/{name}") == [], name
    web = kube.wait_for(f"{INGRESSES}/web", lambda r: hostname(r) is not None)
    assert str(hostname(web)).startswith("k8s-apps-web-") and str(hostname(web)).endswith(".elb.amazonaws.com")
    assert kube.get(f"{INGRESSES}/nginx").body["status"] == {"loadBalancer": {}}
    conform(kube, INGRESSES, INGRESS_CLASSES)

    create(kube, f"{INGRESS_CLASSES}/default-alb", ingress_class("default-alb", default=True))
    defaulted = create(kube, f"{INGRESSES}/defaulted", ingress("defaulted", None))  # DefaultIngressClass admission
    assert defaulted["spec"]["ingressClassName"] == "default-alb"
    assert finalizers(kube, f"{INGRESSES}/defaulted") == [LBC_INGRESS]

    deleted = kube.delete(f"{INGRESSES}/web")
    assert deleted.body["metadata"]["deletionTimestamp"] and deleted.body["metadata"]["finalizers"] == [LBC_INGRESS]
    stays(kube, f"{INGRESSES}/web")
    kube.delete(f"{INGRESSES}/nginx")
    assert kube.get(f"{INGRESSES}/nginx").code == 404


def bind(kube: Kube, volume_id: str = "vol-0123456789abcdef0") -> None:
    """PV `pv-data` (EBS, reclaim Delete) pre-bound to PVC apps/data, and the claim: the PV controller binds them."""
    namespace(kube)
    create(kube, f"{PVS}/pv-data", volume("pv-data", volume_id))
    create(kube, f"{PVCS}/data", claim())
    kube.wait_for(f"{PVCS}/data", lambda r: r.body["status"]["phase"] == "Bound")


def test_claims_and_volumes_bind_and_are_protected(kube: Kube) -> None:
    bind(kube)
    pvc = kube.get(f"{PVCS}/data").body
    pv = kube.get(f"{PVS}/pv-data").body
    assert pvc["spec"]["volumeName"] == "pv-data"
    assert pvc["metadata"]["annotations"] == {"pv.kubernetes.io/bind-completed": "yes",
                                              "pv.kubernetes.io/bound-by-controller": "yes"}
    assert pvc["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    assert pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"] and pv["status"] == {"phase": "Bound"}
    assert pvc["metadata"]["finalizers"] == [PVC_PROTECTION]  # admission (StorageObjectInUseProtection)
    assert pv["metadata"]["finalizers"] == [PV_PROTECTION, PROVISIONER]  # and the CSI external-provisioner
    conform(kube, PVCS, PVS)
    listed = kube.get("/api/v1/persistentvolumeclaims").body["items"]
    assert [(c["metadata"]["namespace"], c["spec"]["volumeName"]) for c in listed] == [("apps", "pv-data")]

    create(kube, f"{PODS}/writer", pod_using("data"))
    deleted = kube.delete(f"{PVCS}/data")
    assert deleted.body["metadata"]["deletionTimestamp"] and deleted.body["metadata"]["finalizers"] == [
        PVC_PROTECTION]
    stays(kube, f"{PVCS}/data")  # a pod uses it
    kube.delete(f"{PODS}/writer")
    kube.wait_for(f"{PVCS}/data", gone)  # kube-controller-manager lets go; no AWS is needed for that
    released = kube.wait_for(f"{PVS}/pv-data", lambda r: r.body["status"]["phase"] == "Released")
    time.sleep(READY_AFTER * 3)  # but nothing can delete the EBS volume: the PV stays Released
    assert kube.get(f"{PVS}/pv-data").body["status"] == {"phase": "Released"}
    assert released.body["metadata"]["finalizers"] == [PV_PROTECTION, PROVISIONER]
    kube.delete(f"{PVS}/pv-data")
    assert stays(kube, f"{PVS}/pv-data")["metadata"]["finalizers"] == [PROVISIONER]

    create(kube, f"{PVS}/retained", volume("retained", "vol-1", None, "Retain"))
    create(kube, f"{PVCS}/by-name", claim("by-name", "retained"))  # a claim naming a free volume gets it
    kube.wait_for(f"{PVCS}/by-name", lambda r: r.body["status"]["phase"] == "Bound")
    assert finalizers(kube, f"{PVS}/retained") == [PV_PROTECTION]  # Retain: the provisioner keeps out


def test_unscheduled_pods_do_not_hold_a_claim(kube: Kube) -> None:
    namespace(kube)
    create(kube, f"{PVCS}/data", claim())
    create(kube, f"{PODS}/pending", pod_using("data", "pending", {"fakekube.eksscale.io/fail": "Unschedulable"}))
    kube.delete(f"{PVCS}/data")
    kube.wait_for(f"{PVCS}/data", gone)


# --- with the AWS emulator -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port_file = tmp_path_factory.mktemp("cloud-emulator") / "port"
    process = start_emulator(port_file)
    try:
        yield f"http://127.0.0.1:{int(port_file.read_text())}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def cloud_server(tmp_path_factory: pytest.TempPathFactory, emulator: str) -> Iterator[Kube]:
    directory = tmp_path_factory.mktemp("cloud-kube")
    process = start_server(directory / "port", "--aws-endpoint", emulator, "--cluster-name", CLUSTER,
                           "--aws-region", REGION)
    try:
        yield Kube("127.0.0.1", int((directory / "port").read_text()))
    finally:
        process.terminate()
        process.communicate(timeout=10)


class Aws:
    def __init__(self, endpoint: str) -> None:
        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                                aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x")
        self.ec2, self.elb, self.elbv2 = client("ec2"), client("elb"), client("elbv2")
        self.vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.0.{i}.0/24",
                                               AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
                        for i, zone in enumerate("ab")]

    def classic(self, name: str, tags: dict[str, str]) -> None:
        self.elb.create_load_balancer(LoadBalancerName=name, Subnets=self.subnets, **_tags(tags), Listeners=[
            {"Protocol": "TCP", "LoadBalancerPort": 80, "InstanceProtocol": "TCP", "InstancePort": 30080}])

    def classic_names(self) -> set[str]:
        return {lb["LoadBalancerName"] for lb in self.elb.describe_load_balancers()["LoadBalancerDescriptions"]}

    def v2(self, name: str, tags: dict[str, str], kind: str = "network") -> str:
        arn: str = self.elbv2.create_load_balancer(Name=name, Subnets=self.subnets, Type=kind,
                                                   **_tags(tags))["LoadBalancers"][0]["LoadBalancerArn"]
        protocol = "TCP" if kind == "network" else "HTTP"
        group = self.elbv2.create_target_group(Name=f"{name}-tg"[:32], Protocol=protocol, Port=80, VpcId=self.vpc,
                                               **_tags(tags))["TargetGroups"][0]["TargetGroupArn"]
        self.elbv2.create_listener(LoadBalancerArn=arn, Protocol=protocol, Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
        return arn

    def v2_names(self) -> set[str]:
        return {lb["LoadBalancerName"] for lb in self.elbv2.describe_load_balancers()["LoadBalancers"]}

    def target_group_names(self) -> set[str]:
        return {tg["TargetGroupName"] for tg in self.elbv2.describe_target_groups()["TargetGroups"]}

    def volume_ids(self) -> set[str]:
        return {v["VolumeId"] for v in self.ec2.describe_volumes()["Volumes"]}


def _tags(tags: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    """The `Tags` argument (which may not be empty)."""
    return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}


@pytest.fixture
def cloud(cloud_server: Kube, emulator: str) -> Iterator[tuple[Kube, Aws]]:
    urllib.request.urlopen(urllib.request.Request(f"{emulator}/moto-api/reset", method="POST"), timeout=10).close()
    assert cloud_server.request("POST", "/_fake/reset").code == 200
    namespace(cloud_server)
    yield cloud_server, Aws(emulator)


IN_TREE = {"kubernetes.io/service-name": "apps/web", f"kubernetes.io/cluster/{CLUSTER}": "owned"}


def test_the_service_controller_deletes_the_classic_elb_first(cloud: tuple[Kube, Aws]) -> None:
    kube, aws = cloud
    web = create(kube, f"{SERVICES}/web", service("web"))
    by_name = ("a" + web["metadata"]["uid"].replace("-", ""))[:32]
    aws.classic(by_name, {})  # found by name, as cloud-provider-aws does
    aws.classic("tagged", IN_TREE)  # or tagged as it tags them
    aws.classic("other-service", {**IN_TREE, "kubernetes.io/service-name": "apps/api"})
    aws.classic("other-cluster", {"kubernetes.io/service-name": "apps/web", "kubernetes.io/cluster/x": "owned"})
    assert finalizers(kube, f"{SERVICES}/web") == [LB_CLEANUP]
    assert kube.delete(f"{SERVICES}/web").body["metadata"]["finalizers"] == [LB_CLEANUP]
    assert kube.get(f"{SERVICES}/web").code == 200 and {by_name, "tagged"} <= aws.classic_names()
    kube.wait_for(f"{SERVICES}/web", gone)
    assert aws.classic_names() == {"other-service", "other-cluster"}  # only then did the Service go
    deleted = [a["name"] for a in kube.get("/_fake/aws").body["actions"] if a["action"] == "DeleteLoadBalancer"]
    assert sorted(deleted) == sorted([by_name, "tagged"])


def test_in_tree_nlb_and_the_load_balancer_controllers_nlb(cloud: tuple[Kube, Aws]) -> None:
    kube, aws = cloud
    create(kube, f"{SERVICES}/web", service("web", annotations={
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}))
    create(kube, f"{SERVICES}/api", service("api", load_balancer_class="service.k8s.aws/nlb"))
    aws.v2("in-tree", IN_TREE)
    stack = {"service.k8s.aws/stack": "apps/api", "elbv2.k8s.aws/cluster": CLUSTER}
    aws.v2("k8s-apps-api-0123456789", stack)
    aws.v2("k8s-apps-api-othercluster", {**stack, "elbv2.k8s.aws/cluster": "another"})
    aws.classic("classic-web", IN_TREE)  # an NLB Service's controller looks at ELBv2 only
    assert finalizers(kube, f"{SERVICES}/api") == [LBC_SERVICE]
    kube.delete(f"{SERVICES}/web")
    kube.delete(f"{SERVICES}/api")
    kube.wait_for(f"{SERVICES}/web", gone)
    kube.wait_for(f"{SERVICES}/api", gone)
    assert aws.v2_names() == {"k8s-apps-api-othercluster"}
    assert aws.target_group_names() == {"k8s-apps-api-othercluster-tg"}  # target groups went with them
    assert aws.classic_names() == {"classic-web"}


def test_leaving_type_load_balancer_deletes_the_load_balancer(cloud: tuple[Kube, Aws]) -> None:
    kube, aws = cloud
    create(kube, f"{SERVICES}/web", service("web"))
    aws.classic("tagged", IN_TREE)
    kube.wait_for(f"{SERVICES}/web", lambda r: hostname(r) is not None)
    assert kube.request("PATCH", f"{SERVICES}/web", {"spec": {"type": "ClusterIP"}}, MERGE).code == 200
    kube.wait_for(f"{SERVICES}/web", lambda r: not r.body["metadata"].get("finalizers"))
    assert aws.classic_names() == set() and kube.get(f"{SERVICES}/web").body["status"] == {"loadBalancer": {}}


def test_the_load_balancer_controller_deletes_albs_per_ingress_group(cloud: tuple[Kube, Aws]) -> None:
    kube, aws = cloud
    create(kube, f"{INGRESS_CLASSES}/alb", ingress_class())
    group = {"alb.ingress.kubernetes.io/group.name": "shop"}
    for name, annotations in (("web", None), ("cart", group), ("checkout", group)):
        create(kube, f"{INGRESSES}/{name}", ingress(name, annotations=annotations))
    aws.v2("k8s-apps-web", {"ingress.k8s.aws/stack": "apps/web", "elbv2.k8s.aws/cluster": CLUSTER}, "application")
    aws.v2("k8s-shop", {"ingress.k8s.aws/stack": "shop", "elbv2.k8s.aws/cluster": CLUSTER}, "application")
    kube.delete(f"{INGRESSES}/web")
    kube.delete(f"{INGRESSES}/cart")
    kube.wait_for(f"{INGRESSES}/web", gone)
    kube.wait_for(f"{INGRESSES}/cart", gone)  # it leaves the group; the group keeps its ALB
    assert aws.v2_names() == {"k8s-shop"}
    kube.delete(f"{INGRESSES}/checkout")  # the last member takes the ALB with it
    kube.wait_for(f"{INGRESSES}/checkout", gone)
    assert aws.v2_names() == set() and aws.target_group_names() == set()


def test_the_ebs_csi_driver_deletes_a_released_volume(cloud: tuple[Kube, Aws]) -> None:
    kube, aws = cloud
    volume_id = aws.ec2.create_volume(Size=1, AvailabilityZone=f"{REGION}a", VolumeType="gp3")["VolumeId"]
    bind(kube, volume_id)
    create(kube, f"{PODS}/writer", pod_using("data"))
    kube.delete(f"{PVCS}/data")
    stays(kube, f"{PVCS}/data")
    assert volume_id in aws.volume_ids()
    kube.delete(f"{PODS}/writer")
    kube.wait_for(f"{PVCS}/data", gone)
    kube.wait_for(f"{PVS}/pv-data", gone)  # the volume first, then the PV
    assert volume_id not in aws.volume_ids()
    assert [a for a in kube.get("/_fake/aws").body["actions"] if a["action"] == "DeleteVolume"][0]["result"] == \
        "Deleted"


def test_an_attached_volume_is_retried_until_detached(cloud: tuple[Kube, Aws]) -> None:
    kube, aws = cloud
    instance = aws.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                     SubnetId=aws.subnets[0])["Instances"][0]["InstanceId"]
    volume_id = aws.ec2.create_volume(Size=1, AvailabilityZone=f"{REGION}a")["VolumeId"]
    aws.ec2.attach_volume(VolumeId=volume_id, InstanceId=instance, Device="/dev/sdf")
    bind(kube, volume_id)
    kube.delete(f"{PVCS}/data")
    kube.wait_for(f"{PVCS}/data", gone)
    # VolumeInUse: the PV stays Released (hooks run no controllers, so poll the PV)
    kube.wait_for(f"{PVS}/pv-data", lambda _: kube.get("/_fake/aws").body["failures"] > 0)
    pv = kube.get(f"{PVS}/pv-data").body
    assert pv["status"]["phase"] == "Released" and PROVISIONER in pv["metadata"]["finalizers"]
    assert "VolumeInUse" in kube.get("/_fake/aws").body["actions"][-1]["error"]
    aws.ec2.detach_volume(VolumeId=volume_id, InstanceId=instance, Device="/dev/sdf")
    kube.wait_for(f"{PVS}/pv-data", gone)
    assert volume_id not in aws.volume_ids()


def test_a_namespace_waits_for_its_load_balancers(cloud: tuple[Kube, Aws]) -> None:
    kube, aws = cloud
    create(kube, f"{SERVICES}/web", service("web"))
    aws.classic("tagged", IN_TREE)
    kube.delete("/api/v1/namespaces/apps")
    kube.wait_for("/api/v1/namespaces/apps", gone)
    assert aws.classic_names() == set()


def test_unreachable_aws_keeps_the_finalizers(tmp_path: Path) -> None:
    process = start_server(tmp_path / "port", "--aws-endpoint", "http://127.0.0.1:9", "--cluster-name", CLUSTER)
    try:
        kube = Kube("127.0.0.1", int((tmp_path / "port").read_text()))
        namespace(kube)
        create(kube, f"{SERVICES}/web", service("web"))
        kube.delete(f"{SERVICES}/web")
        assert stays(kube, f"{SERVICES}/web")["metadata"]["finalizers"] == [LB_CLEANUP]
        report = kube.get("/_fake/aws").body
        assert report["failures"] >= 1 and report["endpoint"] == "http://127.0.0.1:9"
        assert report["actions"][-1]["action"] == "Failed"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_aws_endpoint_needs_a_cluster_name(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="--aws-endpoint needs --cluster-name"):
        start_server(tmp_path / "port", "--aws-endpoint", "http://127.0.0.1:9")


def test_tags_leave_out_load_balancers_deleted_after_the_listing(cloud: tuple[Kube, Aws], emulator: str) -> None:
    """DescribeTags fails as a whole for a name or ARN deleted since the listing (the emulator's rule 12, as AWS
    does), which another cluster's controller or a test's ``down`` may do at any moment: the controllers read that
    batch one at a time and leave the gone ones out, instead of failing the whole pass."""
    _, aws = cloud
    reader = AwsCloud(emulator, REGION)
    aws.classic("kept", IN_TREE)
    aws.classic("gone", IN_TREE)
    kept, gone = aws.v2("kept-v2", IN_TREE), aws.v2("gone-v2", IN_TREE)
    aws.elb.delete_load_balancer(LoadBalancerName="gone")
    aws.elbv2.delete_load_balancer(LoadBalancerArn=gone)
    classic = reader._tags("elb:DescribeTags", ["kept", "gone"], "LoadBalancerName",
                           lambda batch: reader.client("elb").describe_tags(LoadBalancerNames=batch))
    assert classic == {"kept": IN_TREE}
    v2 = reader._tags("elbv2:DescribeTags", [kept, gone], "ResourceArn",
                      lambda batch: reader.client("elbv2").describe_tags(ResourceArns=batch))
    assert v2 == {kept: IN_TREE}
    assert reader.failures == 0
