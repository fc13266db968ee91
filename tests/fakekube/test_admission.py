"""What happens on the way in: validation messages, the EKS pod identity webhook, access reviews and
injected request failures."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from harness import start_emulator, start_server
from kubeclient import MERGE, Kube
from test_fakekube import CONFIGMAPS, DEPLOYMENTS, PODS, available, configmap, deployment

SERVICE_ACCOUNTS = "/api/v1/namespaces/default/serviceaccounts"
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
CAN_I = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
         "spec": {"resourceAttributes": {"verb": "create", "group": "apps", "resource": "deployments",
                                         "namespace": "keda"}}}


# --- validation ------------------------------------------------------------------------------------------

def messages(reply: Any) -> list[str]:
    assert (reply.code, reply.reason) == (422, "Invalid"), reply.body
    return [f"{c['field']}: {c['message']}" for c in reply.body["details"]["causes"]]


def test_labels_and_annotations_are_validated_like_apimachinery(kube: Kube) -> None:
    long_value = "v" * 64
    reply = kube.request("POST", CONFIGMAPS, configmap("a", {"app": long_value}))
    assert messages(reply) == [f'metadata.labels: Invalid value: "{long_value}": must be no more than 63 characters']
    reply = kube.request("POST", CONFIGMAPS, configmap("a", {"bad key!": "x"}))
    assert messages(reply) == [
        "metadata.labels: Invalid value: \"bad key!\": name part must consist of alphanumeric characters, '-', '_' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
        "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]
    reply = kube.request("POST", CONFIGMAPS, configmap("a", {"app": "-x"}))
    assert "a valid label must be an empty string or consist of alphanumeric characters" in messages(reply)[0]
    upper = configmap("a", metadata={"annotations": {"Example.COM/Note": "fine"}})  # keys checked lower-cased
    assert kube.request("POST", CONFIGMAPS, upper).code == 201
    huge = configmap("b", metadata={"annotations": {"big": "x" * (256 * 1024)}})
    assert messages(kube.request("POST", CONFIGMAPS, huge)) == [
        "metadata.annotations: Too long: may not be more than 262144 bytes"]


def test_a_deployment_selector_is_immutable_and_must_match_its_template(kube: Kube) -> None:
    kube.apply(f"{DEPLOYMENTS}/web", deployment())
    moved = deployment()
    moved["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    moved["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    reply = kube.apply(f"{DEPLOYMENTS}/web", moved)
    assert messages(reply) == [
        'spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"x"}}: field is immutable']
    assert reply.body["message"].startswith('Deployment.apps "web" is invalid: spec.selector: Invalid value:')
    mismatched = deployment("other")
    mismatched["spec"]["template"]["metadata"]["labels"] = {"app": "else"}
    assert messages(kube.apply(f"{DEPLOYMENTS}/other", mismatched)) == [
        'spec.template.metadata.labels: Invalid value: {"app":"else"}: `selector` does not match template `labels`']


# --- the pod identity webhook --------------------------------------------------------------------------

def env_of(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0].get("env", [])}


def pods_of(kube: Kube, app: str = "web") -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = kube.get(PODS, labelSelector=f"app={app}").body["items"]
    return pods


def with_service_account(name: str, account: str) -> dict[str, Any]:
    obj = deployment(name, 1)
    obj["spec"]["template"]["spec"]["serviceAccountName"] = account
    return obj


def service_account(name: str, role: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if role:
        metadata["annotations"] = {ROLE_ANNOTATION: role}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def test_irsa_is_injected_at_pod_creation_only(kube: Kube) -> None:
    first, second = "arn:aws:iam::123456789012:role/first", "arn:aws:iam::123456789012:role/second"
    kube.apply(f"{SERVICE_ACCOUNTS}/runner", service_account("runner", first))
    kube.apply(f"{DEPLOYMENTS}/web", with_service_account("web", "runner"))
    (pod,) = pods_of(kube)
    assert env_of(pod) == {"AWS_ROLE_ARN": first, "AWS_STS_REGIONAL_ENDPOINTS": "regional",
                           "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"}
    mount = {"name": "aws-iam-token", "readOnly": True,
             "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount"}
    assert mount in pod["spec"]["containers"][0]["volumeMounts"]
    assert any(v["name"] == "aws-iam-token" for v in pod["spec"]["volumes"])

    kube.apply(f"{SERVICE_ACCOUNTS}/runner", service_account("runner", second))
    (unchanged,) = pods_of(kube)  # a running pod keeps what it was created with
    assert unchanged["metadata"]["uid"] == pod["metadata"]["uid"] and env_of(unchanged)["AWS_ROLE_ARN"] == first
    restart = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}}  # what `kubectl rollout restart` sends
    kube.request("PATCH", f"{DEPLOYMENTS}/web", restart, MERGE)
    kube.wait_for(f"{DEPLOYMENTS}/web", lambda r: r.body["status"].get("replicas") == 1 and available(r))
    (restarted,) = pods_of(kube)
    assert env_of(restarted)["AWS_ROLE_ARN"] == second


def test_a_pod_identity_association_registered_by_the_hook_is_injected(kube: Kube) -> None:
    association = {"namespace": "default", "serviceAccount": "runner",
                   "roleArn": "arn:aws:iam::123456789012:role/keda"}
    assert kube.request("POST", "/_fake/pod-identity-associations", association).code == 201
    assert kube.get("/_fake/pod-identity-associations").body["items"] == [association]
    assert kube.request("POST", "/_fake/pod-identity-associations", {"namespace": "x"}).code == 400
    kube.apply(f"{SERVICE_ACCOUNTS}/runner", service_account("runner", None))
    kube.apply(f"{DEPLOYMENTS}/web", with_service_account("web", "runner"))
    kube.apply(f"{DEPLOYMENTS}/plain", deployment("plain", 1))  # the default service account: no association
    (pod,) = pods_of(kube)
    assert env_of(pod) == {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE":
            "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"}
    assert env_of(pods_of(kube, "plain")[0]) == {}
    kube.request("POST", "/_fake/reset")
    assert kube.get("/_fake/pod-identity-associations").body["items"] == []


@pytest.fixture
def emulated_eks(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The AWS emulator with an EKS cluster `demo` in eu-central-1."""
    process = start_emulator(tmp_path / "emulator-port")
    endpoint = f"http://127.0.0.1:{int((tmp_path / 'emulator-port').read_text())}"
    try:
        def client(service: str) -> Any:
            return boto3.client(service, region_name="eu-central-1", endpoint_url=endpoint,
                                aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x")
        ec2 = client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                     AvailabilityZone=f"eu-central-1{zone}")["Subnet"]["SubnetId"]
                   for i, zone in enumerate("ab")]
        eks = client("eks")
        eks.create_cluster(name="demo", roleArn="arn:aws:iam::123456789012:role/eks",
                           resourcesVpcConfig={"subnetIds": subnets})
        yield endpoint, eks
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_pod_identity_associations_are_looked_up_in_eks(tmp_path: Path, emulated_eks: tuple[str, Any]) -> None:
    endpoint, eks = emulated_eks
    process = start_server(tmp_path / "port", "--eks-endpoint", endpoint, "--cluster-name", "demo",
                           "--aws-region", "eu-central-1")
    try:
        kube = Kube("127.0.0.1", int((tmp_path / "port").read_text()))
        kube.apply(f"{SERVICE_ACCOUNTS}/runner", service_account("runner", None))
        kube.apply(f"{DEPLOYMENTS}/before", with_service_account("before", "runner"))
        eks.create_pod_identity_association(clusterName="demo", namespace="default", serviceAccount="runner",
                                            roleArn="arn:aws:iam::123456789012:role/keda")
        kube.apply(f"{DEPLOYMENTS}/after", with_service_account("after", "runner"))
        assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in env_of(pods_of(kube, "before")[0])
        assert env_of(pods_of(kube, "after")[0])["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == \
            "http://169.254.170.23/v1/credentials"
    finally:
        process.terminate()
        process.communicate(timeout=10)


# --- access reviews ---------------------------------------------------------------------------------------

def test_self_subject_access_reviews_allow_and_are_discoverable(kube: Kube) -> None:
    reply = kube.request("POST", SSAR, CAN_I)
    assert reply.code == 201 and reply.body["status"] == {"allowed": True}
    assert reply.body["spec"] == CAN_I["spec"] and reply.body["kind"] == "SelfSubjectAccessReview"
    resources = {r["name"]: r for r in kube.get("/apis/authorization.k8s.io/v1").body["resources"]}
    assert resources["selfsubjectaccessreviews"]["verbs"] == ["create"]
    assert resources["selfsubjectaccessreviews"]["namespaced"] is False
    assert "authorization.k8s.io" in [g["name"] for g in kube.get("/apis").body["groups"]]
    assert kube.get(SSAR).code == 405
    empty = kube.request("POST", SSAR, {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                        "spec": {}})
    assert messages(empty) == ["spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes "
                               "or resourceAttributes must be specified"]


def test_deny_for_makes_access_reviews_lag(tmp_path: Path, kube: Kube) -> None:
    process = start_server(tmp_path / "port", "--deny-for", "1.5")
    try:
        lagging = Kube("127.0.0.1", int((tmp_path / "port").read_text()))
        denied = lagging.request("POST", SSAR, CAN_I).body["status"]
        assert denied["allowed"] is False and "access policy" in denied["reason"]
        lagging.wait_for("/version", lambda r: lagging.request("POST", SSAR, CAN_I).body["status"]["allowed"])
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert kube.request("POST", "/_fake/deny-for", {"seconds": 30}).code == 200  # the hook, on the shared server
    assert kube.request("POST", SSAR, CAN_I).body["status"]["allowed"] is False
    assert kube.request("POST", "/_fake/deny-for", {"seconds": 0}).code == 200
    assert kube.request("POST", SSAR, CAN_I).body["status"]["allowed"] is True


# --- injected failures ------------------------------------------------------------------------------------

def test_faults_answer_500_503_or_reset(kube: Kube) -> None:
    assert kube.request("POST", "/_fake/faults", {"rate": 1, "kinds": ["500"]}).code == 200
    reply = kube.get(CONFIGMAPS)
    assert (reply.code, reply.reason, reply.body["message"]) == (500, "InternalError",
                                                                 "Internal error occurred: fakekube: injected fault")
    kube.request("POST", "/_fake/faults", {"rate": 1, "kinds": ["503"]})
    assert (kube.get(CONFIGMAPS).code, kube.get(CONFIGMAPS).reason) == (503, "ServiceUnavailable")
    kube.request("POST", "/_fake/faults", {"rate": 1, "kinds": ["reset"]})
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        kube.get(CONFIGMAPS)
    kube.request("POST", "/_fake/faults", {"rate": 1, "kinds": ["500", "503"], "reads_only": True})
    assert kube.apply(f"{CONFIGMAPS}/written", configmap("written")).code == 201  # writes go through
    assert kube.get(f"{CONFIGMAPS}/written").code in (500, 503)
    assert kube.request("POST", "/_fake/faults", {"rate": 2}).code == 400
    assert kube.request("POST", "/_fake/faults", {"rate": 0}).code == 200
    assert kube.get(f"{CONFIGMAPS}/written").code == 200
    faults = kube.requests()["faults"]
    assert faults["500"] + faults["503"] == 4 and faults["reset"] == 1
    kube.request("POST", "/_fake/faults", {"rate": 1, "kinds": ["500"]})
    kube.request("POST", "/_fake/reset")  # a reset restores the command line's (no) faults
    assert kube.get(CONFIGMAPS).code == 200


def test_fail_rate_from_the_command_line(tmp_path: Path) -> None:
    process = start_server(tmp_path / "port", "--fail-rate", "0.5", "--fail-kinds", "503", "--fail-seed", "7")
    try:
        kube = Kube("127.0.0.1", int((tmp_path / "port").read_text()))
        codes = [kube.get("/api").code for _ in range(40)]
        assert set(codes) == {200, 503} and 8 < codes.count(503) < 32
        assert kube.requests()["faults"]["503"] == codes.count(503)
        assert kube.get("/_fake/faults").body == {"rate": 0.5, "kinds": ["503"], "reads_only": False}
    finally:
        process.terminate()
        process.communicate(timeout=10)
