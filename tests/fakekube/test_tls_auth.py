"""HTTPS with a per-run CA (--tls-dir) and EKS token authentication (--auth aws-iam) against the AWS emulator."""

from __future__ import annotations

import base64
import datetime
import signal
import socket
import ssl
from pathlib import Path
from typing import Iterator
from unittest import mock

import boto3
import pytest
from moto.server import ThreadedMotoServer

from harness import eks_token, start_emulator, start_server
from kubeclient import Kube

CLUSTER, REGION = "demo", "eu-west-1"
UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
                "reason": "Unauthorized", "code": 401}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port_file = tmp_path_factory.mktemp("emulator") / "port"
    process = start_emulator(port_file)
    try:
        yield f"http://127.0.0.1:{int(port_file.read_text())}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def tls_context(tls_dir: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))


@pytest.fixture(scope="module")
def eks_kube(tmp_path_factory: pytest.TempPathFactory, emulator: str) -> Iterator[tuple[Kube, Path]]:
    """fakekube as an EKS endpoint: HTTPS, EKS tokens verified against the emulator's STS."""
    directory = tmp_path_factory.mktemp("eks-kube")
    process = start_server(directory / "port", "--tls-dir", str(directory / "tls"), "--auth", "aws-iam",
                           "--sts-endpoint", emulator, "--cluster-name", CLUSTER, "--verbose")
    try:
        yield Kube("127.0.0.1", int((directory / "port").read_text()), tls_context(directory / "tls")), directory
    finally:
        process.terminate()
        process.communicate(timeout=10)


def with_token(kube: Kube, token: str | None) -> Kube:
    return Kube(kube.host, kube.port, kube.tls, token)


def test_tls_serves_a_certificate_for_loopback_signed_by_the_published_ca(tmp_path: Path) -> None:
    process = start_server(tmp_path / "port", "--tls-dir", str(tmp_path / "tls"))
    try:
        port = int((tmp_path / "port").read_text())
        pem = (tmp_path / "tls" / "ca.crt").read_bytes()
        assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
        assert base64.b64decode((tmp_path / "tls" / "ca.b64").read_text()) == pem  # certificateAuthority.data
        context = tls_context(tmp_path / "tls")
        for host in ("127.0.0.1", "localhost"):  # both subjectAltNames verify
            assert Kube(host, port, context).get("/version").code == 200
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            peer = tls.getpeercert()
        assert peer is not None
        names = peer["subjectAltName"]
        assert ("IP Address", "127.0.0.1") in names and ("DNS", "localhost") in names
        with pytest.raises(ssl.SSLCertVerificationError):  # the system trust store does not know the test CA
            Kube("127.0.0.1", port, ssl.create_default_context()).get("/version")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_every_run_makes_a_new_ca(tmp_path: Path) -> None:
    pems = []
    for run in ("one", "two"):
        process = start_server(tmp_path / run / "port", "--tls-dir", str(tmp_path / run / "tls"))
        process.terminate()
        process.communicate(timeout=10)
        pems.append((tmp_path / run / "tls" / "ca.crt").read_bytes())
    assert pems[0] != pems[1]


def test_an_eks_token_made_like_aws_eks_get_token_is_accepted(eks_kube: tuple[Kube, Path], emulator: str) -> None:
    kube, _ = eks_kube
    kube.request("POST", "/_fake/reset")
    iam = boto3.client("iam", region_name=REGION, endpoint_url=emulator, aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                       aws_secret_access_key="x")
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    token = eks_token(REGION, CLUSTER, key["AccessKeyId"], key["SecretAccessKey"])
    reply = with_token(kube, token).get("/api/v1/namespaces")
    assert reply.code == 200 and reply.body["kind"] == "NamespaceList"
    whoami = with_token(kube, token).request(
        "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    user = whoami.body["status"]["userInfo"]
    assert whoami.code == 201 and user["username"] == "arn:aws:iam::123456789012:user/alice"
    assert user["extra"]["accessKeyId"] == [key["AccessKeyId"]] and "system:authenticated" in user["groups"]
    assert kube.requests()["eksTokens"] == {"valid": 2, "rejected": 0}


def _reencoded(token: str, change: tuple[str, str]) -> str:
    body = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().replace(*change)
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def test_bad_missing_and_expired_tokens_get_kube_apiservers_401(eks_kube: tuple[Kube, Path]) -> None:
    kube, directory = eks_kube
    kube.request("POST", "/_fake/reset")
    good = eks_token(REGION, CLUSTER)
    with mock.patch("botocore.auth.get_current_datetime",
                    return_value=datetime.datetime.utcnow() - datetime.timedelta(minutes=16)):
        expired = eks_token(REGION, CLUSTER)
    tokens = {
        "missing": None,
        "not EKS": "sekret-not-a-token",
        "bad base64": "k8s-aws-v1.***",
        "expired": expired,
        "cluster header not signed": eks_token(REGION, CLUSTER, sign_cluster=False),
        "http": _reencoded(good, ("https://", "http://")),
        "not STS": _reencoded(good, ("sts.eu-west-1.amazonaws.com", "sts.eu-west-1.example.com")),
        "other action": _reencoded(good, ("Action=GetCallerIdentity", "Action=AssumeRole")),
        "long expiry": _reencoded(good, ("X-Amz-Expires=60", "X-Amz-Expires=901")),
        "extra parameter": _reencoded(good, ("Action=", "Extra=1&Action=")),
    }
    for why, token in tokens.items():
        reply = with_token(kube, token).get("/api/v1/namespaces")
        assert (reply.code, reply.body) == (401, UNAUTHORIZED), why
    basic = kube.request("GET", "/version", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.code == 401
    stats = kube.requests()
    assert stats["eksTokens"] == {"valid": 0, "rejected": len(tokens) + 1}
    assert with_token(kube, good).get("/version").code == 200


def test_tokens_are_never_logged(tmp_path: Path, emulator: str) -> None:
    process = start_server(tmp_path / "port", "--auth", "aws-iam", "--sts-endpoint", emulator,
                           "--cluster-name", CLUSTER, "--verbose")
    token = eks_token(REGION, CLUSTER)
    kube = Kube("127.0.0.1", int((tmp_path / "port").read_text()))
    assert with_token(kube, token).get("/api").code == 200
    assert with_token(kube, token.replace("k8s-aws-v1.", "k8s-aws-v2.")).get("/api").code == 401
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert "GET /api -> 401" in stderr and token.removeprefix("k8s-aws-v1.")[:40] not in stderr


def test_verified_tokens_are_cached_for_a_few_seconds(tmp_path: Path) -> None:
    sts = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    sts.start()
    host, port = sts.get_host_and_port()
    process = start_server(tmp_path / "port", "--auth", "aws-iam", "--sts-endpoint", f"http://{host}:{port}",
                           "--cluster-name", CLUSTER)
    try:
        kube = Kube("127.0.0.1", int((tmp_path / "port").read_text()))
        seen, fresh = eks_token(REGION, CLUSTER), eks_token(REGION, CLUSTER, access_key="AKIAOTHER0000EXAMPLE")
        assert with_token(kube, seen).get("/api").code == 200
        sts.stop()  # STS gone: only the cached verification can let a request in
        assert with_token(kube, seen).get("/api").code == 200
        assert with_token(kube, fresh).get("/api").code == 401
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_aws_iam_needs_an_sts_endpoint_and_cluster_name(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="--sts-endpoint and --cluster-name"):
        start_server(tmp_path / "port", "--auth", "aws-iam")
